#include "cli/vault_audit.h"

#include <string>

#include "cli/vault_connection.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

// A field as text; "-" for missing or empty ones (an anonymous principal, no error code).
std::string Cell(const json& entry, const char* name) {
  auto it = entry.find(name);
  if (it == entry.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  return it->dump();
}

}  // namespace

Table AuditTable(const json& items) {
  Table t({"SEQ", "TIME", "PRINCIPAL", "OP", "KEY", "VERSION", "STATUS", "CODE", "CLIENT"});
  if (!items.is_array()) return t;
  for (const json& e : items) {
    if (!e.is_object()) continue;
    t.AddRow({Cell(e, "seq"), Cell(e, "time"), Cell(e, "principal"), Cell(e, "op"), Cell(e, "key"),
              Cell(e, "version"), Cell(e, "status"), Cell(e, "code"), Cell(e, "client")});
  }
  return t;
}

Status ShowAuditLog(keys::VaultHttpClient& vault, bool json_output, std::ostream& out, int top) {
  COFFRE_ASSIGN_OR_RETURN(json body,
                          CallVault(vault, "GET", "/coffre/audit", nullptr,
                                    "top=" + std::to_string(top)));
  if (json_output) {
    out << body.dump(2) << "\n";
  } else {
    out << AuditTable(body.is_object() ? body["value"] : json()).Render();
  }
  return Status::Ok();
}

Status VerifyAuditLog(keys::VaultHttpClient& vault, bool json_output, std::ostream& out) {
  COFFRE_ASSIGN_OR_RETURN(json body, CallVault(vault, "POST", "/coffre/audit/verify"));
  if (json_output) out << body.dump(2) << "\n";
  std::string count = Cell(body, "count");
  if (body.is_object() && body.value("ok", false)) {
    if (!json_output) {
      out << "audit log OK: " << count << " entries, chain and sealed head verified\n";
    }
    return Status::Ok();
  }
  std::string verified = count == "0"   ? "no entry verifies"
                         : count == "1" ? "entry 1 verifies"
                                        : "entries 1 to " + count + " verify";
  return DataLoss("the audit log FAILED verification at entry " + Cell(body, "firstBadSeq") +
                  ": " + Cell(body, "reason") + " (" + verified + ")");
}

}  // namespace coffre::cli
