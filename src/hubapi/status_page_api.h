#pragma once
// The hub's status page, on its HTTPS port:
//   GET /$coffre/status                  the page (HTML), /$coffre/status/app.js and
//   /$coffre/status/style.css            its script and style: static, public, no data in them,
//                                        no outside asset (a strict Content-Security-Policy)
//   GET /$coffre/status/data             the live values (JSON), for a shared access policy's SAS
//                                        token with ServiceConnect
// The page asks its user for a policy's connection string and makes the SAS token in the browser
// (WebCrypto HMAC): the policy's key never leaves it. While the customer-managed key is
// inaccessible no policy can be checked: /data answers 403 with the key's state and why (what
// /readyz tells anyone), so the page shows the outage as it happens. Thread-safe.

#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "hub/access_policies.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class StatusPageApi {
 public:
  using Data = std::function<nlohmann::json()>;
  // The key's state while inaccessible ({"state", "reason", "since"}), nullopt while usable.
  using Inaccessible = std::function<std::optional<nlohmann::json>()>;

  // policies must outlive the API.
  StatusPageApi(hub::AccessPolicies& policies, Data data, Inaccessible inaccessible)
      : policies_(policies), data_(std::move(data)), inaccessible_(std::move(inaccessible)) {}

  // nullopt: not one of its paths.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  net::HttpResponse AnswerData(const net::HttpRequest& request);

  hub::AccessPolicies& policies_;
  const Data data_;
  const Inaccessible inaccessible_;
};

}  // namespace coffre::hubapi
