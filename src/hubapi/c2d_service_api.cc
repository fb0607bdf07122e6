#include "hubapi/c2d_service_api.h"

#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/numbers.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "common/utf8.h"
#include "hub/c2d_send.h"
#include "hub/sas_token.h"
#include "hubapi/api_version.h"
#include "hubapi/message_headers.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

constexpr size_t kFeedbackBatch = 100;

enum class Kind { kSend, kPurge, kFeedback };

struct Route {
  Kind kind;
  std::string device_id;
  std::string token;  // feedback acknowledgement
};

std::optional<Route> MatchRoute(const HttpRequest& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  if (seg.size() == 4 && seg[0] == "devices" && !seg[1].empty() && seg[2] == "messages" &&
      seg[3].size() == 11 && ::strncasecmp(seg[3].data(), "devicebound", 11) == 0 &&
      request.method == "POST") {
    return Route{Kind::kSend, PercentDecode(seg[1], false), ""};
  }
  if (seg.size() == 3 && seg[0] == "devices" && !seg[1].empty() && seg[2] == "commands") {
    return Route{Kind::kPurge, PercentDecode(seg[1], false), ""};
  }
  if ((seg.size() == 3 || seg.size() == 4) && seg[0] == "messages" &&
      ::strcasecmp(std::string(seg[1]).c_str(), "serviceBound") == 0 && seg[2] == "feedback") {
    return Route{Kind::kFeedback, "", seg.size() == 4 ? std::string(seg[3]) : ""};
  }
  return std::nullopt;
}

// No control characters: each property goes back out as an HTTP header or an MQTT topic.
bool Printable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return IsValidUtf8(s, false);
}

// The properties as a device-to-cloud send reads them (message_headers.h), plus what only a
// C2D send has: the expiry as a time, the ack mode, and the body's Content-Type.
Result<hub::C2dMessage> MessageFrom(const HttpRequest& request) {
  hub::C2dMessage m;
  m.body = request.body;
  for (const auto& header : request.headers) {
    const std::string& name = header.first;
    const std::string& value = header.second;
    if (!Printable(value)) return InvalidArgument("Header " + name + " holds a control character.");
    auto is = [&name](const char* h) { return ::strcasecmp(name.c_str(), h) == 0; };
    if (is("iothub-expiry")) {
      auto ms = ParseIsoTime(value);
      if (!ms) return InvalidArgument("iothub-expiry must be an ISO 8601 time.");
      m.expiry = FromMillis(*ms);
    } else if (is("iothub-ack")) {
      auto ack = hub::ParseC2dAck(value);
      if (!ack) return InvalidArgument("iothub-ack must be none, positive, negative or full.");
      m.ack = *ack;
    } else if (is("content-type")) {
      m.properties.system.content_type = value;
    }
  }
  hub::MessageProperties read = PropertiesFromHeaders(request.headers);
  if (!read.system.content_type) read.system.content_type = m.properties.system.content_type;
  m.properties = std::move(read);
  return m;  // hub::SendC2d checks the rest
}

}  // namespace

bool C2dServiceApi::Matches(const HttpRequest& request) { return MatchRoute(request).has_value(); }

std::optional<HttpResponse> C2dServiceApi::Handle(const HttpRequest& request) {
  std::optional<Route> route = MatchRoute(request);
  if (!route) return std::nullopt;
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  Result<hub::AccessPolicy> caller = policies_.Authorize(
      request.Header("Authorization"), hub::kServiceConnect, hub::ResourceOfPath(path));
  if (!caller.has_value()) return ErrorFor(caller.error());
  if (auto refused = CheckApiVersion(request)) return refused;
  switch (route->kind) {
    case Kind::kSend: return Send(request, route->device_id);
    case Kind::kPurge:
      if (request.method != "DELETE") return ServiceApi::Error(405, "MethodNotAllowed", "Use DELETE.");
      return Purge(route->device_id);
    case Kind::kFeedback: return Feedback(request, route->token);
  }
  return std::nullopt;
}

HttpResponse C2dServiceApi::Send(const HttpRequest& request, const std::string& device_id) {
  Status queued =
      hub::SendC2d(registry_, queues_, device_id, [&request] { return MessageFrom(request); });
  if (!queued.ok()) {
    // Azure's answers: a full queue is 403 DeviceMaximumQueueDepthExceeded, a large one 413.
    if (queued.detail() == "DeviceMaximumQueueDepthExceeded") {
      return ServiceApi::Error(403, queued.detail(), queued.message());
    }
    if (queued.detail() == "MessageTooLarge") return ServiceApi::Error(413, queued.detail(), queued.message());
    return ErrorFor(queued);
  }
  return NoContent();
}

HttpResponse C2dServiceApi::Purge(const std::string& device_id) {
  Result<hub::DeviceIdentity> device = registry_.Get(device_id);
  if (!device.has_value()) return ErrorFor(device.error());
  Result<size_t> purged = queues_.Purge(device_id);
  if (!purged.has_value()) return ErrorFor(purged.error());
  return JsonResponse({{"deviceId", device_id}, {"totalMessagesPurged", *purged}});
}

HttpResponse C2dServiceApi::Feedback(const HttpRequest& request, std::string_view token) {
  if (token.empty()) {
    if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
    Result<hub::C2dQueues::FeedbackBatch> batch = queues_.PeekFeedback(kFeedbackBatch);
    if (!batch.has_value()) return ErrorFor(batch.error());
    if (batch->records.empty()) return NoContent();
    json records = json::array();
    for (const auto& f : batch->records) records.push_back(f.ToJson());
    HttpResponse r = JsonResponse(records);
    auto last = hub::C2dQueues::FeedbackNumber(batch->rows.back());
    r.headers.emplace_back("ETag", "\"" + std::to_string(last.value_or(0)) + "\"");
    return r;
  }
  if (request.method != "DELETE") return ServiceApi::Error(405, "MethodNotAllowed", "Use DELETE.");
  // The batch's ETag as it was sent ("5"), bare (5), or percent-encoded (%225%22).
  std::string unquoted = PercentDecode(token, false);
  if (unquoted.size() >= 2 && unquoted.front() == '"' && unquoted.back() == '"') {
    unquoted = unquoted.substr(1, unquoted.size() - 2);
  }
  auto last = ParseUnsigned(unquoted);
  if (!last) return ServiceApi::Error(400, "ArgumentInvalid", "Not a feedback lock token.");
  Status acked = queues_.AcknowledgeFeedbackThrough(*last);
  if (!acked.ok()) return ErrorFor(acked);
  return NoContent();
}

}  // namespace coffre::hubapi
