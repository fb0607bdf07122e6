// coffre-vault: the customer's key vault. Wiring only: flags (vault_flags.cc), the master key's
// secret, signals, VaultService.
#include <sys/stat.h>

#include <iostream>

#include "common/files.h"
#include "common/log.h"
#include "config/daemon_signals.h"
#include "common/numbers.h"
#include "crypto/secret_bytes.h"
#include "crypto/secure_heap.h"
#include "vault/service/vault_service.h"
#include "vault_flags.h"


int main(int argc, char** argv) {
  using namespace coffre;
  ::umask(077);  // every file and directory the vault creates is its own: 0600 / 0700
  VaultFlags flags;
  if (std::optional<int> exit_code = ParseVaultFlags(argc, argv, flags)) return *exit_code;
  vault::VaultServiceOptions& options = flags.options;
  const std::string& passphrase_file = flags.passphrase_file;
  const std::string& pin_file = flags.pin_file;
  vault::Pkcs11MasterKeyOptions& pkcs11 = flags.pkcs11;

  // Before any thread starts, so that only WaitForStop receives them.
  sigset_t signals = config::BlockDaemonSignals();

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "coffre-vault: " << s << "\n";
    return 1;
  }
  // The passphrase or the PIN, without the file's line end.
  Result<std::string> secret = ReadTextFile(pin_file.empty() ? passphrase_file : pin_file);
  if (!secret.has_value()) {
    std::cerr << "coffre-vault: " << secret.error() << "\n";
    return 1;
  }
  std::string_view trimmed = *secret;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) {
    trimmed.remove_suffix(1);
  }
  if (pin_file.empty()) {
    options.passphrase = std::string(trimmed);
  } else {
    Result<crypto::SecretBytes> pin = crypto::SecretBytes::CopyOf(AsBytes(trimmed));
    if (!pin.has_value()) {
      crypto::Cleanse(*secret);
      std::cerr << "coffre-vault: " << pin.error() << "\n";
      return 1;
    }
    pkcs11.pin = std::move(*pin);
    options.pkcs11 = std::move(pkcs11);
  }
  crypto::Cleanse(*secret);
  auto service = vault::VaultService::Start(options);
  crypto::Cleanse(options.passphrase);
  if (options.pkcs11.has_value()) options.pkcs11->pin.Wipe();
  if (!service.has_value()) {
    DaemonLine("coffre-vault", LogLevel::kError, service.error().ToString());
    return 1;
  }
  DaemonLine("coffre-vault", LogLevel::kInfo,
             "listening on " + (*service)->public_url() + " (pid " + std::to_string(::getpid()) +
                 ")" + ((*service)->initialised_now() ? ", new vault" : "") +
                 (options.test_clock ? ", TEST CLOCK (for tests only)" : ""));
  config::WaitForStop(signals, [&service]() -> Result<std::string> {
    COFFRE_RETURN_IF_ERROR((*service)->ReloadCertificates());
    return (*service)->certificate_subject();
  });
  DaemonLine("coffre-vault", LogLevel::kInfo, "stopping");
  (*service)->Stop();
  return 0;
}
