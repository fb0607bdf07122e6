#pragma once
// The vault part of the local stack: starts coffre-vault for DIR (unless it runs already),
// waits until it answers, and makes sure the customer key (RSA-3072, in a vault with purge
// protection) and the hub's principal (exactly get, wrapKey, unwrapKey) exist.
//   DIR/vault/passphrase    the master key passphrase (random, 0600), unless a PKCS#11 token
//                           seals the master key (StackPkcs11)
//   DIR/vault/owner-token   the key owner's token (every permission)
//   DIR/vault/data/         the vault's sealed store
//   DIR/vault/vault.log     its log
//   DIR/hub/vault-token     the hub principal's token, for the hub's configuration

#include "cli/local_stack.h"

namespace coffre::cli {

inline constexpr const char* kStackKeyName = "hub-cmk";
inline constexpr const char* kHubPrincipal = "hub";

Status EnsureVault(StackState& state);

}  // namespace coffre::cli
