#pragma once
// One request through a running hub's HTTPS dispatcher (HubService::HandleHttps, no TLS), its
// answer waited for: what the HTTPS port would send.

#include <future>
#include <string>

#include "hubservice/hub_service.h"
#include "net/http_types.h"

namespace coffre::testing {

inline net::HttpResponse HandleNow(hubservice::HubService& hub, const std::string& method,
                                   const std::string& target, const std::string& authorization = "",
                                   const std::string& body = "") {
  net::HttpRequest r;
  r.method = method;
  r.target = target;
  r.body = body;
  r.remote_address = "127.0.0.1";
  if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
  std::promise<net::HttpResponse> answer;
  hub.HandleHttps(r, net::HttpResponder([&](net::HttpResponse out) { answer.set_value(out); }));
  return answer.get_future().get();
}

}  // namespace coffre::testing
