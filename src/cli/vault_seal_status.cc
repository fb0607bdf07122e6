#include "cli/vault_seal_status.h"

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/connection_file.h"
#include "cli/table.h"
#include "vault/seal/master_key_file.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

json FromFile(const vault::MasterKeySealing& s) {
  bool token = s.kdf == vault::kPkcs11Kdf;
  json j = {{"method", token ? "pkcs11" : "passphrase"}, {"kdf", s.kdf}, {"lineage", s.lineage}};
  if (token) {
    j["token_label"] = s.token_label;
    j["key_label"] = s.key_label;
    j["mechanism"] = s.mechanism;
  }
  return j;
}

Table View(const json& status) {
  Table t;
  bool token = StringField(status, "method") == "pkcs11";
  t.AddRow({"METHOD", token ? "pkcs11" : "passphrase (" + StringField(status, "kdf") + ")"});
  if (token) {
    t.AddRow({"TOKEN", StringField(status, "token_label")});
    t.AddRow({"KEY", StringField(status, "key_label")});
    t.AddRow({"MECHANISM", StringField(status, "mechanism")});
  }
  auto found = status.find("unsealed");
  const json& unsealed = found == status.end() ? json() : *found;
  t.AddRow({"UNSEALED", !unsealed.is_boolean() ? "unknown (" + StringField(status, "reason") + ")"
                        : unsealed.get<bool>()
                            ? "true (running at " + StringField(status, "vault_url") + ")"
                            : "false (" + StringField(status, "reason") + ")"});
  std::string lineage = StringField(status, "lineage");
  t.AddRow({"LINEAGE", lineage.empty() ? "unknown until the vault runs" : lineage});
  return t;
}

}  // namespace

Status ShowSealStatus(const SealStatusOptions& options, std::string_view env_token,
                      std::ostream& out) {
  if (options.vault_dir.empty() && options.connection.dir.empty() &&
      options.connection.vault_url.empty()) {
    return InvalidArgument(
        "no vault given: use --dir DIR, --vault-dir VAULT_DIR or --vault-url URL");
  }
  std::filesystem::path vault_dir = options.vault_dir;
  if (vault_dir.empty() && !options.connection.dir.empty()) {
    vault_dir = std::filesystem::path(options.connection.dir) / "vault" / "data";
  }
  std::optional<json> offline;
  Status offline_error;
  if (!vault_dir.empty()) {
    Result<vault::MasterKeySealing> sealing =
        vault::ReadMasterKeySealing(vault_dir / "master.json");
    if (sealing.has_value()) {
      offline = FromFile(*sealing);
    } else {
      offline_error = sealing.error();
    }
  }

  std::optional<json> running;
  Status unreachable;
  Result<VaultConnection> connection = ResolveConnection(options.connection, env_token);
  if (connection.has_value()) {
    COFFRE_ASSIGN_OR_RETURN(auto vault, OpenVault(*connection));
    Result<keys::VaultReply> reply = vault->Call("GET", "/coffre/seal-status");
    if (reply.has_value()) {
      // The vault answered: a refusal (not the owner's token) is an error, not a state.
      COFFRE_RETURN_IF_ERROR(keys::VaultHttpClient::ToStatus(*reply).WithContext(
          connection->vault_url));
      if (!reply->body.is_object()) {
        return DataLoss(connection->vault_url + " answered the seal status with no JSON object");
      }
      running = reply->body;
      (*running)["vault_url"] = connection->vault_url;
    } else {
      unreachable = reply.error();
    }
  }
  if (!offline && !running) {
    if (!offline_error.ok()) return offline_error;
    if (!connection.has_value()) return connection.error();
    return unreachable.WithContext(connection->vault_url);
  }

  json status = running ? *running : *offline;
  if (running && offline) {
    // The vault checked master.json's lineage when it started; a difference now means the
    // file was replaced or edited since.
    std::string recorded = StringField(*offline, "lineage");
    if (!recorded.empty() && recorded != StringField(*running, "lineage")) {
      return DataLoss((vault_dir / "master.json").string() + " records the lineage " + recorded +
                      ", the running vault has " + StringField(*running, "lineage"));
    }
  }
  // unsealed: true (it answered), false (it did not, or the stack is down), null (no vault to
  // ask).
  status.erase("sealed");
  if (running) {
    status["unsealed"] = true;
  } else if (connection.has_value()) {
    status["unsealed"] = false;
    status["reason"] = "not reachable at " + connection->vault_url + ": " + unreachable.message();
  } else if (!options.connection.dir.empty() && options.connection.vault_url.empty()) {
    // `coffre down` leaves a connection.json that names no vault.
    status["unsealed"] = false;
    status["reason"] = "the stack is down: " + connection.error().message();
  } else {
    status["unsealed"] = nullptr;
    status["reason"] = connection.error().message();
  }
  if (options.json_output) {
    out << status.dump(2) << "\n";
  } else {
    Table view = View(status);
    out << (options.tsv_output ? view.RenderTsv() : view.Render());
  }
  return Status::Ok();
}

}  // namespace coffre::cli
