#include "hubapi/read_api.h"

#include <chrono>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/time_format.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

constexpr size_t kDefaultMax = 100;
constexpr size_t kMaxMessages = 1000;
constexpr int64_t kMaxWaitMs = 10000;
constexpr auto kPollEvery = std::chrono::milliseconds(20);


std::map<std::string, std::string> Query(std::string_view target) {
  std::map<std::string, std::string> out;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  for (std::string_view pair : Split(target.substr(q + 1), '&')) {
    size_t eq = pair.find('=');
    out[PercentDecode(pair.substr(0, eq), true)] =
        eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
  }
  return out;
}

std::optional<int64_t> Number(const std::map<std::string, std::string>& q, const char* name) {
  auto it = q.find(name);
  if (it == q.end() || it->second.empty()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (*end != '\0' || v < 0) return -1;
  return v;
}

json MessageJson(int partition, const hub::StoredMessage& m) {
  const hub::SystemProperties& s = m.message.properties.system;
  json system = json::object();
  const std::pair<const char*, const std::optional<std::string>*> fields[] = {
      {"messageId", &s.message_id},       {"correlationId", &s.correlation_id},
      {"userId", &s.user_id},             {"to", &s.to},
      {"contentType", &s.content_type},   {"contentEncoding", &s.content_encoding},
      {"absoluteExpiryTime", &s.expiry_time}, {"interfaceId", &s.interface_id},
      {"dt-subject", &s.subject},         {"outputName", &s.output_name}};
  for (auto [name, value] : fields) {
    if (*value) system[name] = **value;
  }
  system["iothub-connection-device-id"] = m.message.device_id;
  if (m.message.module_id) system["iothub-connection-module-id"] = *m.message.module_id;
  system["iothub-enqueuedtime"] = FormatIsoTime(m.message.enqueued_ms);
  system["iothub-message-source"] = "Telemetry";
  json properties = json::object();
  for (const auto& [name, value] : m.message.properties.application) properties[name] = value;
  std::string_view body = AsChars(m.message.body);
  bool text = IsValidUtf8(body, false);
  return {{"partition", std::to_string(partition)},
          {"offset", std::to_string(m.sequence)},
          {"sequenceNumber", m.sequence},
          {"enqueuedTime", FormatIsoTime(m.message.enqueued_ms)},
          {"deviceId", m.message.device_id},
          {"systemProperties", system},
          {"properties", properties},
          {"bodyEncoding", text ? "utf-8" : "base64"},
          {"body", text ? std::string(body) : Base64Encode(m.message.body)}};
}

HttpResponse Json(const json& body) {
  HttpResponse r;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace

std::optional<HttpResponse> ReadApi::Handle(const HttpRequest& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  if (seg.empty() || seg[0] != "telemetry") return std::nullopt;
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
  if (!caller.has_value()) {
    StatusCode code = caller.error().code();
    if (code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied) {
      return ServiceApi::Error(401, "IotHubUnauthorizedAccess", caller.error().message());
    }
    return ServiceApi::Error(503, "ServiceUnavailable", caller.error().message());
  }
  if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
  if (seg.size() == 2 && seg[1] == "partitions") {
    json parts = json::array();
    for (int p = 0; p < store_.partitions(); ++p) {
      parts.push_back({{"id", std::to_string(p)},
                       {"beginSequence", store_.begin_sequence(p)},
                       {"endSequence", store_.end_sequence(p)}});
    }
    return Json({{"partitionCount", store_.partitions()}, {"partitions", parts}});
  }
  if (seg.size() != 4 || seg[1] != "partitions" || seg[3] != "messages") {
    return ServiceApi::Error(404, "NotFound", "No such telemetry path.");
  }
  int partition = -1;
  if (seg[2].size() <= 2 && !seg[2].empty() &&
      seg[2].find_first_not_of("0123456789") == std::string_view::npos) {
    partition = std::stoi(std::string(seg[2]));
  }
  if (partition < 0 || partition >= store_.partitions()) {
    return ServiceApi::Error(404, "PartitionNotFound", "No partition '" + std::string(seg[2]) + "'.");
  }
  auto query = Query(target);
  auto from = Number(query, "from");
  auto max = Number(query, "max");
  auto wait = Number(query, "waitMs");
  if ((from && *from < 0) || (max && (*max < 1 || *max > int64_t{kMaxMessages})) ||
      (wait && (*wait < 0 || *wait > kMaxWaitMs))) {
    return ServiceApi::Error(400, "ArgumentInvalid",
                             "from must be a sequence number, max 1-1000, waitMs 0-10000.");
  }
  uint64_t start = static_cast<uint64_t>(from.value_or(0));
  // Long poll: wait for the first message (bounded), without holding any lock.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait.value_or(0));
  while (store_.end_sequence(partition) <= start && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPollEvery);
  }
  auto messages = store_.Read(partition, start, static_cast<size_t>(max.value_or(kDefaultMax)),
                              size_t{8} << 20);
  if (!messages.has_value()) {
    unsigned status = messages.error().code() == StatusCode::kInvalidArgument ? 400 : 500;
    return ServiceApi::Error(status, status == 400 ? "ArgumentInvalid" : "ServerError",
                             messages.error().message());
  }
  json list = json::array();
  for (const auto& m : *messages) list.push_back(MessageJson(partition, m));
  uint64_t next = messages->empty() ? start : messages->back().sequence + 1;
  return Json({{"partition", std::to_string(partition)},
               {"messages", list},
               {"nextOffset", std::to_string(next)}});
}

}  // namespace coffre::hubapi
