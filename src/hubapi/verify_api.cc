#include "hubapi/verify_api.h"

#include <nlohmann/json.hpp>

#include "common/numbers.h"
#include "common/strings.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {
using nlohmann::json;

json BreaksJson(const std::vector<hub::IntegrityBreak>& breaks) {
  json list = json::array();
  for (const hub::IntegrityBreak& b : breaks) {
    list.push_back({{"from", b.from}, {"to", b.to}, {"what", b.what}});
  }
  return list;
}

json BreaksJson(const std::vector<hub::MetadataBreak>& breaks) {
  json list = json::array();
  for (const hub::MetadataBreak& b : breaks) list.push_back({{"table", b.table}, {"what", b.what}});
  return list;
}

bool VerifyApi::Matches(const net::HttpRequest& request) {
  return ServiceApi::IsCoffrePath(request.target, "verify");
}

std::optional<net::HttpResponse> VerifyApi::Partitions(const net::HttpRequest& request, int& from,
                                                        int& to) const {
  from = 0;
  to = store_.partitions();
  std::string_view target = request.target;
  size_t q = target.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  for (std::string_view param : Split(query, '&')) {
    constexpr std::string_view kPartition = "partition=";
    if (param.empty() || param.substr(0, 12) == "api-version=") continue;
    std::optional<uint64_t> p;
    if (param.substr(0, kPartition.size()) == kPartition && param.size() <= kPartition.size() + 2) {
      p = ParseUnsigned(param.substr(kPartition.size()));
    }
    if (!p || *p >= static_cast<uint64_t>(store_.partitions())) {
      return ServiceApi::Error(400, "ArgumentInvalid",
                               "The parameters are api-version and partition=N, N from 0 to " +
                                   std::to_string(store_.partitions() - 1) + ".");
    }
    from = static_cast<int>(*p);
    to = from + 1;
  }
  return std::nullopt;
}

std::optional<net::HttpResponse> VerifyApi::Refusal(const net::HttpRequest& request) {
  if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST.");
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  int from = 0, to = 0;
  return Partitions(request, from, to);
}

net::HttpResponse VerifyApi::Run(const net::HttpRequest& request) {
  int from = 0, to = 0;
  if (auto refused = Partitions(request, from, to)) return *refused;
  bool ok = true;
  json partitions = json::array();
  for (int p = from; p < to; ++p) {
    Result<hub::PartitionVerification> v = store_.Verify(p, [this] { return stopping_.load(); });
    if (!v.has_value()) {
      return ServiceApi::Error(v.error().code() == StatusCode::kUnavailable ? 503 : 500,
                               v.error().code() == StatusCode::kUnavailable ? "ServiceUnavailable"
                                                                            : "ServerError",
                               "Partition " + std::to_string(p) + " could not be verified: " +
                                   v.error().message());
    }
    bool unanchored = !v->anchored && v->end > v->first;
    if (!v->breaks.empty() || unanchored) ok = false;
    partitions.push_back({{"id", std::to_string(p)},
                          {"first", v->first},
                          {"end", v->end},
                          {"anchored", v->anchored},
                          {"headEnd", v->head_end},
                          {"recordsChecked", v->records_checked},
                          {"recordsErased", v->records_erased},
                          {"breaks", BreaksJson(v->breaks)}});
  }
  Result<std::vector<hub::MetadataBreak>> metadata = metadata_.Recheck();
  if (!metadata.has_value()) {
    return ServiceApi::Error(503, "ServiceUnavailable",
                             "The metadata could not be verified: " + metadata.error().message());
  }
  if (!metadata->empty()) ok = false;
  net::HttpResponse r;
  r.body = json{{"ok", ok},
                {"partitions", partitions},
                {"metadata", {{"reanchored", metadata_.reanchored()}, {"breaks", BreaksJson(*metadata)}}}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace coffre::hubapi
