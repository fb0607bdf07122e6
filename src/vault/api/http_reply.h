#pragma once
// The vault API's replies and request-body reads, shared by the route handlers, the audit and
// the event subscription routes: Azure Key Vault-shaped errors
// ({"error":{"code","message","innererror"?:{"code"}}}), JSON replies that never throw on
// non-UTF-8 text, and typed body fields. Stateless, thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "common/json_fields.h"
#include "common/result.h"
#include "net/http_types.h"

namespace coffre::vault {

// An Azure-shaped error response; `inner` (if any) becomes innererror.code.
net::HttpResponse ErrorReply(unsigned status, std::string_view code, std::string_view message,
                             std::string_view inner = {});

// A Status as Key Vault answers it (its detail becomes innererror).
net::HttpResponse KeyVaultError(const Status& s);

// `body` as JSON; text that is not UTF-8 is replaced, never thrown on.
net::HttpResponse JsonReply(const nlohmann::json& body, unsigned status = 200);

net::HttpResponse MethodNotAllowed();  // 405
net::HttpResponse UnknownPath();       // 404 NotFound
net::HttpResponse NoContent();         // 204

// The request's body as a JSON object; an empty body is {} unless `required`.
Result<nlohmann::json> ParseJsonBody(const net::HttpRequest& request, bool required);

// An optional field of a given JSON type (null counts as absent); INVALID_ARGUMENT if present
// with another type, or an integer out of T's range (common/json_fields.h). T = json: an
// object, kept as JSON.
template <typename T>
Result<std::optional<T>> BodyField(const nlohmann::json& j, const char* name) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(j));
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    COFFRE_ASSIGN_OR_RETURN(std::optional<JsonFields> object, fields.Nullable<JsonFields>(name));
    if (!object) return std::optional<nlohmann::json>();
    return std::optional<nlohmann::json>(object->object());
  } else {
    return fields.Nullable<T>(name);
  }
}

// base64url in either alphabet, with or without padding, as the SDK sends it.
Result<Bytes> DecodeLenient(std::string_view text);

bool IEquals(std::string_view a, std::string_view b);  // ASCII, case-insensitive

}  // namespace coffre::vault

// Like COFFRE_ASSIGN_OR_RETURN / COFFRE_RETURN_IF_ERROR, but return the error as a Key Vault
// HTTP response (KeyVaultError).
#define COFFRE_HTTP_ASSIGN_OR_RETURN(lhs, expr) \
  COFFRE_HTTP_ASSIGN_OR_RETURN_IMPL_(COFFRE_CONCAT_(coffre_http_, __LINE__), lhs, expr)
#define COFFRE_HTTP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)               \
  auto tmp = (expr);                                                     \
  if (!tmp.has_value()) return ::coffre::vault::KeyVaultError(tmp.error()); \
  lhs = std::move(tmp).value()
#define COFFRE_HTTP_RETURN_IF_ERROR(expr)                                         \
  do {                                                                            \
    ::coffre::Status coffre_http_s_ = (expr);                                     \
    if (!coffre_http_s_.ok()) return ::coffre::vault::KeyVaultError(coffre_http_s_); \
  } while (false)
