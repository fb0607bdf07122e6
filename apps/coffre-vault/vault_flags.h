#pragma once
// coffre-vault's command line (and configuration file), read into VaultServiceOptions and the
// paths of the master key's secret.

#include <optional>
#include <string>

#include "vault/service/vault_service.h"

namespace coffre {

struct VaultFlags {
  vault::VaultServiceOptions options;
  std::string passphrase_file;  // one of these two holds the master key's secret
  std::string pin_file;
  vault::Pkcs11MasterKeyOptions pkcs11;  // with pin_file
};

// nullopt: start the vault; a number: exit with it (0 after --help or a good --check-config;
// otherwise the error has been printed).
std::optional<int> ParseVaultFlags(int argc, char** argv, VaultFlags& flags);

}  // namespace coffre
