#include "cli/vault_commands.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/vault_audit.h"
#include "cli/vault_connection.h"
#include "cli/vault_seal_status.h"
#include "cli/vault_views.h"
#include "common/encoding.h"
#include "common/files.h"
#include "crypto/secret_bytes.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

// What a command needs once connected; it lives for one command's run.
struct Context {
  keys::VaultHttpClient& vault;
  bool json_output;
  std::ostream& out;
  bool tsv_output = false;  // --output tsv: tables as tab-separated rows, no headers
};

using Handler = std::function<Status(Context&)>;

struct Command {
  CLI::App* app;
  std::string label;  // "coffre vault key show": the prefix of its errors
  Handler run;
};

struct CreateOptions {
  std::string kty = "RSA";
  int size = 0;  // 0: the vault's default
  std::vector<std::string> ops;
  bool disabled = false;
};

// `coffre vault key policy set`: ISO 8601 durations, empty when not given.
struct PolicyOptions {
  std::string rotate_after, rotate_before_expiry, notify_before_expiry, expires_in;
};

struct EventsOptions {
  std::string endpoint;
  std::vector<std::string> types;
  std::string ca_file;      // the endpoint's CA, sent to the vault as PEM
  std::string secret_file;  // where to write the new secret instead of printing it
};

// Every option of every vault command: only the selected command's are set.
struct Options {
  ConnectionOptions connection;
  std::string output = "table";  // table, json or tsv
  std::string name;  // the key or principal
  std::string version;
  CreateOptions create;
  PolicyOptions policy;
  std::vector<std::string> permissions;
  std::vector<std::string> keys;  // access set --keys: the grant's key scope
  bool rotate_token = false;
  std::string file;  // key backup and restore
  int top = 20;  // audit show
  EventsOptions events;
};

// The table as --output says: aligned columns, or tab-separated rows.
void PrintTable(Context& c, const Table& table) {
  c.out << (c.tsv_output ? table.RenderTsv() : table.Render());
}

// The vault's body as JSON (nothing for an empty body), or the table `view` makes of it.
Status Print(Context& c, const json& body, const std::function<Table(const json&)>& view) {
  if (c.json_output) {
    if (!body.is_null()) c.out << body.dump(2) << "\n";
  } else {
    PrintTable(c, view(body));
  }
  return Status::Ok();
}

// For replies without a body (204).
Status PrintDone(Context& c, const std::string& message) {
  if (!c.json_output) c.out << message << "\n";
  return Status::Ok();
}

// A list body as ListAll builds it always holds "value".
const json& Items(const json& list) { return list["value"]; }

// "/keys/{name}/{tail}"; an empty tail names the latest version.
std::string KeyPath(const std::string& name, const std::string& tail = "") {
  return "/keys/" + PathSegment(name) + "/" + tail;
}

std::string DeletedKeyPath(const std::string& name) { return "/deletedkeys/" + PathSegment(name); }

std::string PrincipalPath(const std::string& name) {
  return "/coffre/principals/" + PathSegment(name);
}

Status CreateKey(Context& c, const std::string& name, const CreateOptions& o) {
  json body = {{"kty", o.kty}, {"attributes", {{"enabled", !o.disabled}}}};
  if (o.size > 0) body["key_size"] = o.size;
  if (!o.ops.empty()) body["key_ops"] = o.ops;
  COFFRE_ASSIGN_OR_RETURN(json bundle, CallVault(c.vault, "POST", KeyPath(name, "create"), &body));
  return Print(c, bundle, KeyDetails);
}

Status ShowKey(Context& c, const std::string& name, const std::string& version) {
  COFFRE_ASSIGN_OR_RETURN(json bundle,
                          CallVault(c.vault, "GET", KeyPath(name, PathSegment(version))));
  return Print(c, bundle, KeyDetails);
}

