#pragma once
// Verifying the stored telemetry over HTTPS (`coffre hub verify`):
//   POST /$coffre/verify[?partition=N]   service SAS with ServiceConnect
//   -> {"ok": bool, "partitions": [{"id", "first", "end", "anchored", "headEnd",
//       "recordsChecked", "recordsErased", "breaks": [{"from", "to", "what"}]}],
//       "metadata": {"reanchored": bool, "breaks": [{"table", "what"}]}}
// Every record of each partition is read, opened and followed along its chain, and the log is
// compared with its sealed head (hub/telemetry_store.h). "ok" is false if any break is found or
// a partition holding records has no sealed head. "metadata": every table of sealed rows read
// again and compared with its digest (hub/row_digests.h); a break there makes "ok" false too. It reads everything: check the request with
// Refusal() on the io thread (so that no unauthorized request waits in a queue), then Run() it
// off the io threads. Thread-safe.

#include <atomic>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "hub/access_policies.h"
#include "hub/row_digests.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"

namespace coffre::hubapi {

// [{"from", "to", "what"}], as the verify and storage routes answer them.
nlohmann::json BreaksJson(const std::vector<hub::IntegrityBreak>& breaks);
// [{"table", "what"}], the same for the metadata tables.
nlohmann::json BreaksJson(const std::vector<hub::MetadataBreak>& breaks);

class VerifyApi {
 public:
  // Everything must outlive the API.
  VerifyApi(hub::TelemetryStore& store, hub::RowDigests& metadata, hub::AccessPolicies& policies)
      : store_(store), metadata_(metadata), policies_(policies) {}

  static bool Matches(const net::HttpRequest& request);
  // The answer for a request that may not run (method, credentials, parameters), or nullopt.
  std::optional<net::HttpResponse> Refusal(const net::HttpRequest& request);
  // Verifies what the request asks for (Refusal() said nullopt).
  net::HttpResponse Run(const net::HttpRequest& request);
  // Ends a running verification soon (503) and every later one at once: the hub is stopping.
  void Stop() { stopping_ = true; }

 private:
  // The partitions [from, to) the query names, or the error to answer.
  std::optional<net::HttpResponse> Partitions(const net::HttpRequest& request, int& from, int& to) const;

  hub::TelemetryStore& store_;
  hub::RowDigests& metadata_;
  hub::AccessPolicies& policies_;
  std::atomic<bool> stopping_{false};
};

}  // namespace coffre::hubapi
