#include "mqtt/iothub_topics.h"

#include "common/encoding.h"
#include "common/numbers.h"
#include "common/utf8.h"

namespace coffre::mqtt {
namespace {

constexpr std::string_view kIotHub = "$iothub/";

// The $rid of a query string "?$rid=x&..."; empty if absent.
Result<std::string> RequestId(std::string_view query) {
  if (query.empty() || query.front() != '?') {
    return InvalidArgument("the topic has no '?$rid=' request id");
  }
  query.remove_prefix(1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq), false) != "$rid") continue;
    std::string rid = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), false);
    if (rid.empty() || rid.size() > kMaxRequestIdBytes || !IsValidUtf8(rid, false)) {
      return InvalidArgument("the request id must be 1 to 128 bytes of UTF-8");
    }
    return rid;
  }
  return InvalidArgument("the topic has no '$rid=' request id");
}

}  // namespace

Result<std::optional<IotHubRequest>> MatchIotHubRequest(std::string_view topic) {
  if (!topic.starts_with(kIotHub)) return std::optional<IotHubRequest>();
  std::string_view rest = topic.substr(kIotHub.size());
  IotHubRequest r;
  std::string_view query;
  if (rest.starts_with("twin/GET/")) {
    r.kind = IotHubRequest::Kind::kTwinGet;
    query = rest.substr(9);
  } else if (rest.starts_with("twin/PATCH/properties/reported/")) {
    r.kind = IotHubRequest::Kind::kTwinReportedPatch;
    query = rest.substr(31);
  } else if (rest.starts_with("methods/res/")) {
    r.kind = IotHubRequest::Kind::kMethodResponse;
    rest.remove_prefix(12);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return InvalidArgument("a method response needs a status");
    auto status = ParseUnsigned(rest.substr(0, slash), 999'999'999);
    if (!status) return InvalidArgument("a method response's status must be a whole number");
    r.status = static_cast<int>(*status);
    query = rest.substr(slash + 1);
  } else {
    return InvalidArgument("devices may not publish to this $iothub topic");
  }
  COFFRE_ASSIGN_OR_RETURN(r.rid, RequestId(query));
  return std::optional<IotHubRequest>(std::move(r));
}

std::string TwinResponseTopic(int status, std::string_view rid, std::optional<int64_t> version) {
  std::string t = "$iothub/twin/res/" + std::to_string(status) + "/?$rid=" + PercentEncode(rid);
  if (version) t += "&$version=" + std::to_string(*version);
  return t;
}

std::string DesiredPatchTopic(int64_t version) {
  return "$iothub/twin/PATCH/properties/desired/?$version=" + std::to_string(version);
}

std::string MethodRequestTopic(std::string_view method, std::string_view rid) {
  std::string t = "$iothub/methods/POST/";
  t += method;
  t += "/?$rid=" + PercentEncode(rid);
  return t;
}

std::string CloudToDeviceTopic(std::string_view device_id, std::string_view bag) {
  std::string t = "devices/";
  t += device_id;
  t += "/messages/devicebound/";
  t += bag;
  return t;
}

}  // namespace coffre::mqtt
