#include "hubapi/encryption_api.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using nlohmann::json;

std::optional<net::HttpResponse> EncryptionApi::Handle(const net::HttpRequest& request) {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/$coffre/encryption" && path != "/%24coffre/encryption") return std::nullopt;
  if (request.method == "GET") return Show();
  if (request.method == "PUT") return Update(request);
  return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or PUT.");
}

net::HttpResponse EncryptionApi::Show() const {
  hub::EncryptionStatus s = monitor_.status();
  hub::EncryptionSettings settings = config_.Get();
  json body = {{"state", s.accessible ? "Accessible" : "Inaccessible"},
               {"reason", s.reason},
               {"detail", s.detail},
               {"since", FormatIsoTime(s.since_ms)},
               {"lastGoodCheck", FormatIsoTime(s.last_good_ms)},
               {"mode", settings.customer_managed() ? "customer-managed" : "service-managed"},
               {"keyUri", settings.key_uri},
               {"keyId", s.key_id},
               {"purgeProtection", s.purge_protected},
               {"settings", settings.TunablesJson()}};
  net::HttpResponse r;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
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
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) return ServiceApi::Error(400, "ArgumentInvalid", "The body must be a JSON object.");
  std::lock_guard<std::mutex> one_at_a_time(update_mu_);
  if (body.contains("keyUri")) {
    if (!body["keyUri"].is_string() || body["keyUri"].get<std::string>().empty()) {
      return ServiceApi::Error(400, "ArgumentInvalid",
                               "keyUri must name a key; a customer-managed key cannot be turned off.");
    }
    std::string key_uri = body["keyUri"].get<std::string>();
    std::string token = body.value("vaultToken", "");
    std::string ca = body.value("vaultCaPem", "");
    Status changed = custody_.UseCustomerKey(keys_, key_uri, token, ca);
    if (!changed.ok()) {
      bool caller_error = changed.code() == StatusCode::kInvalidArgument;
      return ServiceApi::Error(caller_error ? 400 : 409,
                               caller_error ? "ArgumentInvalid" : "CustomerManagedKeyUnusable",
                               "The hub cannot use " + key_uri + ": " + changed.message());
    }
    monitor_.set_key_uri(key_uri);
    monitor_.Wake();  // the status names the new key from the next check: make it now
    for (const char* name : {"keyUri", "vaultToken", "vaultCaPem"}) body.erase(name);
  }
  if (body.contains("keyEventsSecret")) {
    const nlohmann::json& secret = body["keyEventsSecret"];
    Status stored = secret.is_string() ? custody_.UseKeyEventsSecret(secret.get<std::string>())
                                       : InvalidArgument("keyEventsSecret must be a string");
    if (!stored.ok()) {
      bool caller_error = stored.code() == StatusCode::kInvalidArgument;
      return ServiceApi::Error(caller_error ? 400 : 500, caller_error ? "ArgumentInvalid" : "ServerError",
                               stored.message());
    }
    body.erase("keyEventsSecret");
  }
  if (!body.empty()) {
    Result<hub::EncryptionSettings> next = config_.Get().With(body);
    if (!next.has_value()) return ServiceApi::Error(400, "ArgumentInvalid", next.error().message());
    if (Status stored = config_.Set(*next); !stored.ok()) {
      return ServiceApi::Error(500, "ServerError", stored.message());
    }
    monitor_.Reconfigure(std::chrono::milliseconds(next->key_check_interval_ms),
                         std::chrono::seconds(next->vault_grace_s), next->expired_is_inaccessible);
  }
  return Show();
}

// On every HTTPS request: the common case costs one lock and no copy.
std::optional<net::HttpResponse> EncryptionApi::RefuseIfInaccessible() const {
  if (monitor_.accessible()) return std::nullopt;
  hub::EncryptionStatus s = monitor_.status();
  if (s.accessible) return std::nullopt;
  std::string key = config_.Get().key_uri;
  return ServiceApi::Error(
      403, "CustomerManagedKeyInaccessible",
      "The hub's customer-managed key " + key + " is inaccessible since " +
          FormatIsoTime(s.since_ms) + ": " + s.reason + (s.detail.empty() ? "" : " (" + s.detail + ")") +
          ". The hub resumes by itself once the key can be used again.");
}

}  // namespace coffre::hubapi