// List items carry no kty, modulus or version: one GET per key fills them in. A key deleted
// in between, or a caller without the "get" permission, still gets a row from the item.
Result<json> LatestOrItem(Context& c, const json& item) {
  std::string name = KeyNameOf(item);
  if (name.empty()) return item;
  Result<json> bundle = CallVault(c.vault, "GET", KeyPath(name));
  if (bundle.has_value()) return bundle;
  StatusCode code = bundle.error().code();
  if (code == StatusCode::kNotFound || code == StatusCode::kPermissionDenied) return item;
  return bundle;
}

Status ListKeys(Context& c) {
  COFFRE_ASSIGN_OR_RETURN(json list, ListAll(c.vault, "/keys"));
  if (c.json_output) return Print(c, list, nullptr);
  Table table = KeyListTable();
  for (const json& item : Items(list)) {
    COFFRE_ASSIGN_OR_RETURN(json row, LatestOrItem(c, item));
    AddKeyRow(table, row);
  }
  PrintTable(c, table);
  return Status::Ok();
}

Status ListVersions(Context& c, const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(json list, ListAll(c.vault, KeyPath(name, "versions")));
  return Print(c, list, [](const json& l) { return VersionsTable(Items(l)); });
}

Status RotateKey(Context& c, const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(json bundle, CallVault(c.vault, "POST", KeyPath(name, "rotate")));
  return Print(c, bundle, KeyDetails);
}

Status SetKeyEnabled(Context& c, const std::string& name, const std::string& version,
                     bool enabled) {
  json body = {{"attributes", {{"enabled", enabled}}}};
  COFFRE_ASSIGN_OR_RETURN(json bundle,
                          CallVault(c.vault, "PATCH", KeyPath(name, PathSegment(version)), &body));
  return Print(c, bundle, KeyDetails);
}

Status DeleteKey(Context& c, const std::string& name) {
  // No trailing slash: DELETE /keys/{name}/ is not the delete operation.
  COFFRE_ASSIGN_OR_RETURN(json bundle, CallVault(c.vault, "DELETE", "/keys/" + PathSegment(name)));
  return Print(c, bundle, KeyDetails);
}

Status RecoverKey(Context& c, const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(json bundle,
                          CallVault(c.vault, "POST", DeletedKeyPath(name) + "/recover"));
  return Print(c, bundle, KeyDetails);
}

Status PurgeKey(Context& c, const std::string& name) {
  COFFRE_RETURN_IF_ERROR(CallVault(c.vault, "DELETE", DeletedKeyPath(name)).status());
  return PrintDone(c, "purged deleted key " + name);
}

// The blob is sealed by the vault; the file holds its bytes as the SDK's backupKey returns them.
Status BackupKey(Context& c, const std::string& name, const std::string& file) {
  if (std::filesystem::exists(file)) {
    return AlreadyExists(file + " exists: a backup never replaces a file, choose another name");
  }
  COFFRE_ASSIGN_OR_RETURN(json reply, CallVault(c.vault, "POST", KeyPath(name, "backup")));
  if (!reply.is_object() || !reply.contains("value") || !reply["value"].is_string()) {
    return DataLoss("the vault's backup reply holds no value");
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes blob, Base64UrlDecode(reply["value"].get<std::string>()));
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(file, blob, 0600));
  return PrintDone(c, "backed up key " + name + " (all versions) to " + file);
}

Status RestoreKey(Context& c, const std::string& file) {
  COFFRE_ASSIGN_OR_RETURN(Bytes blob, ReadFile(file));
  json body = {{"value", Base64UrlEncode(blob)}};
  COFFRE_ASSIGN_OR_RETURN(json bundle, CallVault(c.vault, "POST", "/keys/restore", &body));
  return Print(c, bundle, KeyDetails);
}

Status ListDeletedKeys(Context& c) {
  COFFRE_ASSIGN_OR_RETURN(json list, ListAll(c.vault, "/deletedkeys"));
  return Print(c, list, [](const json& l) { return DeletedKeysTable(Items(l)); });
}

Status ShowPolicy(Context& c, const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(json policy, CallVault(c.vault, "GET", KeyPath(name, "rotationpolicy")));
  return Print(c, policy, PolicyDetails);
}

