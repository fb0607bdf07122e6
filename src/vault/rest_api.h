#pragma once
// The vault's HTTPS API: the Azure Key Vault keys REST API as @azure/keyvault-keys uses it
// (../shared/specs/keyvault-api.md), plus Coffre's own principal management under /coffre/.
// Order of checks: authentication (401 + challenge, before anything is parsed), api-version,
// route, permission (403 AccessDenied), existence (404), validation (400). Every error body is
// Azure-shaped JSON: {"error":{"code","message","innererror"?:{"code"}}}.
// Thread-safe.

#include <string>

#include "net/http_types.h"
#include "vault/access_control.h"
#include "vault/event_subscriptions.h"
#include "vault/key_vault.h"

namespace coffre::vault {

struct RestApiOptions {
  std::string public_origin;  // "https://localhost:8443": the origin in every kid
  std::string challenge_authorization =
      "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000";
  std::string challenge_resource = "https://vault.azure.net";
  // /coffre/eventsubscriptions (event_subscriptions_api.h); null: 404. Must outlive the API.
  EventSubscriptions* event_subscriptions = nullptr;
};

class RestApi {
 public:
  // vault and access must outlive the API.
  RestApi(KeyVault& vault, AccessControl& access, RestApiOptions options)
      : vault_(vault), access_(access), options_(std::move(options)) {}

  net::HttpResponse Handle(const net::HttpRequest& request);

  // An Azure-shaped error response; used for the server's own errors (413, 400) too.
  static net::HttpResponse Error(unsigned status, std::string_view code, std::string_view message,
                                 std::string_view inner = {});

 private:
  struct Call;
  net::HttpResponse Route(Call& call);
  net::HttpResponse Challenge(std::string_view message) const;

  KeyVault& vault_;
  AccessControl& access_;
  RestApiOptions options_;
};

}  // namespace coffre::vault
