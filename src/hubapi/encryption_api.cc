#include "hubapi/encryption_api.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

std::optional<net::HttpResponse> EncryptionApi::Handle(const net::HttpRequest& request) const {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/$coffre/encryption" && path != "/%24coffre/encryption") return std::nullopt;
  if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
  hub::EncryptionStatus s = monitor_.status();
  nlohmann::json body = {{"state", s.accessible ? "Accessible" : "Inaccessible"},
                         {"reason", s.reason},
                         {"detail", s.detail},
                         {"since", FormatIsoTime(s.since_ms)},
                         {"lastGoodCheck", FormatIsoTime(s.last_good_ms)},
                         {"keyUri", key_uri_},
                         {"keyId", s.key_id}};
  net::HttpResponse r;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::optional<net::HttpResponse> EncryptionApi::RefuseIfInaccessible() const {
  hub::EncryptionStatus s = monitor_.status();
  if (s.accessible) return std::nullopt;
  return ServiceApi::Error(
      403, "CustomerManagedKeyInaccessible",
      "The hub's customer-managed key " + key_uri_ + " is inaccessible since " +
          FormatIsoTime(s.since_ms) + ": " + s.reason + (s.detail.empty() ? "" : " (" + s.detail + ")") +
          ". The hub resumes by itself once the key can be used again.");
}

}  // namespace coffre::hubapi