// Replaces the whole policy, as the vault's PUT does; the vault validates the durations and
// adds its default Notify (30 days before expiry) when none is given.
Status SetPolicy(Context& c, const std::string& name, const PolicyOptions& o) {
  json actions = json::array();
  auto add = [&](const char* type, const char* trigger, const std::string& time) {
    if (time.empty()) return;
    actions.push_back({{"trigger", {{trigger, time}}}, {"action", {{"type", type}}}});
  };
  add("Rotate", "timeAfterCreate", o.rotate_after);
  add("Rotate", "timeBeforeExpiry", o.rotate_before_expiry);
  add("Notify", "timeBeforeExpiry", o.notify_before_expiry);
  json body = {{"lifetimeActions", actions}, {"attributes", json::object()}};
  if (!o.expires_in.empty()) body["attributes"]["expiryTime"] = o.expires_in;
  COFFRE_ASSIGN_OR_RETURN(json policy,
                          CallVault(c.vault, "PUT", KeyPath(name, "rotationpolicy"), &body));
  return Print(c, policy, PolicyDetails);
}

Status SetAccess(Context& c, const std::string& principal,
                 const std::vector<std::string>& permissions, const std::vector<std::string>& keys,
                 bool rotate_token) {
  json body = {{"permissions", {{"keys", permissions}}}};
  if (!keys.empty()) body["scope"] = {{"keys", keys}};
  COFFRE_ASSIGN_OR_RETURN(json reply, CallVault(c.vault, "PUT", PrincipalPath(principal), &body,
                                                rotate_token ? "rotateToken=true" : ""));
  if (reply.is_object() && reply.contains("token") && !c.json_output) {
    std::cerr << "Store the token now: the vault keeps only its hash.\n";
  }
  return Print(c, reply, PrincipalDetails);
}

Status RemoveAccess(Context& c, const std::string& principal) {
  COFFRE_RETURN_IF_ERROR(CallVault(c.vault, "DELETE", PrincipalPath(principal)).status());
  return PrintDone(c, "removed principal " + principal);
}

Status ListAccess(Context& c) {
  COFFRE_ASSIGN_OR_RETURN(json list, ListAll(c.vault, "/coffre/principals"));
  return Print(c, list, [](const json& l) { return PrincipalsTable(Items(l)); });
}

Status ShowAccess(Context& c, const std::string& principal) {
  COFFRE_ASSIGN_OR_RETURN(json reply, CallVault(c.vault, "GET", PrincipalPath(principal)));
  return Print(c, reply, PrincipalDetails);
}

Status AddSubscription(Context& c, const EventsOptions& o) {
  json body = {{"endpoint", o.endpoint}};
  if (!o.types.empty()) body["eventTypes"] = o.types;
  if (!o.ca_file.empty()) {
    COFFRE_ASSIGN_OR_RETURN(std::string ca, ReadTextFile(o.ca_file));
    body["caPem"] = ca;
  }
  COFFRE_ASSIGN_OR_RETURN(json reply, CallVault(c.vault, "POST", "/coffre/eventsubscriptions", &body));
  if (reply.is_object() && reply["secret"].is_string()) {
    std::string& secret = reply["secret"].get_ref<std::string&>();
    if (!o.secret_file.empty()) {
      std::string line = secret + "\n";
      Status written = WriteFileDurably(o.secret_file, AsBytes(line), 0600);
      crypto::Cleanse(line);
      crypto::Cleanse(secret);
      reply.erase("secret");
      COFFRE_RETURN_IF_ERROR(written.WithContext("the subscription exists; its secret"));
    } else if (!c.json_output) {
      std::cerr << "Store the secret now: the vault shows it only once.\n";
    }
  }
  return Print(c, reply, SubscriptionDetails);
}

Status ListSubscriptions(Context& c) {
  COFFRE_ASSIGN_OR_RETURN(json list, ListAll(c.vault, "/coffre/eventsubscriptions"));
  return Print(c, list, [](const json& l) { return SubscriptionsTable(Items(l)); });
}

