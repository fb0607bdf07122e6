#pragma once
// VaultHttpClient: JSON over HTTPS to a vault speaking the Azure Key Vault keys API (ours or
// Azure's), with a bearer token, the vault's CA, and api-version 7.5. It does the transport and
// maps Azure error bodies to Status; callers build the paths. Used by the `coffre` tool and by
// the hub's vault key provider. Thread-compatible (one HTTPS connection).

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "net/https_client.h"

namespace coffre::keys {

struct VaultReply {
  unsigned status = 0;
  nlohmann::json body;  // null if the body was empty or not JSON
};

class VaultHttpClient {
 public:
  static Result<std::unique_ptr<VaultHttpClient>> Create(
      const std::string& vault_url, const std::filesystem::path& ca_file, std::string token,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // `path` like "/keys/hub-cmk/"; `query` extra parameters ("maxresults=5"). Any HTTP status
  // is a reply; transport failures are UNAVAILABLE or DEADLINE_EXCEEDED.
  Result<VaultReply> Call(std::string_view method, std::string_view path,
                          const nlohmann::json* body = nullptr, std::string_view query = {});

  // The reply as a Status: OK for 2xx; otherwise the Azure error mapped to a code
  // (401 UNAUTHENTICATED, 403 PERMISSION_DENIED or FAILED_PRECONDITION for key state,
  // 404 NOT_FOUND, 409 ALREADY_EXISTS, 400 INVALID_ARGUMENT, 5xx UNAVAILABLE) with the message
  // "<code>[/<inner>]: <message>".
  static Status ToStatus(const VaultReply& reply);

  const std::string& vault_url() const { return vault_url_; }

 private:
  VaultHttpClient(std::unique_ptr<net::HttpsClient> http, std::string vault_url, std::string token)
      : http_(std::move(http)), vault_url_(std::move(vault_url)), token_(std::move(token)) {}

  std::unique_ptr<net::HttpsClient> http_;
  std::string vault_url_;
  std::string token_;
};

}  // namespace coffre::keys
