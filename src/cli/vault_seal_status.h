#pragma once
// `coffre vault seal-status`: how a vault's master key is sealed (a passphrase, or a key on a
// PKCS#11 token), whether the vault runs unsealed, and the master key's lineage id. It reads
// master.json in the vault's directory when it has one (public metadata, no secret needed), and
// asks the running vault (GET /coffre/seal-status, owner only) when it can reach one; either
// alone will do. Stateless.

#include <ostream>
#include <string>
#include <string_view>

#include "cli/vault_connection.h"
#include "common/status.h"

namespace coffre::cli {

struct SealStatusOptions {
  ConnectionOptions connection;
  std::string vault_dir;  // coffre-vault's --dir; with --dir STACK only: STACK/vault/data
  bool json_output = false;
  bool tsv_output = false;  // the "FIELD  value" rows tab-separated
};

// INVALID_ARGUMENT when the options name neither a vault directory nor a vault.
Status ShowSealStatus(const SealStatusOptions& options, std::string_view env_token,
                      std::ostream& out);

}  // namespace coffre::cli
