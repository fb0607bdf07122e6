#include "hubapi/storage_api.h"

#include <nlohmann/json.hpp>

#include "hubapi/service_api.h"
#include "hubapi/verify_api.h"

namespace coffre::hubapi {

using nlohmann::json;

std::optional<net::HttpResponse> StorageApi::Handle(const net::HttpRequest& request) {
  if (!ServiceApi::IsCoffrePath(request.target, "storage")) return std::nullopt;
  if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  (void)disk_.Check(0);  // a fresh look (and the log line, if the disk just filled or emptied)
  json partitions = json::array();
  for (int p = 0; p < store_.partitions(); ++p) {
    json part = {{"id", std::to_string(p)},
                 {"begin", store_.begin_sequence(p)},
                 {"end", store_.end_sequence(p)}};
    Result<std::vector<hub::IntegrityBreak>> breaks = store_.Breaks(p);
    if (breaks.has_value()) {
      part["breaks"] = BreaksJson(*breaks);
    } else {
      part["breaksUnknown"] = breaks.error().message();
    }
    partitions.push_back(part);
  }
  json metadata;
  if (Result<std::vector<hub::MetadataBreak>> found = metadata_.Check(); found.has_value()) {
    metadata = {{"breaks", BreaksJson(*found)}};
  } else {
    metadata = {{"breaksUnknown", found.error().message()}};
  }
  std::optional<std::string> write_error = metadata_store_.write_error();
  metadata["writable"] = !write_error.has_value();
  if (write_error) metadata["writeError"] = *write_error;
  json body = {{"disk",
                {{"path", disk_.dir().string()},
                 {"freeBytes", disk_.free_bytes()},
                 {"reserveBytes", disk_.reserve_bytes()},
                 {"full", disk_.full()}}},
               {"partitions", partitions},
               {"metadata", metadata}};
  net::HttpResponse r;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace coffre::hubapi
