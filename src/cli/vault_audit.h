#pragma once
// `coffre vault audit show|verify`: the vault owner reads the audit log and has the vault check
// its HMAC chain (GET /coffre/audit, POST /coffre/audit/verify; the key never leaves the
// vault). Stateless.

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/table.h"
#include "common/status.h"
#include "keys/vault_http_client.h"

namespace coffre::cli {

// GET /coffre/audit items: SEQ TIME PRINCIPAL OP KEY VERSION STATUS CODE CLIENT.
Table AuditTable(const nlohmann::json& items);

// Prints the last `top` entries (a table, tab-separated rows, or the vault's JSON).
Status ShowAuditLog(keys::VaultHttpClient& vault, bool json_output, bool tsv_output,
                    std::ostream& out, int top);

// Prints the verdict; DATA_LOSS (naming the first bad entry and why) if the chain is broken.
Status VerifyAuditLog(keys::VaultHttpClient& vault, bool json_output, std::ostream& out);

}  // namespace coffre::cli
