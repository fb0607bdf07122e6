#include "cli/hub_connection.h"

#include "cli/connection_file.h"

#include "common/encoding.h"
#include "common/files.h"
#include "common/strings.h"
#include "hub/sas_token.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "api-version=2021-04-12";
constexpr int64_t kTokenSeconds = 3600;
constexpr int64_t kRenewBeforeSeconds = 300;

// Takes HostName and the policy out of an iothubowner-style connection string.
Status ApplyLogin(std::string_view login, HubConnection& c) {
  COFFRE_ASSIGN_OR_RETURN(auto parts, ParseConnectionString(login));
  c.host = parts["HostName"];
  c.policy_name = parts["SharedAccessKeyName"];
  if (c.host.empty() || c.policy_name.empty() || parts["SharedAccessKey"].empty()) {
    return InvalidArgument(
        "the login is not a policy connection string "
        "(HostName=...;SharedAccessKeyName=...;SharedAccessKey=...)");
  }
  Result<Bytes> raw = Base64Decode(parts["SharedAccessKey"]);
  crypto::Cleanse(parts["SharedAccessKey"]);
  if (!raw.has_value()) return InvalidArgument("the login's SharedAccessKey is not base64");
  Result<crypto::SecretBytes> key = crypto::SecretBytes::CopyOf(*raw);
  crypto::Cleanse(*raw);
  if (!key.has_value()) return key.error();
  c.policy_key = std::move(*key);
  return Status::Ok();
}

StatusCode CodeForHttp(unsigned status) {
  switch (status) {
    case 400: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 409: return StatusCode::kAlreadyExists;
    case 412: return StatusCode::kFailedPrecondition;
    case 429: return StatusCode::kResourceExhausted;
    default: return status >= 500 ? StatusCode::kUnavailable : StatusCode::kInternal;
  }
}

// The hub answers errors as {"Message":"ErrorCode:<Name>;<text>"}; anything else still
// yields a readable message.
Status HubError(const net::HttpResponse& r) {
  std::string name(r.Header("iothub-errorcode"));
  if (name.empty()) name = "HTTP " + std::to_string(r.status);
  std::string text = r.body;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) text = StringField(j, "Message");
  constexpr std::string_view kPrefix = "ErrorCode:";
  if (text.starts_with(kPrefix)) {
    size_t semi = text.find(';');
    name = text.substr(kPrefix.size(), semi - kPrefix.size());
    text = semi == std::string::npos ? "" : text.substr(semi + 1);
  }
  return Status(CodeForHttp(r.status), name + ": " + text);
}

}  // namespace

Result<std::map<std::string, std::string>> ParseConnectionString(std::string_view text) {
  std::map<std::string, std::string> parts;
  for (std::string_view part : Split(text, ';')) {
    if (part.empty()) continue;  // a trailing ';'
    size_t eq = part.find('=');  // the first: base64 keys end in '='
    if (eq == std::string_view::npos || eq == 0) {
      return InvalidArgument("a connection string is NAME=VALUE parts separated by ';'");
    }
    parts[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  return parts;
}

Result<HubConnection> ResolveHubConnection(const HubConnectionOptions& options) {
  HubConnection c;
  std::string login = options.login;
  std::filesystem::path file = std::filesystem::path(options.dir) / "connection.json";
  if (!options.dir.empty()) {
    COFFRE_ASSIGN_OR_RETURN(json j, ReadConnectionFile(file));
    c.ca_file = StringField(j, "ca_file");
    c.https_port = PortField(j, "https_port");
    c.mqtt_port = PortField(j, "mqtt_port");
    if (login.empty()) login = StringField(j, "service_connection_string");
    if (login.empty() || c.https_port == 0) {
      return InvalidArgument(file.string() + " names no hub (is the stack up?)");
    }
  }
  if (login.empty()) {
    return InvalidArgument(
        "no hub given: use --dir DIR, or --login CONNECTION_STRING [--ca-file FILE] [--port P]");
  }
  COFFRE_RETURN_IF_ERROR(ApplyLogin(login, c));
  if (!options.ca_file.empty()) c.ca_file = options.ca_file;
  if (options.port != 0) c.https_port = options.port;
  if (c.https_port == 0) c.https_port = 443;
  c.request_timeout = options.request_timeout;
  return c;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<HubClient>> HubClient::Create(HubConnection connection) {
  net::HttpsClientOptions options;
  options.origin = {"https", connection.host, connection.https_port};
  options.ca_file = connection.ca_file;
  options.timeout = connection.request_timeout;
  COFFRE_ASSIGN_OR_RETURN(auto http, net::HttpsClient::Create(std::move(options)));
  return std::unique_ptr<HubClient>(new HubClient(std::move(connection), std::move(http)));
}

Result<std::string> HubClient::Authorization() {
  int64_t now = UnixNow();
  if (token_.empty() || now > token_expiry_ - kRenewBeforeSeconds) {
    int64_t expiry = now + kTokenSeconds;
    COFFRE_ASSIGN_OR_RETURN(token_, hub::MakeSasToken(connection_.host, connection_.policy_key,
                                                      expiry, connection_.policy_name));
    token_expiry_ = expiry;
  }
  return token_;
}

Result<net::HttpResponse> HubClient::CallRaw(std::string_view method, std::string_view path,
                                             std::string_view body, std::string_view query,
                                             const net::HttpHeaders& headers) {
  std::string target = std::string(path) + "?" + std::string(kApiVersion);
  if (!query.empty()) target += "&" + std::string(query);
  net::HttpHeaders all = headers;
  COFFRE_ASSIGN_OR_RETURN(std::string token, Authorization());
  all.emplace_back("Authorization", std::move(token));
  COFFRE_ASSIGN_OR_RETURN(net::HttpResponse reply, http_->Send(method, target, all, body));
  if (reply.status < 200 || reply.status >= 300) return HubError(reply);
  return reply;
}

Result<net::HttpResponse> HubClient::CallRawAs(std::string_view authorization,
                                               std::string_view method, std::string_view path,
                                               std::string_view body,
                                               const net::HttpHeaders& headers) {
  std::string target = std::string(path) + "?" + std::string(kApiVersion);
  net::HttpHeaders all = headers;
  all.emplace_back("Authorization", std::string(authorization));
  COFFRE_ASSIGN_OR_RETURN(net::HttpResponse reply, http_->Send(method, target, all, body));
  if (reply.status < 200 || reply.status >= 300) return HubError(reply);
  return reply;
}

Result<json> HubClient::Call(std::string_view method, std::string_view path, const json* body,
                             std::string_view query, const net::HttpHeaders& headers) {
  net::HttpHeaders all = headers;
  std::string text;
  if (body != nullptr) {
    all.emplace_back("Content-Type", "application/json; charset=utf-8");
    text = body->dump();
  }
  COFFRE_ASSIGN_OR_RETURN(net::HttpResponse reply, CallRaw(method, path, text, query, all));
  if (reply.body.empty()) return json(nullptr);
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) {
    return Internal("the hub's reply to " + std::string(method) + " " + std::string(path) +
                    " is not JSON");
  }
  return j;
}

}  // namespace coffre::cli
