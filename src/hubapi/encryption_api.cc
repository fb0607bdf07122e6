#include "hubapi/encryption_api.h"

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "common/time_format.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using nlohmann::json;

std::optional<net::HttpResponse> EncryptionApi::Handle(const net::HttpRequest& request) {
  if (!ServiceApi::IsCoffrePath(request.target, "encryption")) return std::nullopt;
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
  if (Status alone = hub::RefuseWithOtherNodes(other_nodes_, "A change of the encryption settings");
      !alone.ok()) {
    return ServiceApi::Error(409, "OperationNotAllowedInCurrentState", alone.message());
  }
  Result<json> parsed = ParseJsonObject(request.body, "The body");
  if (!parsed.has_value()) return ServiceApi::Error(400, "ArgumentInvalid", "The body must be a JSON object.");
  json& body = *parsed;
  JsonFields fields = JsonFields::Of(body).value();  // an object: checked above
  auto refused = [](const Status& s) { return ServiceApi::Error(400, "ArgumentInvalid", s.message()); };
  Result<std::optional<std::string>> key_uri = fields.Optional<std::string>("keyUri");
  Result<std::string> token = fields.Or<std::string>("vaultToken", "");
  Result<std::string> ca = fields.Or<std::string>("vaultCaPem", "");
  Result<std::optional<std::string>> secret = fields.Optional<std::string>("keyEventsSecret");
  for (const Status& s : {key_uri.status(), token.status(), ca.status(), secret.status()}) {
    if (!s.ok()) return refused(s);
  }
  std::lock_guard<std::mutex> one_at_a_time(update_mu_);
  if (*key_uri) {
    if ((*key_uri)->empty()) {
      return ServiceApi::Error(400, "ArgumentInvalid",
                               "keyUri must name a key; a customer-managed key cannot be turned off.");
    }
    Status changed = custody_.UseCustomerKey(keys_, **key_uri, *token, *ca);
    if (!changed.ok()) {
      bool caller_error = changed.code() == StatusCode::kInvalidArgument;
      return ServiceApi::Error(caller_error ? 400 : 409,
                               caller_error ? "ArgumentInvalid" : "CustomerManagedKeyUnusable",
                               "The hub cannot use " + **key_uri + ": " + changed.message());
    }
    monitor_.set_key_uri(**key_uri);
    monitor_.Wake();  // the status names the new key from the next check: make it now
  } else if (body.contains("vaultToken") || body.contains("vaultCaPem")) {
    return ServiceApi::Error(400, "ArgumentInvalid", "vaultToken and vaultCaPem go with a keyUri.");
  }
  for (const char* name : {"keyUri", "vaultToken", "vaultCaPem"}) body.erase(name);
  if (*secret) {
    Status stored = custody_.UseKeyEventsSecret(**secret);
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
