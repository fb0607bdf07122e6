#include "vault/api/http_reply.h"

#include <strings.h>

#include "common/encoding.h"
#include "net/http_error.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

// How the vault's Status codes read over HTTP, as Azure Key Vault replies; a Status's detail
// becomes innererror.
const net::HttpErrorTable kKeyVaultErrors(
    {{StatusCode::kInvalidArgument, {400, "BadParameter"}},
     {StatusCode::kUnauthenticated, {401, "Unauthorized"}},
     {StatusCode::kPermissionDenied, {403, "Forbidden"}},
     {StatusCode::kFailedPrecondition, {403, "Forbidden"}},
     {StatusCode::kNotFound, {404, "KeyNotFound"}},
     {StatusCode::kAlreadyExists, {409, "Conflict"}},
     {StatusCode::kUnimplemented, {501, "NotImplemented"}},
     {StatusCode::kUnavailable, {503, "ServiceUnavailable"}}},
    {500, "InternalError"});

}  // namespace

net::HttpResponse JsonReply(const json& body, unsigned status) {
  net::HttpResponse r;
  r.status = status;
  // Messages echo parts of the request, which may not be UTF-8: replace, never throw.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

net::HttpResponse ErrorReply(unsigned status, std::string_view code, std::string_view message,
                             std::string_view inner) {
  json err = {{"code", code}, {"message", message}};
  if (!inner.empty()) err["innererror"] = {{"code", inner}};
  return JsonReply(json{{"error", err}}, status);
}

net::HttpResponse KeyVaultError(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, kKeyVaultErrors);
  return ErrorReply(e.status, e.code, s.message(), e.detail);
}

net::HttpResponse MethodNotAllowed() {
  return ErrorReply(405, "MethodNotAllowed", "The method is not allowed on this path.");
}

net::HttpResponse UnknownPath() { return ErrorReply(404, "NotFound", "Unknown path."); }

net::HttpResponse NoContent() {
  net::HttpResponse r;
  r.status = 204;
  return r;
}

Result<json> ParseJsonBody(const net::HttpRequest& request, bool required) {
  if (request.body.empty()) {
    if (required) return InvalidArgument("The request body is empty; a JSON object is required.");
    return json::object();
  }
  json j = json::parse(request.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("The request body is not a valid JSON object.");
  }
  return j;
}

Result<Bytes> DecodeLenient(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return Base64UrlDecode(s);
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace coffre::vault
