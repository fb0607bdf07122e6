#include "keys/vault_http_client.h"

#include "common/json_fields.h"

namespace coffre::keys {

Result<std::unique_ptr<VaultHttpClient>> VaultHttpClient::Create(
    const std::string& vault_url, const std::filesystem::path& ca_file, std::string token,
    std::chrono::milliseconds timeout) {
  COFFRE_ASSIGN_OR_RETURN(net::Origin origin, net::ParseOrigin(vault_url));
  COFFRE_ASSIGN_OR_RETURN(auto http, net::HttpsClient::Create({origin, ca_file, timeout, {}}));
  return std::unique_ptr<VaultHttpClient>(
      new VaultHttpClient(std::move(http), origin.ToString(), std::move(token)));
}

Result<VaultReply> VaultHttpClient::Call(std::string_view method, std::string_view path,
                                         const nlohmann::json* body, std::string_view query) {
  std::string target(path);
  target += "?api-version=7.5";
  if (!query.empty()) {
    target += "&";
    target += query;
  }
  net::HttpHeaders headers = {{"Authorization", "Bearer " + token_},
                              {"Accept", "application/json"}};
  std::string text;
  if (body != nullptr) {
    headers.emplace_back("Content-Type", "application/json");
    text = body->dump();
  }
  COFFRE_ASSIGN_OR_RETURN(net::HttpResponse r, http_->Send(method, target, headers, text));
  VaultReply reply;
  reply.status = r.status;
  if (!r.body.empty()) {
    reply.body = nlohmann::json::parse(r.body, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
  }
  return reply;
}

Status VaultHttpClient::ToStatus(const VaultReply& reply) {
  if (reply.status >= 200 && reply.status < 300) return Status::Ok();
  std::string code = "HTTP " + std::to_string(reply.status);
  std::string inner;
  std::string message;
  // An error body is read for its message only: any part of it may be missing or mistyped.
  if (Result<JsonFields> body = JsonFields::Of(reply.body); body.has_value()) {
    if (auto e = body->Optional<JsonFields>("error"); e.has_value() && *e) {
      code = (*e)->Or<std::string>("code", code).value_or(code);
      message = (*e)->Or<std::string>("message", "").value_or("");
      if (auto in = (*e)->Optional<JsonFields>("innererror"); in.has_value() && *in) {
        inner = (*in)->Or<std::string>("code", "").value_or("");
      }
    }
  }
  std::string text = code + (inner.empty() ? "" : "/" + inner) + ": " + message;
  switch (reply.status) {
    case 400: return InvalidArgument(text);
    case 401: return Unauthenticated(text);
    case 403:
      return (inner == "AccessDenied" || inner == "ForbiddenByRbac" || inner.empty())
                 ? PermissionDenied(text)
                 : FailedPrecondition(text);
    case 404: return NotFound(text);
    case 405: return InvalidArgument(text);
    case 409: return AlreadyExists(text);
    case 413: return ResourceExhausted(text);
    default: break;
  }
  if (reply.status >= 500) return Unavailable(text);
  return Internal(text);
}

}  // namespace coffre::keys
