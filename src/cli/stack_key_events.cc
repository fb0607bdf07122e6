#include "cli/stack_key_events.h"

#include "common/files.h"
#include "crypto/secret_bytes.h"
#include "keys/vault_http_client.h"

namespace coffre::cli {

std::string HubKeyEventsUrl(const StackState& state) {
  return "https://localhost:" + std::to_string(state.ports.https) + "/$coffre/keyevents";
}

Status EnsureKeyEvents(const StackState& state) {
  std::filesystem::path secret_file = state.dir / "hub" / "key-events-secret";
  if (std::filesystem::exists(secret_file)) return Status::Ok();
  COFFRE_ASSIGN_OR_RETURN(std::string ca_pem, ReadTextFile(state.ca_file));
  COFFRE_ASSIGN_OR_RETURN(auto vault, keys::VaultHttpClient::Create(state.vault_url, state.ca_file,
                                                                    state.vault_token));
  nlohmann::json body = {{"endpoint", HubKeyEventsUrl(state)}, {"caPem", ca_pem}};
  COFFRE_ASSIGN_OR_RETURN(keys::VaultReply reply,
                          vault->Call("POST", "/coffre/eventsubscriptions", &body));
  COFFRE_RETURN_IF_ERROR(
      keys::VaultHttpClient::ToStatus(reply).WithContext("subscribing the hub to key events"));
  if (!reply.body.is_object() || !reply.body["secret"].is_string()) {
    return Internal("the vault returned no secret for the hub's event subscription");
  }
  std::string& secret = reply.body["secret"].get_ref<std::string&>();
  secret += "\n";
  Status written = WriteFileDurably(secret_file, AsBytes(secret), 0600);
  crypto::Cleanse(secret);
  return written;
}

}  // namespace coffre::cli
