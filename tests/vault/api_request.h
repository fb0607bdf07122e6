#pragma once
// A request to the vault's RestApi as the HTTPS server hands it over: from 192.0.2.7, with a
// bearer token if one is given.

#include <string>

#include "net/http_types.h"

namespace coffre::vault {

inline net::HttpRequest Request(std::string method, std::string target, std::string token = "",
                                std::string body = "") {
  net::HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  r.body = std::move(body);
  r.remote_address = "192.0.2.7";
  return r;
}

}  // namespace coffre::vault
