#pragma once
// How the `coffre vault ...` commands reach a vault: the connection options resolved to a URL,
// a CA file and a token, and two calls over keys::VaultHttpClient that turn replies into
// values (the JSON body of a 2xx, else the vault's error as a Status). Stateless helpers.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "keys/vault_http_client.h"

namespace coffre::cli {

struct ConnectionOptions {
  std::string dir;        // a stack directory: DIR/connection.json names the vault
  std::string vault_url;  // these three override what DIR says
  std::string ca_file;    // empty (and no DIR): the system's trust store
  std::string token_file;
};

struct VaultConnection {
  std::string vault_url;
  std::filesystem::path ca_file;
  std::string token;
};

// Explicit options beat DIR's connection.json, which beats `env_token` (COFFRE_VAULT_TOKEN).
// INVALID_ARGUMENT when no vault URL or no token results: a usage error.
Result<VaultConnection> ResolveConnection(const ConnectionOptions& options,
                                          std::string_view env_token);

Result<std::unique_ptr<keys::VaultHttpClient>> OpenVault(const VaultConnection& connection);

// The body of a 2xx reply (null when empty); any other status as VaultHttpClient::ToStatus.
Result<nlohmann::json> CallVault(keys::VaultHttpClient& vault, std::string_view method,
                                 std::string_view path, const nlohmann::json* body = nullptr,
                                 std::string_view query = {});

// Every page of a list, following nextLink, as one body: {"value": [...], "nextLink": null}.
Result<nlohmann::json> ListAll(keys::VaultHttpClient& vault, std::string_view path);

struct PageLink {
  std::string path;   // "/keys"
  std::string query;  // "maxresults=25&$skiptoken=k1", without api-version
};

// Splits an absolute nextLink for VaultHttpClient::Call, which adds its own api-version.
Result<PageLink> SplitNextLink(std::string_view url);

// `name` percent-encoded for use as one path segment, so it cannot add segments or a query.
std::string PathSegment(std::string_view name);

}  // namespace coffre::cli