Status RemoveSubscription(Context& c, const std::string& id) {
  COFFRE_RETURN_IF_ERROR(
      CallVault(c.vault, "DELETE", "/coffre/eventsubscriptions/" + PathSegment(id)).status());
  return PrintDone(c, "removed event subscription " + id);
}

void AddConnectionOptions(CLI::App& cmd, Options& o) {
  cmd.add_option("--dir", o.connection.dir, "stack directory: DIR/connection.json names the vault");
  cmd.add_option("--vault-url", o.connection.vault_url, "the vault, e.g. https://localhost:8443");
  cmd.add_option("--ca-file", o.connection.ca_file, "the vault's CA (default: the system's)");
  cmd.add_option("--token-file", o.connection.token_file,
                 "file holding the vault token (default: DIR's, else $COFFRE_VAULT_TOKEN)");
  cmd.add_option("--output", o.output,
                 "table (default), json (the vault's reply), or tsv (tab-separated rows)")
      ->check(CLI::IsMember({"table", "json", "tsv"}));
}

// Registers one command of `group` ("key", "access" or "events") with the connection options.
CLI::App* AddCommand(CLI::App& group, std::vector<Command>& commands, Options& o,
                     const std::string& name, const std::string& description, Handler run) {
  CLI::App* cmd = group.add_subcommand(name, description);
  AddConnectionOptions(*cmd, o);
  commands.push_back({cmd, "coffre vault " + group.get_name() + " " + name, std::move(run)});
  return cmd;
}

// `coffre vault key policy show|set NAME`.
void AddPolicyCommands(CLI::App& key, std::vector<Command>& commands, Options& o) {
  CLI::App* policy = key.add_subcommand("policy", "show or set a key's rotation policy");
  policy->require_subcommand(1);
  auto named = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd = AddCommand(*policy, commands, o, name, description, std::move(run));
    commands.back().label = "coffre vault key policy " + name;
    cmd->add_option("name", o.name, "key name")->required();
    return cmd;
  };
  named("show", "show a key's rotation policy (the default one until one is set)",
        [&o](Context& c) { return ShowPolicy(c, o.name); });
  CLI::App* set = named("set", "replace a key's rotation policy (durations in ISO 8601)",
                        [&o](Context& c) { return SetPolicy(c, o.name, o.policy); });
  CLI::Option* after = set->add_option("--rotate-after", o.policy.rotate_after,
                                       "rotate this long after a version's creation, e.g. P90D");
  set->add_option("--rotate-before-expiry", o.policy.rotate_before_expiry,
                  "rotate this long before a version's expiry, e.g. P30D (needs --expires-in)")
      ->excludes(after);
  set->add_option("--notify-before-expiry", o.policy.notify_before_expiry,
                  "publish KeyNearExpiry this long before expiry (default: P30D)");
  set->add_option("--expires-in", o.policy.expires_in,
                  "the expiry that rotation gives each new version, e.g. P2Y");
}

