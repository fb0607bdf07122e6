#include "hubapi/encryption_api.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

std::optional<net::HttpResponse> EncryptionApi::Handle(const net::HttpRequest& request) {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/$coffre/encryption" && path != "/%24coffre/encryption") return std::nullopt;
  if (request.method == "GET") return Show();
  if (request.method == "PUT") return Update(request);
  return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or PUT.");
}

net::HttpResponse EncryptionApi::Show() {
  hub::EncryptionStatus s = monitor_.status();
  nlohmann::json settings;
  {
    std::lock_guard<std::mutex> guard(mu_);
    settings = settings_.ToJson();
  }
  nlohmann::json body = {{"state", s.accessible ? "Accessible" : "Inaccessible"},
                         {"reason", s.reason},
                         {"detail", s.detail},
                         {"since", FormatIsoTime(s.since_ms)},
                         {"lastGoodCheck", FormatIsoTime(s.last_good_ms)},
                         {"keyUri", key_uri_},
                         {"keyId", s.key_id},
                         {"purgeProtection", s.purge_protected},
                         {"settings", settings}};
  net::HttpResponse r;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

net::HttpResponse EncryptionApi::Update(const net::HttpRequest& request) {
  if (auto refusal = RefuseIfInaccessible()) return *refusal;
  constexpr uint32_t kOwner =
      hub::kRegistryRead | hub::kRegistryWrite | hub::kServiceConnect | hub::kDeviceConnect;
  Result<hub::AccessPolicy> caller = policies_.Authorize(request.Header("Authorization"), kOwner);
  if (!caller.has_value()) {
    return ServiceApi::Error(401, "IotHubUnauthorizedAccess",
                             "Changing encryption settings needs iothubowner's rights: " +
                                 caller.error().message());
  }
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  {
    std::lock_guard<std::mutex> guard(mu_);
    Result<hub::EncryptionSettings> next = settings_.With(body);
    if (!next.has_value()) return ServiceApi::Error(400, "ArgumentInvalid", next.error().message());
    if (Status stored = hub::StoreEncryptionSettings(kv_, *next); !stored.ok()) {
      return ServiceApi::Error(500, "ServerError", stored.message());
    }
    settings_ = *next;
    monitor_.Reconfigure(std::chrono::milliseconds(next->key_check_interval_ms),
                         std::chrono::seconds(next->vault_grace_s), next->expired_is_inaccessible);
  }
  return Show();
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
