#pragma once
// VaultService: one running coffre-vault. Opens (or, on first start, initialises) the vault in
// `dir`: RocksDB store, master key sealed under the passphrase, settings, and the owner
// principal whose token is written once to `owner_token_file`; then serves the REST API over
// HTTPS. Wiring only: the behaviour lives in KeyVault, AccessControl and RestApi.
// The master key is sealed under the passphrase or, when `pkcs11` is set, by a token's key.
// Thread-safe; Stop() or the destructor stops serving.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/rate_limiter.h"
#include "common/result.h"
#include "vault/audit/audit_log.h"
#include "vault/seal/pkcs11_master_key.h"

namespace coffre::vault {

struct VaultServiceOptions {
  std::filesystem::path dir;
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8443;
  std::filesystem::path tls_cert, tls_key;
  // How often the TLS files are looked at: a changed pair is reloaded (0: only on
  // ReloadCertificates, coffre-vault's SIGHUP).
  std::chrono::milliseconds certificate_check_period{2000};
  std::string passphrase;                        // seals the master key, unless pkcs11 is set
  std::optional<Pkcs11MasterKeyOptions> pkcs11;  // a key on a PKCS#11 token seals it instead
  std::filesystem::path owner_token_file;  // written at initialisation only
  bool purge_protection = false;           // fixed at initialisation
  int retention_days = 90;                 // fixed at initialisation (7..90)
  std::string public_url;                  // empty: https://localhost:<port>
  int threads = 0;
  // Tests only: the owner may advance the vault's clock (POST /coffre/clock); docs/VAULT.md.
  bool test_clock = false;
  std::chrono::milliseconds scheduler_period{1000};  // how often rotation policies are applied
  // The audit log's bounds: file size, retention, sampling of unauthenticated requests
  // (sync_interval and clock are the log's own). docs/VAULT.md.
  AuditLogOptions audit;
  // Failed authentications per client address before 429 (per_second <= 0: no limit).
  RateLimit auth_failure_limit{20, 200};
  // GET /metrics without a token (for a Prometheus scraper on a network the operator trusts);
  // false: any valid bearer token (docs/METRICS.md).
  bool metrics_open = false;
};

class VaultService {
 public:
  static Result<std::unique_ptr<VaultService>> Start(const VaultServiceOptions& options);
  ~VaultService();

  uint16_t port() const;
  const std::string& public_url() const;
  bool initialised_now() const;
  // Reads the TLS certificate and key files again: new connections get the new pair if it loads
  // and matches; on error the pair in use stays.
  Status ReloadCertificates();
  std::string certificate_subject() const;  // of the pair served now
  void Stop();

 private:
  struct Impl;
  explicit VaultService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::vault
