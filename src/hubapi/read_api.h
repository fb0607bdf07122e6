#pragma once
// The read API: the device-to-cloud stream as stored, over HTTPS (docs/formats/read-api.md).
//   GET /telemetry/partitions                      partition ids and their sequence ranges
//   GET /telemetry/partitions/{p}/messages?from=N|fromEnqueuedTime=T|consumerGroup=G&max=M&waitMs=W
// from an offset, an enqueued time, or a consumer group's checkpoint; up to M messages (default
// 100, at most 1000), waiting up to W ms (at most 10,000) for the first one.
//   GET|PUT|DELETE /telemetry/consumergroups[/{g}]             consumer groups
//   GET|PUT /telemetry/consumergroups/{g}/partitions/{p}/checkpoint
// Service SAS with ServiceConnect. Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class ReadApi {
 public:
  // store, groups and policies must outlive the API.
  ReadApi(hub::TelemetryStore& store, hub::ConsumerGroups& groups, hub::AccessPolicies& policies)
      : store_(store), groups_(groups), policies_(policies) {}

  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  net::HttpResponse Partitions();
  net::HttpResponse Messages(int partition, const net::HttpRequest& request);
  net::HttpResponse Groups(const std::vector<std::string>& path, const net::HttpRequest& request);
  net::HttpResponse Checkpoint(const std::string& group, int partition,
                               const net::HttpRequest& request);
  int PartitionId(std::string_view text) const;  // -1 if no such partition

  hub::TelemetryStore& store_;
  hub::ConsumerGroups& groups_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
