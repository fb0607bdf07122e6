#pragma once
// The read API: the device-to-cloud stream as stored, over HTTPS (docs/formats/read-api.md).
//   GET /telemetry/partitions                      partition ids and their sequence ranges
//   GET /telemetry/partitions/{p}/messages?from=N|fromEnqueuedTime=T|consumerGroup=G&max=M&waitMs=W
// from an offset, an enqueued time, or a consumer group's checkpoint; up to M messages (default
// 100, at most 1000), waiting up to W ms (at most 10,000) for the first one. The wait holds no
// thread: the answer comes when a commit brings a message, at the deadline, or at once when the
// hub becomes Inaccessible (TelemetryStore::WakeWaiters).
//   GET|PUT|DELETE /telemetry/consumergroups[/{g}]             consumer groups
//   GET|PUT /telemetry/consumergroups/{g}/partitions/{p}/checkpoint
// Service SAS with ServiceConnect. Thread-safe.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/hub_metrics.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"
#include "net/https_server.h"

namespace coffre::hubapi {

class ReadApi {
 public:
  // Checked again when a long poll wakes: the refusal to answer instead (the hub's keys became
  // inaccessible meanwhile), or nullopt.
  using Refusal = std::function<std::optional<net::HttpResponse>()>;

  // store, groups and policies must outlive the API, and every answer it sends later (stop the
  // HTTPS server first).
  ReadApi(hub::TelemetryStore& store, hub::ConsumerGroups& groups, hub::AccessPolicies& policies,
          Refusal refusal = nullptr)
      : store_(store), groups_(groups), policies_(policies), refusal_(std::move(refusal)) {}

  // False if the request is not for this API; else it is answered through `respond`, now or,
  // for a long poll, later.
  bool Handle(const net::HttpRequest& request, const net::HttpResponder& respond);
  // Counts the messages served (null: none); `traffic` must outlive the API.
  void CountIn(hub::ProtocolMetrics* traffic) { traffic_ = traffic; }

 private:
  std::optional<net::HttpResponse> Route(const std::vector<std::string>& seg,
                                         const net::HttpRequest& request,
                                         const net::HttpResponder& respond);
  net::HttpResponse Partitions();
  // The answer now, or nullopt once a long poll was set up to answer through `respond`.
  std::optional<net::HttpResponse> Messages(int partition, const net::HttpRequest& request,
                                            const net::HttpResponder& respond);
  net::HttpResponse Page(int partition, uint64_t start, size_t max);
  net::HttpResponse Groups(const std::vector<std::string>& path, const net::HttpRequest& request);
  net::HttpResponse Checkpoint(const std::string& group, int partition,
                               const net::HttpRequest& request);
  int PartitionId(std::string_view text) const;  // -1 if no such partition

  hub::TelemetryStore& store_;
  hub::ConsumerGroups& groups_;
  hub::AccessPolicies& policies_;
  Refusal refusal_;
  hub::ProtocolMetrics* traffic_ = nullptr;
};

}  // namespace coffre::hubapi