void AddKeyCommands(CLI::App& vault, std::vector<Command>& commands, Options& o) {
  CLI::App* key =
      vault.add_subcommand("key", "create, inspect, rotate, disable, delete, back up keys");
  key->require_subcommand(1);
  auto named = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd = AddCommand(*key, commands, o, name, description, std::move(run));
    cmd->add_option("name", o.name, "key name")->required();
    return cmd;
  };
  auto with_version = [&](CLI::App* cmd) {
    cmd->add_option("--version", o.version, "a version (default: the latest)");
  };

  CLI::App* create = named("create", "create a key, or a new version of an existing one",
                           [&o](Context& c) { return CreateKey(c, o.name, o.create); });
  create->add_option("--kty", o.create.kty, "key type (default: RSA)")
      ->check(CLI::IsMember({"RSA", "RSA-HSM", "oct-HSM"}));
  create->add_option("--size", o.create.size, "key size in bits (default: the vault's)")
      ->check(CLI::PositiveNumber);
  create->add_option("--ops", o.create.ops, "allowed operations, e.g. wrapKey,unwrapKey")
      ->delimiter(',');
  create->add_flag("--disabled", o.create.disabled, "create it disabled");

  with_version(
      named("show", "show a key", [&o](Context& c) { return ShowKey(c, o.name, o.version); }));
  AddCommand(*key, commands, o, "list", "list the keys with their latest version", ListKeys);
  named("versions", "list a key's versions", [&o](Context& c) { return ListVersions(c, o.name); });
  named("rotate", "make a new version of a key", [&o](Context& c) { return RotateKey(c, o.name); });
  with_version(named("disable", "disable a key version",
                     [&o](Context& c) { return SetKeyEnabled(c, o.name, o.version, false); }));
  with_version(named("enable", "enable a key version",
                     [&o](Context& c) { return SetKeyEnabled(c, o.name, o.version, true); }));
  named("delete", "delete a key (recoverable until it is purged)",
        [&o](Context& c) { return DeleteKey(c, o.name); });
  named("recover", "recover a deleted key", [&o](Context& c) { return RecoverKey(c, o.name); });
  named("purge", "destroy a deleted key for good",
        [&o](Context& c) { return PurgeKey(c, o.name); });
  AddCommand(*key, commands, o, "list-deleted", "list the deleted keys", ListDeletedKeys);
  AddPolicyCommands(*key, commands, o);
  named("backup", "write a backup of a key (all versions, sealed by the vault) to a file",
        [&o](Context& c) { return BackupKey(c, o.name, o.file); })
      ->add_option("--file", o.file, "the file to write (mode 0600; must not exist)")
      ->required();
  AddCommand(*key, commands, o, "restore",
             "restore a key from a backup file into a vault of the same master key",
             [&o](Context& c) { return RestoreKey(c, o.file); })
      ->add_option("--file", o.file, "a file written by `coffre vault key backup`")
      ->required()
      ->check(CLI::ExistingFile);
}

void AddAccessCommands(CLI::App& vault, std::vector<Command>& commands, Options& o) {
  CLI::App* access = vault.add_subcommand("access", "grant and revoke principals' key permissions");
  access->require_subcommand(1);
  auto named = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd = AddCommand(*access, commands, o, name, description, std::move(run));
    cmd->add_option("principal", o.name, "principal name")->required();
    return cmd;
  };

  CLI::App* set = named("set", "create a principal or replace its permissions", [&o](Context& c) {
    return SetAccess(c, o.name, o.permissions, o.keys, o.rotate_token);
  });
  set->add_option("--permissions", o.permissions, "key permissions, e.g. get,wrapKey,unwrapKey")
      ->delimiter(',')
      ->required();
  set->add_option("--keys", o.keys,
                  "limit the grant to these keys, e.g. hub-cmk (default: every key)")
      ->delimiter(',');
  set->add_flag("--rotate-token", o.rotate_token, "issue a new token (the old one stops working)");
  named("remove", "delete a principal and its token",
        [&o](Context& c) { return RemoveAccess(c, o.name); });
  AddCommand(*access, commands, o, "list", "list the principals", ListAccess);
  named("show", "show a principal", [&o](Context& c) { return ShowAccess(c, o.name); });
}

void AddAuditCommands(CLI::App& vault, std::vector<Command>& commands, Options& o) {
  CLI::App* audit = vault.add_subcommand("audit", "read and verify the vault's audit log (owner)");
  audit->require_subcommand(1);
  CLI::App* show =
      AddCommand(*audit, commands, o, "show", "the newest entries, oldest first",
                 [&o](Context& c) {
                   return ShowAuditLog(c.vault, c.json_output, c.tsv_output, c.out, o.top);
                 });
  show->add_option("--top", o.top, "how many entries (1-1000, default 20)")
      ->check(CLI::Range(1, 1000));
  AddCommand(*audit, commands, o, "verify", "have the vault check the log's HMAC chain",
             [](Context& c) { return VerifyAuditLog(c.vault, c.json_output, c.out); });
}

