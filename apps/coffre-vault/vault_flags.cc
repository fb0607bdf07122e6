#include "vault_flags.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "common/numbers.h"
#include "config/config_check.h"
#include "config/daemon_config.h"
#include "config/secret_files.h"

namespace coffre {
std::optional<int> ParseVaultFlags(int argc, char** argv, VaultFlags& flags) {
  vault::VaultServiceOptions& options = flags.options;
  std::string& passphrase_file = flags.passphrase_file;
  std::string& pin_file = flags.pin_file;
  vault::Pkcs11MasterKeyOptions& pkcs11 = flags.pkcs11;
  std::string listen = "127.0.0.1:8443";
  CLI::App app{"coffre-vault: a key vault that speaks the Azure Key Vault keys API"};
  app.add_option("--dir", options.dir, "vault directory (created on first start)")->required();
  app.add_option("--listen", listen, "address:port to serve HTTPS on");
  int tls_watch_seconds = 2;
  config::AddTlsFlags(app, options.tls_cert, options.tls_key, tls_watch_seconds);
  // The master key is sealed either under a passphrase or by a key on a PKCS#11 token.
  auto* passphrase_opt = app.add_option("--passphrase-file", passphrase_file,
                                        "file holding the master key passphrase");
  auto* pin_opt = app.add_option(
      "--pkcs11-pin-file", pin_file,
      "seal the master key by a PKCS#11 token: file holding its user PIN");
  passphrase_opt->excludes(pin_opt);
  app.add_option("--pkcs11-module", pkcs11.module, "PKCS#11 library")
      ->capture_default_str()
      ->needs(pin_opt);
  app.add_option("--pkcs11-token-label", pkcs11.token_label,
                 "the token's label (required for a new vault; default: the one master.json names)")
      ->needs(pin_opt);
  app.add_option("--pkcs11-key-label", pkcs11.key_label,
                 std::string("label of the AES key on the token (default: master.json's, else ") +
                     vault::kDefaultPkcs11KeyLabel + ")")
      ->needs(pin_opt);
  app.add_option("--owner-token-file", options.owner_token_file,
                 "where a new vault writes its owner's token (mode 0600)");
  app.add_flag("--purge-protection", options.purge_protection,
               "refuse purges until the retention period ends (fixed at creation)");
  app.add_option("--retention-days", options.retention_days,
                 "soft-delete retention, 7 to 90 days (fixed at creation)");
  app.add_option("--public-url", options.public_url, "origin used in key ids");
  app.add_option("--threads", options.threads, "io threads (0: one per core)");
  int64_t scheduler_period_ms = options.scheduler_period.count();
  app.add_option("--scheduler-period-ms", scheduler_period_ms,
                 "how often rotation policies are applied, in milliseconds of real time")
      ->check(CLI::Range(int64_t{10}, int64_t{86'400'000}));
  // Bounds on what anyone can make the vault write (docs/VAULT.md, "Limits").
  uint64_t audit_file_size = options.audit.max_file_bytes;
  app.add_option("--audit-file-size", audit_file_size,
                 "close an audit log file at this size and go on in the next (e.g. 64MiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--audit-keep-files", options.audit.keep_files,
                 "audit log files kept, the current one included; older ones are dropped")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--audit-keep-size", options.audit.keep_bytes,
                 "also drop the oldest audit files while all of them pass this size (0: no limit)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--audit-sample-refused", options.audit.sampling.per_source,
                 "requests without a valid token logged one by one per client address and "
                 "interval; the rest are counted in one line per address")
      ->capture_default_str();
  int64_t sample_interval_s = options.audit.sampling.interval.count() / 1000;
  app.add_option("--audit-sample-interval", sample_interval_s, "the sampling interval, seconds")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400}))
      ->capture_default_str();
  app.add_option("--auth-failure-rate", options.auth_failure_limit.per_second,
                 "failed authentications per second per client address before 429 (0: no limit)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--auth-failure-burst", options.auth_failure_limit.burst,
                 "failed authentications a client address may make at once")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  app.add_flag("--test-clock", options.test_clock,
               "TESTS ONLY: let the owner advance the vault's clock (POST /coffre/clock)")
      ->configurable(false);
  app.add_flag("--metrics-open", options.metrics_open,
               "serve GET /metrics without a bearer token (a Prometheus scraper on a trusted "
               "network; docs/METRICS.md)");
  config::DaemonConfig daemon;
  config::AddDaemonConfig(app, "vault", daemon);
  if (auto exit_code = config::ParseDaemonCommandLine(app, argc, argv, "coffre-vault")) {
    return exit_code;
  }
  options.scheduler_period = std::chrono::milliseconds(scheduler_period_ms);
  options.certificate_check_period = std::chrono::seconds(tls_watch_seconds);
  options.audit.max_file_bytes = audit_file_size;
  options.audit.sampling.interval = std::chrono::seconds(sample_interval_s);
  if (options.audit.max_file_bytes < 4096) {
    std::cerr << "coffre-vault: --audit-file-size must be at least 4KiB\n";
    return 2;
  }
  if (passphrase_file.empty() && pin_file.empty()) {
    std::cerr << "coffre-vault: give --passphrase-file or --pkcs11-pin-file\n";
    return 2;
  }

  Result<HostPort> endpoint = ParseListenAddress(listen, "--listen");  // port 0: any free one
  if (!endpoint.has_value()) {
    std::cerr << "coffre-vault: " << endpoint.error().message() << " (got '" << listen << "')\n";
    return 2;
  }
  options.listen_address = endpoint->host;
  options.port = endpoint->port;

  constexpr std::string_view kDaemon = "coffre-vault";
  if (!config::ResolveTlsSettings(kDaemon, options.tls_cert, options.tls_key) ||
      !config::ResolveSecretSetting(kDaemon, passphrase_file, "the passphrase file") ||
      !config::ResolveSecretSetting(kDaemon, pin_file, "the PKCS#11 PIN file")) {
    return 2;
  }
  if (daemon.check_only) {
    config::ConfigCheck check;
    check.DataDirectory(options.dir);
    check.Certificates(options.tls_cert, options.tls_key);
    if (!passphrase_file.empty()) check.Secret(passphrase_file, "the passphrase file", false);
    if (!pin_file.empty()) check.Secret(pin_file, "the PKCS#11 PIN file", false);
    return check.Print("coffre-vault", daemon.file);
  }
  return std::nullopt;
}

}  // namespace coffre
