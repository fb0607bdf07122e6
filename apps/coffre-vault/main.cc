// coffre-vault: the customer's key vault. Wiring only: flags, signals, VaultService.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/files.h"
#include "crypto/secret_bytes.h"
#include "crypto/secure_heap.h"
#include "vault/vault_service.h"

int main(int argc, char** argv) {
  using namespace coffre;
  CLI::App app{"coffre-vault: a key vault that speaks the Azure Key Vault keys API"};
  vault::VaultServiceOptions options;
  std::string listen = "127.0.0.1:8443";
  std::string passphrase_file;
  app.add_option("--dir", options.dir, "vault directory (created on first start)")->required();
  app.add_option("--listen", listen, "address:port to serve HTTPS on");
  app.add_option("--tls-cert", options.tls_cert, "PEM certificate chain")->required();
  app.add_option("--tls-key", options.tls_key, "PEM private key")->required();
  app.add_option("--passphrase-file", passphrase_file, "file holding the master key passphrase")
      ->required();
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
  app.add_flag("--test-clock", options.test_clock,
               "TESTS ONLY: let the owner advance the vault's clock (POST /coffre/clock)");
  CLI11_PARSE(app, argc, argv);
  options.scheduler_period = std::chrono::milliseconds(scheduler_period_ms);

  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "coffre-vault: --listen wants address:port\n";
    return 2;
  }
  options.listen_address = listen.substr(0, colon);
  options.port = static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)));
  if (options.listen_address.size() > 2 && options.listen_address.front() == '[') {
    options.listen_address = options.listen_address.substr(1, options.listen_address.size() - 2);
  }

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "coffre-vault: " << s << "\n";
    return 1;
  }
  Result<std::string> passphrase = ReadTextFile(passphrase_file);
  if (!passphrase.has_value()) {
    std::cerr << "coffre-vault: " << passphrase.error() << "\n";
    return 1;
  }
  while (!passphrase->empty() && (passphrase->back() == '\n' || passphrase->back() == '\r')) {
    passphrase->pop_back();
  }
  options.passphrase = *passphrase;
  crypto::Cleanse(*passphrase);
  auto service = vault::VaultService::Start(options);
  crypto::Cleanse(options.passphrase);
  if (!service.has_value()) {
    std::cerr << "coffre-vault: " << service.error() << "\n";
    return 1;
  }
  std::cout << "coffre-vault listening on " << (*service)->public_url() << " (pid " << ::getpid()
            << ")" << ((*service)->initialised_now() ? ", new vault" : "")
            << (options.test_clock ? ", TEST CLOCK (for tests only)" : "") << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "coffre-vault stopping" << std::endl;
  (*service)->Stop();
  return 0;
}
