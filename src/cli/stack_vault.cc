#include "cli/stack_vault.h"

#include "cli/daemon.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/strings.h"
#include "config/settings_file.h"
#include "crypto/random.h"
#include "keys/vault_http_client.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr auto kVaultStartTimeout = std::chrono::seconds(60);

Status EnsurePassphrase(const std::filesystem::path& file) {
  if (std::filesystem::exists(file)) return Status::Ok();
  Bytes raw(32);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  std::string text = Base64UrlEncode(raw) + "\n";
  return WriteFileDurably(file, AsBytes(text), 0600);
}

Status StartVault(StackState& state, const std::filesystem::path& vault_dir) {
  std::vector<std::string> args = {
      "--dir", (vault_dir / "data").string(),
      "--listen", "127.0.0.1:" + std::to_string(state.ports.vault),
      "--tls-cert", (state.dir / "tls" / "server.pem").string(),
      "--tls-key", (state.dir / "tls" / "server-key.pem").string(),
      "--owner-token-file", (vault_dir / "owner-token").string(),
      "--purge-protection",
      "--public-url", state.vault_url};
  const StackPkcs11& p11 = state.pkcs11;
  if (!p11.enabled()) {
    args.insert(args.end(), {"--passphrase-file", (vault_dir / "passphrase").string()});
  } else {
    args.insert(args.end(), {"--pkcs11-pin-file", p11.pin_file, "--pkcs11-token-label",
                             p11.token_label});
    if (!p11.module.empty()) args.insert(args.end(), {"--pkcs11-module", p11.module});
    if (!p11.key_label.empty()) args.insert(args.end(), {"--pkcs11-key-label", p11.key_label});
  }
  std::filesystem::path config_file = vault_dir / "vault.toml";
  COFFRE_RETURN_IF_ERROR(
      config::WriteSettingsFile(config_file, StackConfigHeader("coffre-vault"), args));
  COFFRE_ASSIGN_OR_RETURN(int pid, SpawnDaemon(OwnBinaryDir() / "coffre-vault",
                                               {"--config", config_file.string()},
                                               vault_dir / "vault.log"));
  state.pids["vault"] = pid;
  auto ready = [&]() -> Status {
    Result<std::string> token = ReadTextFile(vault_dir / "owner-token");
    if (!token.has_value()) return Unavailable("no owner token yet");
    COFFRE_ASSIGN_OR_RETURN(auto client, keys::VaultHttpClient::Create(
                                             state.vault_url, state.ca_file, TrimEnd(*token),
                                             std::chrono::milliseconds(2000)));
    COFFRE_ASSIGN_OR_RETURN(keys::VaultReply reply, client->Call("GET", "/keys"));
    return keys::VaultHttpClient::ToStatus(reply);
  };
  return WaitUntilReady(pid, vault_dir / "vault.log", ready, kVaultStartTimeout)
      .WithContext("starting coffre-vault");
}

}  // namespace

Status EnsureVault(StackState& state) {
  std::filesystem::path vault_dir = state.dir / "vault";
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(vault_dir));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(state.dir / "hub"));
  if (!state.pkcs11.enabled()) COFFRE_RETURN_IF_ERROR(EnsurePassphrase(vault_dir / "passphrase"));
  state.vault_url = "https://localhost:" + std::to_string(state.ports.vault);
  auto it = state.pids.find("vault");
  if (it == state.pids.end() || !ProcessAlive(it->second)) {
    COFFRE_RETURN_IF_ERROR(StartVault(state, vault_dir));
  }
  COFFRE_ASSIGN_OR_RETURN(std::string owner_token, ReadTextFile(vault_dir / "owner-token"));
  state.vault_token = TrimEnd(owner_token);
  state.key_name = kStackKeyName;
  state.hub_principal = kHubPrincipal;
  COFFRE_ASSIGN_OR_RETURN(auto vault, keys::VaultHttpClient::Create(state.vault_url, state.ca_file,
                                                                    state.vault_token));

  // The customer key, with only the operations the hub uses (KeyCustody wraps and unwraps
  // its root key).
  std::string key_path = std::string("/keys/") + kStackKeyName + "/";
  COFFRE_ASSIGN_OR_RETURN(keys::VaultReply key, vault->Call("GET", key_path));
  if (key.status == 404) {
    json create = {{"kty", "RSA"}, {"key_size", state.key_size}, {"key_ops", {"wrapKey", "unwrapKey"}}};
    COFFRE_ASSIGN_OR_RETURN(key, vault->Call("POST", std::string("/keys/") + kStackKeyName + "/create",
                                             &create));
  }
  COFFRE_RETURN_IF_ERROR(keys::VaultHttpClient::ToStatus(key).WithContext("customer key"));

  // The hub's principal: exactly what a CMK consumer needs, on its key only (a leaked hub
  // token reaches no other key).
  std::filesystem::path hub_token_file = state.dir / "hub" / "vault-token";
  std::string principal_path = std::string("/coffre/principals/") + kHubPrincipal;
  json grant = {{"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}},
                {"scope", {{"keys", {kStackKeyName}}}}};
  COFFRE_ASSIGN_OR_RETURN(keys::VaultReply existing, vault->Call("GET", principal_path));
  bool need_token = existing.status == 404 || !std::filesystem::exists(hub_token_file);
  COFFRE_ASSIGN_OR_RETURN(
      keys::VaultReply put,
      vault->Call("PUT", principal_path, &grant,
                  existing.status == 404 || !need_token ? "" : "rotateToken=true"));
  COFFRE_RETURN_IF_ERROR(keys::VaultHttpClient::ToStatus(put).WithContext("hub principal"));
  if (need_token) {
    if (!put.body.is_object() || !put.body.contains("token") || !put.body["token"].is_string()) {
      return Internal("the vault issued no token for the hub principal");
    }
    std::string token = put.body["token"].get<std::string>() + "\n";
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(hub_token_file, AsBytes(token), 0600));
  }
  return Status::Ok();
}

}  // namespace coffre::cli
