#pragma once
// VaultKeyProvider: the customer-managed key in a vault that speaks the Azure Key Vault keys API
// (coffre-vault, or Azure Key Vault with a bearer token), reached with the hub's own identity,
// which needs exactly get, wrapKey and unwrapKey.
//
// The key URI is versionless ("https://vault:8443/keys/hub-cmk": wrap with the latest version,
// so a rotation is picked up) or pinned ("…/keys/hub-cmk/<version>"). Every wrapped key records
// the versioned kid that wrapped it, and unwraps with exactly that version, so keys wrapped
// before a rotation keep unwrapping. RSA keys wrap with RSA-OAEP-256, oct keys with A256KW.
// Errors follow crypto::KeyProvider: 401/403 AccessDenied -> PERMISSION_DENIED or
// UNAUTHENTICATED, 403 KeyDisabled/KeyExpired -> FAILED_PRECONDITION, 404 -> NOT_FOUND,
// 5xx/network/timeout -> UNAVAILABLE or DEADLINE_EXCEEDED, any unwrap failure -> OpenFailed().
// Thread-safe (calls are serialised over one keep-alive connection).

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "crypto/key_provider.h"
#include "keys/vault_http_client.h"

namespace coffre::keys {

struct VaultKeyProviderOptions {
  std::string key_uri;  // https://host:port/keys/{name}[/{version}]
  std::filesystem::path ca_file;
  std::string token;
  std::chrono::milliseconds timeout{3000};
  const Clock* clock = &SystemClock();  // wall time; must outlive the provider
};

// "https://v:8443/keys/k/ver" -> {origin, name, version}; INVALID_ARGUMENT if not a key URI.
struct KeyUri {
  std::string vault_url;
  std::string name;
  std::string version;  // empty: versionless
};
Result<KeyUri> ParseKeyUri(std::string_view uri);

class VaultKeyProvider : public crypto::KeyProvider {
 public:
  static Result<std::unique_ptr<VaultKeyProvider>> Create(VaultKeyProviderOptions options);

  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override;
  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override;
  Result<crypto::KeyDescription> Describe() override;

 private:
  VaultKeyProvider(VaultKeyProviderOptions options, KeyUri uri,
                   std::unique_ptr<VaultHttpClient> client)
      : options_(std::move(options)), uri_(std::move(uri)), client_(std::move(client)) {}

  // The configured key's path: "/keys/{name}/{version or empty}".
  std::string KeyPath() const;
  Result<std::string> WrapAlgorithm();  // requires mu_

  VaultKeyProviderOptions options_;
  KeyUri uri_;
  std::mutex mu_;
  std::unique_ptr<VaultHttpClient> client_;  // guarded by mu_
  std::string kty_;                          // guarded by mu_; learnt on first use
};

}  // namespace coffre::keys
