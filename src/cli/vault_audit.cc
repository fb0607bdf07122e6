#include "cli/vault_audit.h"

#include <algorithm>
#include <string>
#include <vector>

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
  std::vector<std::string> header = {"SEQ",     "TIME",   "PRINCIPAL", "OP",    "KEY",
                                     "VERSION", "STATUS", "CODE",      "CLIENT"};
  if (!items.is_array()) return Table(header);
  // Summaries of sampled requests carry a count: a column only when one is shown.
  bool counts = std::any_of(items.begin(), items.end(),
                            [](const json& e) { return e.is_object() && e.contains("count"); });
  if (counts) header.push_back("COUNT");
  Table t(header);
  for (const json& e : items) {
    if (!e.is_object()) continue;
    std::vector<std::string> row = {Cell(e, "seq"),     Cell(e, "time"),   Cell(e, "principal"),
                                    Cell(e, "op"),      Cell(e, "key"),    Cell(e, "version"),
                                    Cell(e, "status"),  Cell(e, "code"),   Cell(e, "client")};
    if (counts) row.push_back(Cell(e, "count"));
    t.AddRow(row);
  }
  return t;
}

Status ShowAuditLog(keys::VaultHttpClient& vault, bool json_output, bool tsv_output,
                    std::ostream& out, int top) {
  COFFRE_ASSIGN_OR_RETURN(json body,
                          CallVault(vault, "GET", "/coffre/audit", nullptr,
                                    "top=" + std::to_string(top)));
  if (json_output) {
    out << body.dump(2) << "\n";
  } else {
    Table table = AuditTable(body.is_object() ? body["value"] : json());
    out << (tsv_output ? table.RenderTsv() : table.Render());
  }
  return Status::Ok();
}

Status VerifyAuditLog(keys::VaultHttpClient& vault, bool json_output, std::ostream& out) {
  COFFRE_ASSIGN_OR_RETURN(json body, CallVault(vault, "POST", "/coffre/audit/verify"));
  if (json_output) out << body.dump(2) << "\n";
  std::string count = Cell(body, "count");
  // Entries retention dropped (the files removed) are not checked: verify says so.
  const json* dropped = body.is_object() && body.contains("dropped") && body["dropped"].is_object()
                            ? &body["dropped"]
                            : nullptr;
  std::string dropped_text;
  uint64_t first = 1;
  if (dropped != nullptr) {
    dropped_text = "; entries 1 to " + Cell(*dropped, "lastSeq") + " were dropped by retention (" +
                   Cell(*dropped, "files") + " files, " + Cell(*dropped, "bytes") + " bytes)";
    if ((*dropped)["lastSeq"].is_number_unsigned()) {
      first = (*dropped)["lastSeq"].get<uint64_t>() + 1;
    }
  }
  uint64_t n = body.is_object() && body["count"].is_number_unsigned()
                   ? body["count"].get<uint64_t>()
                   : 0;
  bool ok = body.is_object() && body["ok"].is_boolean() && body["ok"].get<bool>();
  if (ok) {
    if (!json_output) {
      out << "audit log OK: " << count << " entries";
      if (dropped != nullptr) out << " (" << first << " to " << (first + n - 1) << ")";
      out << ", chain and sealed head verified" << dropped_text << "\n";
    }
    return Status::Ok();
  }
  std::string verified = n == 0   ? "no entry verifies"
                         : n == 1 ? "entry " + std::to_string(first) + " verifies"
                                  : "entries " + std::to_string(first) + " to " +
                                        std::to_string(first + n - 1) + " verify";
  verified += dropped_text;
  return DataLoss("the audit log FAILED verification at entry " + Cell(body, "firstBadSeq") +
                  ": " + Cell(body, "reason") + " (" + verified + ")");
}

}  // namespace coffre::cli