void AddEventCommands(CLI::App& vault, std::vector<Command>& commands, Options& o) {
  CLI::App* events =
      vault.add_subcommand("events", "webhook subscriptions to key events (Event Grid schema)");
  events->require_subcommand(1);
  CLI::App* add = AddCommand(*events, commands, o, "add",
                             "subscribe an https endpoint; prints the signing secret once",
                             [&o](Context& c) { return AddSubscription(c, o.events); });
  add->add_option("--endpoint", o.events.endpoint, "https URL that receives the POSTs")->required();
  add->add_option("--types", o.events.types,
                  "only these event types, e.g. KeyDisabled,KeyNewVersionCreated (default: all)")
      ->delimiter(',');
  add->add_option("--ca", o.events.ca_file, "the endpoint's CA (PEM), if not a public one");
  add->add_option("--secret-file", o.events.secret_file,
                  "write the secret to this file (0600) instead of printing it");
  AddCommand(*events, commands, o, "list", "list the subscriptions (never their secrets)",
             ListSubscriptions);
  AddCommand(*events, commands, o, "remove", "delete a subscription",
             [&o](Context& c) { return RemoveSubscription(c, o.name); })
      ->add_option("id", o.name, "subscription id")
      ->required();
}

Status Execute(const Command& cmd, const VaultConnection& connection, const std::string& output) {
  COFFRE_ASSIGN_OR_RETURN(auto vault, OpenVault(connection));
  Context c{*vault, output == "json", std::cout, output == "tsv"};
  return cmd.run(c);
}

}  // namespace

struct VaultCommands::State {
  Options options;
  std::vector<Command> commands;
  CLI::App* vault = nullptr;
  CLI::App* seal_status = nullptr;  // runs without a vault too: not one of `commands`
  std::string vault_dir;
};

VaultCommands::VaultCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  state_->vault = app.add_subcommand("vault", "manage a vault's keys and who may use them");
  state_->vault->require_subcommand(1);
  AddKeyCommands(*state_->vault, state_->commands, state_->options);
  AddAccessCommands(*state_->vault, state_->commands, state_->options);
  AddAuditCommands(*state_->vault, state_->commands, state_->options);
  state_->seal_status = state_->vault->add_subcommand(
      "seal-status", "how the master key is sealed, whether the vault runs, its lineage id");
  AddConnectionOptions(*state_->seal_status, state_->options);
  state_->seal_status->add_option("--vault-dir", state_->vault_dir,
                                  "the vault's directory (default with --dir: DIR/vault/data)");
  AddEventCommands(*state_->vault, state_->commands, state_->options);
}

VaultCommands::~VaultCommands() = default;

bool VaultCommands::Selected() const { return state_->vault->parsed(); }

int VaultCommands::Run() {
  const Options& o = state_->options;
  const char* env = std::getenv("COFFRE_VAULT_TOKEN");
  if (state_->seal_status->parsed()) {
    SealStatusOptions seal{o.connection, state_->vault_dir, o.output == "json",
                           o.output == "tsv"};
    Status s = ShowSealStatus(seal, env == nullptr ? "" : env, std::cout);
    if (s.ok()) return 0;
    std::cerr << "coffre vault seal-status: " << s << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  for (const Command& cmd : state_->commands) {
    if (!cmd.app->parsed()) continue;
    Result<VaultConnection> connection = ResolveConnection(o.connection, env == nullptr ? "" : env);
    if (!connection.has_value()) {
      std::cerr << cmd.label << ": " << connection.error() << "\n";
      return connection.error().code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    if (Status s = Execute(cmd, *connection, o.output); !s.ok()) {
      std::cerr << cmd.label << ": " << s << "\n";
      return 1;
    }
    return 0;
  }
  return 2;  // unreachable: CLI11 requires a command
}

}  // namespace coffre::cli
