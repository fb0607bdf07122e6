#include "cli/hub_commands.h"

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/device_simulate.h"
#include "cli/hub_backup_commands.h"
#include "cli/hub_command.h"
#include "cli/hub_connection.h"
#include "cli/eventhub_connection.h"
#include "cli/hub_monitor.h"
#include "cli/hub_monitor_amqp.h"
#include "cli/hub_twin_commands.h"
#include "cli/progress.h"
#include "common/time_format.h"
#include "cli/table.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/strings.h"
#include "hub/sas_token.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

// The port the Azure SDKs' MQTT transports use unless a GatewayHostName says otherwise.
constexpr uint16_t kDefaultMqttPort = 8883;
// CLI11's PositiveNumber prints a 300-digit bound when it refuses a value.
constexpr int kMaxSeconds = std::numeric_limits<int>::max();

// Every option of every hub command: only the selected command's are set.
struct Options : CommonOptions {
  std::string device_id;
  bool disabled = false;
  int64_t duration_s = 3600;
  std::string group;
  std::optional<int> check_interval_ms, grace_s;
  std::string expired_key;
  std::string key_uri, vault_token_file, vault_ca_file, key_events_secret_file;
  MonitorOptions monitor;
  bool amqp = false;  // monitor-events through the Event Hubs-compatible endpoint
  std::string eventhub_connection_string;
  int timeout_s = 0;
  std::optional<int> partition;  // verify: one partition, else all
  bool erase_data = false;       // device delete: erase its data too
  // device send
  std::string message;
  std::vector<std::string> message_properties;  // "name=value"
  std::string content_type;
  int count = 1;
  SimulateOptions simulate;  // device simulate (its properties from message_properties)
};

std::string AuthType(const json& device) { return Cell(Member(device, "authentication"), "type"); }

Table DeviceDetails(const json& d) {
  Table t;
  t.AddRow({"DEVICE ID", Cell(d, "deviceId")});
  t.AddRow({"STATUS", Cell(d, "status")});
  t.AddRow({"STATUS REASON", Cell(d, "statusReason")});
  t.AddRow({"CONNECTION", Cell(d, "connectionState")});
  t.AddRow({"AUTH", AuthType(d)});
  t.AddRow({"LAST ACTIVITY", Cell(d, "lastActivityTime")});
  t.AddRow({"C2D MESSAGES", Cell(d, "cloudToDeviceMessageCount")});
  t.AddRow({"GENERATION ID", Cell(d, "generationId")});
  t.AddRow({"ETAG", Cell(d, "etag")});
  return t;
}

Table DevicesTable(const json& devices) {
  Table t({"DEVICE ID", "STATUS", "CONNECTION", "AUTH", "LAST ACTIVITY"});
  for (const json& d : devices.is_array() ? devices : json::array()) {
    t.AddRow({Cell(d, "deviceId"), Cell(d, "status"), Cell(d, "connectionState"), AuthType(d),
              Cell(d, "lastActivityTime")});
  }
  return t;
}

std::string DevicePath(const std::string& id) { return "/devices/" + PercentEncode(id); }

Status CreateDevice(Context& c, const std::string& id, bool disabled) {
  // Null keys: the hub generates both.
  json body = {{"deviceId", id},
               {"status", disabled ? "disabled" : "enabled"},
               {"authentication",
                {{"type", "sas"},
                 {"symmetricKey", {{"primaryKey", nullptr}, {"secondaryKey", nullptr}}}}}};
  COFFRE_ASSIGN_OR_RETURN(json device, c.hub.Call("PUT", DevicePath(id), &body));
  return Print(c, device, DeviceDetails);
}

Status ShowDevice(Context& c, const std::string& id) {
  COFFRE_ASSIGN_OR_RETURN(json device, c.hub.Call("GET", DevicePath(id)));
  return Print(c, device, DeviceDetails);
}

Status ListDevices(Context& c) {
  COFFRE_ASSIGN_OR_RETURN(json devices, c.hub.Call("GET", "/devices"));
  return Print(c, devices, DevicesTable);
}

Table ErasureDetails(const json& e) {
  Table t;
  t.AddRow({"DEVICE ID", Cell(e, "deviceId")});
  t.AddRow({"KEY DESTROYED", Cell(e, "keyNumber") == "0" ? "none (it never sent telemetry)"
                                                         : "device key " + Cell(e, "keyNumber")});
  t.AddRow({"ERASED AT", Cell(e, "erasedAt")});
  t.AddRow({"ERASED BY", Cell(e, "erasedBy")});
  t.AddRow({"IDENTITY DELETED", Cell(e, "deviceDeleted")});
  t.AddRow({"C2D PURGED", Cell(e, "c2dPurged")});
  return t;
}

Table ErasuresTable(const json& list) {
  Table t({"DEVICE ID", "KEY", "ERASED AT", "ERASED BY"});
  for (const json& e : list) {
    t.AddRow({Cell(e, "deviceId"), Cell(e, "keyNumber"), Cell(e, "erasedAt"), Cell(e, "erasedBy")});
  }
  return t;
}

// The device, its twins, its queued messages and every telemetry record it sent (its key
// destroyed: the records stay in the partitions, unreadable).
Status EraseDevice(Context& c, const std::string& id) {
  json body = {{"deviceId", id}};
  COFFRE_ASSIGN_OR_RETURN(json erased, c.hub.Call("POST", "/$coffre/erasures", &body));
  return Print(c, erased, ErasureDetails);
}

Status DeleteDevice(Context& c, const std::string& id) {
  // If-Match "*": delete whatever the current etag is, as az does.
  COFFRE_RETURN_IF_ERROR(
      c.hub.Call("DELETE", DevicePath(id), nullptr, {}, {{"If-Match", "\"*\""}}).status());
  if (!c.json_output) c.out << "deleted device " << id << "\n";
  return Status::Ok();
}

// The device's primary key (base64), as the service API returns it to a registry reader.
Result<std::string> PrimaryKey(Context& c, const std::string& id) {
  COFFRE_ASSIGN_OR_RETURN(json device, c.hub.Call("GET", DevicePath(id)));
  const json& key = Member(Member(Member(device, "authentication"), "symmetricKey"), "primaryKey");
  if (!key.is_string() || key.get_ref<const std::string&>().empty()) {
    return FailedPrecondition("device " + id + " has no symmetric key (auth " +
                              AuthType(device) + ")");
  }
  return key.get<std::string>();
}

Status ConnectionString(Context& c, const std::string& id) {
  COFFRE_ASSIGN_OR_RETURN(std::string key, PrimaryKey(c, id));
  const HubConnection& hub = c.hub.connection();
  std::string text = "HostName=" + hub.host + ";DeviceId=" + id + ";SharedAccessKey=" + key;
  // As `coffre up` writes the demo device's: the SDKs' MQTT transports connect there.
  if (hub.mqtt_port != 0 && hub.mqtt_port != kDefaultMqttPort) {
    text += ";GatewayHostName=localhost:" + std::to_string(hub.mqtt_port);
  }
  return PrintValue(c, "connectionString", text);
}

Result<std::string> DeviceToken(Context& c, const std::string& id, int64_t expiry) {
  COFFRE_ASSIGN_OR_RETURN(std::string key_text, PrimaryKey(c, id));
  Result<Bytes> raw = Base64Decode(key_text);
  crypto::Cleanse(key_text);
  if (!raw.has_value()) return Internal("device " + id + "'s primary key is not base64");
  Result<crypto::SecretBytes> key = crypto::SecretBytes::CopyOf(*raw);
  crypto::Cleanse(*raw);
  if (!key.has_value()) return key.error();
  return hub::MakeSasToken(c.hub.connection().host + "/devices/" + id, *key, expiry);
}

Status GenerateSasToken(Context& c, const std::string& device_id, int64_t duration_s) {
  int64_t expiry = UnixNow() + duration_s;
  const HubConnection& hub = c.hub.connection();
  Result<std::string> token =
      device_id.empty() ? hub::MakeSasToken(hub.host, hub.policy_key, expiry, hub.policy_name)
                        : DeviceToken(c, device_id, expiry);
  if (!token.has_value()) return token.error();
  return PrintValue(c, "sas", *token);
}

// `coffre hub device send`: telemetry as the device itself sends it, over the HTTPS device API
// with a SAS token of its own key (the policy's login reads the key): for trying a hub without
// writing SDK code, as `az iot device send-d2c-message`. "{n}" in the message becomes the
// message's number (1..count).
Status SendMessages(Context& c, const Options& o) {
  net::HttpHeaders headers;
  COFFRE_ASSIGN_OR_RETURN(auto properties, ParseProperties(o.message_properties));
  for (auto& [name, value] : properties) headers.emplace_back("iothub-app-" + name, value);
  if (!o.content_type.empty()) headers.emplace_back("iothub-contenttype", o.content_type);
  COFFRE_ASSIGN_OR_RETURN(std::string token, DeviceToken(c, o.device_id, UnixNow() + 3600));
  std::string path = "/devices/" + PercentEncode(o.device_id) + "/messages/events";
  for (int n = 1; n <= o.count; ++n) {
    std::string body = NumberedMessage(o.message, n);
    Result<net::HttpResponse> sent = c.hub.CallRawAs(token, "POST", path, body, headers);
    if (!sent.has_value()) {
      return sent.error().WithContext("message " + std::to_string(n) + " of " +
                                      std::to_string(o.count) + " not sent");
    }
  }
  json out = {{"deviceId", o.device_id}, {"sent", o.count}};
  return Print(c, out, [](const json& j) {
    Table t;
    t.AddRow({"DEVICE ID", Cell(j, "deviceId")});
    t.AddRow({"SENT", Cell(j, "sent")});
    return t;
  });
}

void AddDeviceCommands(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* device = hub.add_subcommand("device", "create, inspect and delete device identities");
  device->require_subcommand(1);
  auto named = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd =
        AddCommand(*device, "coffre hub device ", commands, o, name, description, std::move(run));
    cmd->add_option("id", o.device_id, "device id")->required();
    return cmd;
  };
  named("create", "create a device with generated SAS keys",
        [&o](Context& c) { return CreateDevice(c, o.device_id, o.disabled); })
      ->add_flag("--disabled", o.disabled, "create it disabled");
  named("show", "show a device", [&o](Context& c) { return ShowDevice(c, o.device_id); });
  AddCommand(*device, "coffre hub device ", commands, o, "list", "list the devices",
             ListDevices);
  named("delete", "delete a device", [&o](Context& c) {
    return o.erase_data ? EraseDevice(c, o.device_id) : DeleteDevice(c, o.device_id);
  })->add_flag("--erase-data", o.erase_data,
               "erase everything it sent too (as `coffre hub device erase`)");
  named("erase",
        "delete a device and erase its data: every telemetry record it sent becomes unreadable "
        "(its key is destroyed), its twins and queued messages are deleted",
        [&o](Context& c) { return EraseDevice(c, o.device_id); });
  AddCommand(*device, "coffre hub device ", commands, o, "erasures",
             "the erasures made so far: which device, when, by whom", [](Context& c) -> Status {
               COFFRE_ASSIGN_OR_RETURN(json list, c.hub.Call("GET", "/$coffre/erasures"));
               return Print(c, list, ErasuresTable);
             });
  named("connection-string", "print a device's connection string (primary key)",
        [&o](Context& c) { return ConnectionString(c, o.device_id); });
  CLI::App* send = named("send",
                         "send telemetry as the device (its own key, the HTTPS device API); "
                         "each message is acknowledged once stored",
                         [&o](Context& c) { return SendMessages(c, o); });
  send->add_option("--message", o.message, "the body; {n} becomes the message's number")
      ->required();
  send->add_option("--props", o.message_properties,
                   "an application property name=value (repeatable)");
  send->add_option("--content-type", o.content_type, "the message's content type");
  send->add_option("--count", o.count, "how many (default 1)")->check(CLI::Range(1, 100000));

  SimulateOptions& sim = o.simulate;
  CLI::App* simulate = named(
      "simulate",
      "be the device over MQTT (TLS, its own key) for a while: R messages a second for S "
      "seconds, QoS 1, with progress and a summary of acknowledgements and their latency; exit "
      "1 unless every message was acknowledged",
      [&o](Context& c) -> Status {
        o.simulate.device_id = o.device_id;
        COFFRE_ASSIGN_OR_RETURN(o.simulate.properties, ParseProperties(o.message_properties));
        // Valid for the whole run and an hour more (the hub checks it when the device connects).
        int64_t expiry = UnixNow() + o.simulate.duration_s + 3600;
        COFFRE_ASSIGN_OR_RETURN(std::string token, DeviceToken(c, o.device_id, expiry));
        Status s = SimulateDevice(c, o.simulate, token);
        crypto::Cleanse(token);
        return s;
      });
  simulate->add_option("--rate", sim.rate, "messages per second (default 1)")
      ->check(CLI::Range(1, kMaxSimulateRate));
  simulate->add_option("--duration", sim.duration_s, "seconds to send for (default 10)")
      ->check(CLI::Range(1, kMaxSimulateDuration));
  simulate->add_option("--message", sim.message,
                       "the body; {n} becomes the message's number (default: "
                       "'simulated message {n}')");
  simulate->add_option("--props", o.message_properties,
                       "an application property name=value (repeatable)");
  simulate->add_option("--content-type", sim.content_type,
                       "the messages' content type (sent with content encoding utf-8)");
  simulate
      ->add_option("--mqtt-port", sim.mqtt_port, "the hub's MQTT port (default: DIR's, else 8883)")
      ->check(CLI::Range(1, 65535));
}

std::string GroupPath(const std::string& name) {
  return "/telemetry/consumergroups/" + PercentEncode(name);
}

Table GroupsTable(const json& reply) {
  Table t({"NAME", "CREATED"});
  // A list comes as {"value": [...]}, one group as itself.
  json groups = Member(reply, "value").is_array() ? Member(reply, "value") : json::array({reply});
  for (const json& g : groups) {
    t.AddRow({Cell(g, "name"), Cell(g, "created")});
  }
  return t;
}

// `coffre hub consumer-group create|show|list|delete`, as `az iot hub consumer-group`.
void AddConsumerGroupCommands(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* group = hub.add_subcommand("consumer-group", "manage the telemetry stream's consumer groups");
  group->require_subcommand(1);
  auto named = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd = AddCommand(*group, "coffre hub consumer-group ", commands, o, name,
                               description, std::move(run));
    cmd->add_option("name", o.group, "consumer group name")->required();
  };
  named("create", "create a consumer group", [&o](Context& c) -> Status {
    COFFRE_ASSIGN_OR_RETURN(json g, c.hub.Call("PUT", GroupPath(o.group)));
    return Print(c, g, GroupsTable);
  });
  named("show", "show a consumer group", [&o](Context& c) -> Status {
    COFFRE_ASSIGN_OR_RETURN(json g, c.hub.Call("GET", GroupPath(o.group)));
    return Print(c, g, GroupsTable);
  });
  AddCommand(*group, "coffre hub consumer-group ", commands, o, "list", "list consumer groups",
             [](Context& c) -> Status {
               COFFRE_ASSIGN_OR_RETURN(json all, c.hub.Call("GET", "/telemetry/consumergroups"));
               return Print(c, all, GroupsTable);
             });
  named("delete", "delete a consumer group and its checkpoints", [&o](Context& c) -> Status {
    COFFRE_RETURN_IF_ERROR(c.hub.Call("DELETE", GroupPath(o.group)).status());
    if (!c.json_output) c.out << "deleted consumer group " << o.group << "\n";
    return Status::Ok();
  });
}

Table EncryptionDetails(const json& e) {
  Table t;
  t.AddRow({"STATE", Cell(e, "state")});
  t.AddRow({"REASON", Cell(e, "reason").empty() ? "-" : Cell(e, "reason")});
  t.AddRow({"DETAIL", Cell(e, "detail").empty() ? "-" : Cell(e, "detail")});
  t.AddRow({"SINCE", Cell(e, "since")});
  t.AddRow({"LAST GOOD CHECK", Cell(e, "lastGoodCheck")});
  t.AddRow({"MODE", Cell(e, "mode")});
  t.AddRow({"KEY URI", Cell(e, "keyUri").empty() ? "-" : Cell(e, "keyUri")});
  t.AddRow({"KEY ID", Cell(e, "keyId")});
  t.AddRow({"PURGE PROTECTION", Cell(e, "purgeProtection") == "false" ? "false (warning: a purge destroys the data)"
                                                                      : Cell(e, "purgeProtection")});
  const json& settings = Member(e, "settings");
  t.AddRow({"CHECK INTERVAL MS", Cell(settings, "keyCheckIntervalMs")});
  t.AddRow({"VAULT GRACE SECONDS", Cell(settings, "vaultGraceSeconds")});
  t.AddRow({"EXPIRED KEY", Cell(settings, "expiredKey")});
  return t;
}

Table VerifyDetails(const json& report) {
  Table t({"PARTITION", "FIRST", "END", "HEAD END", "CHECKED", "ERASED", "ANCHORED", "BREAK"});
  for (const json& p : Member(report, "partitions")) {
    std::vector<std::string> row = {Cell(p, "id"), Cell(p, "first"), Cell(p, "end"),
                                    Cell(p, "headEnd"), Cell(p, "recordsChecked"),
                                    Cell(p, "recordsErased"), Cell(p, "anchored")};
    const json& breaks = Member(p, "breaks");
    if (!breaks.is_array() || breaks.empty()) {
      row.push_back("-");
      t.AddRow(row);
      continue;
    }
    for (const json& b : breaks) {
      const json& to = Member(b, "to");  // exclusive in the reply, the last record here
      std::string last = to.is_number_unsigned() && to.get<uint64_t>() > 0
                             ? std::to_string(to.get<uint64_t>() - 1)
                             : Cell(b, "to");
      row.push_back("records " + Cell(b, "from") + ".." + last + ": " + Cell(b, "what"));
      t.AddRow(row);
      row = {"", "", "", "", "", "", ""};
    }
  }
  // The sealed metadata rows, table by table (hub/row_digests.h).
  const json& metadata = Member(report, "metadata");
  const json& tables = Member(metadata, "breaks");
  if (!tables.is_array() || tables.empty()) {
    t.AddRow({"METADATA", "", "", "", "", "", "", "-"});
  }
  if (tables.is_array()) {
    for (const json& b : tables) {
      t.AddRow({"METADATA", "", "", "", "", "", "", "table " + Cell(b, "table") + ": " + Cell(b, "what")});
    }
  }
  return t;
}

// `coffre hub verify`: every stored telemetry record opened and followed along its partition's
// chain, and each partition compared with its sealed head. Exit code 1 on any break.
void AddVerifyCommand(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* verify = AddCommand(
      hub, "coffre hub ", commands, o, "verify",
      "check that the stored telemetry is what the hub acknowledged: nothing missing, replaced, "
      "moved or reordered",
      [&o](Context& c) -> Status {
        std::string query = o.partition ? "partition=" + std::to_string(*o.partition) : "";
        // The hub answers once it has read everything, and reports no progress meanwhile.
        Spinner spinner("verify", std::cerr, StderrIsTerminal());
        COFFRE_ASSIGN_OR_RETURN(json report, c.hub.Call("POST", "/$coffre/verify", nullptr, query));
        const json& ok = Member(report, "ok");
        bool verified = ok.is_boolean() && ok.get<bool>();
        spinner.Finish(verified ? "no break" : "breaks found");
        COFFRE_RETURN_IF_ERROR(Print(c, report, VerifyDetails));
        if (verified) return Status::Ok();
        return DataLoss("the stored telemetry did not verify (see the breaks above)");
      });
  verify->add_option("--partition", o.partition, "only this partition")->check(CLI::Range(0, 31));
}

Table StorageDetails(const json& status) {
  const json& disk = Member(status, "disk");
  auto mib = [](const json& v) {
    return v.is_number_unsigned() ? std::to_string(v.get<uint64_t>() >> 20) + " MiB" : std::string("-");
  };
  Table t;
  t.AddRow({"DISK", Cell(disk, "path")});
  t.AddRow({"FREE", mib(Member(disk, "freeBytes"))});
  t.AddRow({"RESERVE", mib(Member(disk, "reserveBytes"))});
  t.AddRow({"FULL", Cell(disk, "full")});
  for (const json& p : Member(status, "partitions")) {
    const json& breaks = Member(p, "breaks");
    std::string known = breaks.is_array() ? std::to_string(breaks.size()) + " integrity breaks"
                                          : "breaks unknown: " + Cell(p, "breaksUnknown");
    t.AddRow({"PARTITION " + Cell(p, "id"),
              "sequences " + Cell(p, "begin") + " to " + Cell(p, "end") + ", " + known});
  }
  const json& metadata = Member(status, "metadata");
  const json& tables = Member(metadata, "breaks");
  t.AddRow({"METADATA", tables.is_array()
                            ? std::to_string(tables.size()) + " integrity breaks"
                            : "breaks unknown: " + Cell(metadata, "breaksUnknown")});
  if (tables.is_array()) {
    for (const json& b : tables) t.AddRow({"", "table " + Cell(b, "table") + ": " + Cell(b, "what")});
  }
  const json& writable = Member(metadata, "writable");
  if (writable.is_boolean()) {
    t.AddRow({"METADATA WRITES", writable.get<bool>()
                                     ? "ok"
                                     : "REFUSED until the hub is restarted: " + Cell(metadata, "writeError")});
  }
  return t;
}

// `coffre hub storage show`: the data disk's free space (and whether writes are refused for
// want of it), and each partition's range and known integrity breaks.
void AddStorageCommand(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* storage = hub.add_subcommand("storage", "the hub's stored data");
  storage->require_subcommand(1);
  AddCommand(*storage, "coffre hub storage ", commands, o, "show",
             "free space on the data's disk, and each partition's range and integrity breaks",
             [](Context& c) -> Status {
               COFFRE_ASSIGN_OR_RETURN(json status, c.hub.Call("GET", "/$coffre/storage"));
               return Print(c, status, StorageDetails);
             });
}

// `coffre hub encryption show`: whether the customer-managed key is usable, and since when.
void AddEncryptionCommands(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* encryption = hub.add_subcommand("encryption", "the hub's customer-managed key");
  encryption->require_subcommand(1);
  AddCommand(*encryption, "coffre hub encryption ", commands, o, "show",
             "the key, whether the hub can use it, and since when", [](Context& c) -> Status {
               COFFRE_ASSIGN_OR_RETURN(json status, c.hub.Call("GET", "/$coffre/encryption"));
               return Print(c, status, EncryptionDetails);
             });
  CLI::App* set = AddCommand(
      *encryption, "coffre hub encryption ", commands, o, "set",
      "how the hub follows its key: check interval, vault grace period, expired-key meaning",
      [&o](Context& c) -> Status {
        json body = json::object();
        if (!o.key_uri.empty()) {
          if (o.vault_token_file.empty()) {
            return InvalidArgument("--key-uri needs --vault-token-file (the hub's vault token)");
          }
          COFFRE_ASSIGN_OR_RETURN(std::string token, ReadTextFile(o.vault_token_file));
          token = TrimEnd(std::move(token));
          body["keyUri"] = o.key_uri;
          body["vaultToken"] = token;
          if (!o.vault_ca_file.empty()) {
            COFFRE_ASSIGN_OR_RETURN(std::string ca, ReadTextFile(o.vault_ca_file));
            body["vaultCaPem"] = ca;
          }
        }
        if (!o.key_events_secret_file.empty()) {
          COFFRE_ASSIGN_OR_RETURN(std::string secret, ReadTextFile(o.key_events_secret_file));
          body["keyEventsSecret"] = TrimEnd(std::move(secret), "\r\n ");
        }
        if (o.check_interval_ms) body["keyCheckIntervalMs"] = *o.check_interval_ms;
        if (o.grace_s) body["vaultGraceSeconds"] = *o.grace_s;
        if (!o.expired_key.empty()) body["expiredKey"] = o.expired_key;
        if (body.empty()) {
          return InvalidArgument("nothing to set: give --key-uri, --key-events-secret-file, "
                                 "--check-interval-ms, --grace-seconds or --expired-key");
        }
        COFFRE_ASSIGN_OR_RETURN(json status, c.hub.Call("PUT", "/$coffre/encryption", &body));
        return Print(c, status, EncryptionDetails);
      });
  set->add_option("--key-uri", o.key_uri,
                  "turn a customer-managed key on (or change it), online: https://vault/keys/NAME");
  set->add_option("--vault-token-file", o.vault_token_file,
                  "the hub's vault token for that key (get, wrapKey, unwrapKey)");
  set->add_option("--vault-ca-file", o.vault_ca_file, "the vault's CA, if not a public one");
  set->add_option("--key-events-secret-file", o.key_events_secret_file,
                  "the secret of the vault's event subscription for this hub (coffre vault "
                  "events add --endpoint https://HUB/$coffre/keyevents --secret-file FILE)");
  set->add_option("--check-interval-ms", o.check_interval_ms, "50 to 500 (default 500)")
      ->check(CLI::Range(50, 500));
  set->add_option("--grace-seconds", o.grace_s,
                  "how long cached keys serve while the vault cannot be reached (default 60)")
      ->check(CLI::Range(0, 86400));
  set->add_option("--expired-key", o.expired_key,
                  "inaccessible (default) or continue (Key Vault's own semantics)")
      ->check(CLI::IsMember({"inaccessible", "continue"}));
}

// Returns monitor-events, whose --amqp runs without the read API's connection.
CLI::App* AddHubCommands(CLI::App& hub, std::vector<Command>& commands, Options& o) {
  CLI::App* sas = AddCommand(
      hub, "coffre hub ", commands, o, "generate-sas-token",
      "a device token (--device-id), else a service token for the login's policy",
      [&o](Context& c) { return GenerateSasToken(c, o.device_id, o.duration_s); });
  sas->add_option("--device-id", o.device_id, "sign with this device's primary key");
  sas->add_option("--duration", o.duration_s, "validity in seconds (default: 3600)")
      ->check(CLI::Range(int64_t{1}, int64_t{kMaxSeconds}));

  CLI::App* monitor = AddCommand(hub, "coffre hub ", commands, o, "monitor-events",
                                 "print device-to-cloud messages as they arrive", [&o](Context& c) {
                                   MonitorOptions m = o.monitor;
                                   m.run_for = std::chrono::seconds(o.timeout_s);
                                   m.json_output = c.json_output;
                                   return MonitorEvents(c.hub, m, c.out);
                                 });
  monitor->add_option("--device-id", o.monitor.device_id, "only this device's messages");
  monitor->add_flag("--from-start", o.monitor.from_start, "from the oldest retained message");
  monitor->add_option("--consumer-group,--cg", o.monitor.consumer_group,
                      "resume from this consumer group's checkpoints, and commit them (with "
                      "--amqp: only the group to read as; nothing is committed over AMQP)");
  monitor->add_option_function<std::string>(
             "--enqueued-time,--et",
             [&o](const std::string& t) {
               if (auto ms = ParseIsoTime(t)) {
                 o.monitor.enqueued_time_ms = *ms;
               } else {
                 o.monitor.enqueued_time_ms = std::stoll(t);  // milliseconds, as az takes it
               }
             },
             "start at this time: ISO 8601, or milliseconds since the epoch")
      ->check([](const std::string& t) -> std::string {
        if (ParseIsoTime(t)) return "";
        bool digits = !t.empty() && t.size() < 16 && t.find_first_not_of("0123456789") == std::string::npos;
        return digits ? "" : "not an ISO 8601 time or milliseconds since the epoch: " + t;
      });
  monitor->add_option("--timeout", o.timeout_s, "stop after S seconds (default: run until ^C)")
      ->check(CLI::Range(1, kMaxSeconds));
  monitor->add_option("--max-messages", o.monitor.max_messages,
                      "stop once N messages are printed (a consumer group's checkpoint stays on the next)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  CLI::Option* amqp = monitor->add_flag(
      "--amqp", o.amqp,
      "read through the hub's Event Hubs-compatible endpoint (AMQPS, as any Event Hubs client "
      "does) instead of the read API; --dir's eventhub_connection_string names it; --timeout "
      "counts from when its partition receivers are open");
  monitor
      ->add_option("--eventhub-connection-string", o.eventhub_connection_string,
                   "with --amqp: any Event Hubs-compatible endpoint, Endpoint=sb://HOST[:PORT]/;"
                   "SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=... (--ca-file for "
                   "its CA)")
      ->needs(amqp);
  return monitor;
}

// monitor-events --amqp: its own connection (an Event Hubs connection string), no HubClient.
int RunAmqpMonitor(const Command& cmd, const Options& o) {
  Result<EventHubConnection> connection =
      ResolveEventHubConnection(o.connection, o.eventhub_connection_string);
  if (!connection.has_value()) {
    std::cerr << cmd.label << ": " << connection.error().message() << "\n";
    return connection.error().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  MonitorOptions m = o.monitor;
  m.run_for = std::chrono::seconds(o.timeout_s);
  m.json_output = o.output == "json";
  Status s = MonitorEventsAmqp(*connection, m, std::cout, o.connection.request_timeout);
  if (!s.ok()) {
    std::cerr << cmd.label << ": " << s.message() << "\n";
    return 1;
  }
  return 0;
}

Status Execute(const Command& cmd, HubConnection connection, const std::string& output) {
  COFFRE_ASSIGN_OR_RETURN(auto hub, HubClient::Create(std::move(connection)));
  Context c{*hub, output == "json", std::cout, output == "tsv"};
  return cmd.run(c);
}

}  // namespace

struct HubCommands::State {
  Options options;
  TwinCommandOptions twin_options;
  BackupCommandOptions backup_options;
  RestoreOptions restore_options;
  std::vector<Command> commands;
  CLI::App* hub = nullptr;
  CLI::App* monitor = nullptr;
  CLI::App* restore = nullptr;
};

HubCommands::HubCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  state_->hub = app.add_subcommand("hub", "manage a hub's devices and watch its telemetry");
  state_->hub->require_subcommand(1);
  AddDeviceCommands(*state_->hub, state_->commands, state_->options);
  AddConsumerGroupCommands(*state_->hub, state_->commands, state_->options);
  AddEncryptionCommands(*state_->hub, state_->commands, state_->options);
  AddVerifyCommand(*state_->hub, state_->commands, state_->options);
  AddStorageCommand(*state_->hub, state_->commands, state_->options);
  state_->monitor = AddHubCommands(*state_->hub, state_->commands, state_->options);
  AddTwinCommands(*state_->hub, state_->commands, state_->twin_options);
  AddBackupCommand(*state_->hub, state_->commands, state_->backup_options);
  state_->restore = AddRestoreCommand(*state_->hub, state_->restore_options);
}

HubCommands::~HubCommands() = default;

bool HubCommands::Selected() const { return state_->hub->parsed(); }

int HubCommands::Run() {
  if (state_->restore->parsed()) return RunRestore(state_->restore_options);
  for (const Command& cmd : state_->commands) {
    if (!cmd.app->parsed()) continue;
    if (cmd.app == state_->monitor && state_->options.amqp) return RunAmqpMonitor(cmd, state_->options);
    const CommonOptions& o = *cmd.options;
    Result<HubConnection> connection = ResolveHubConnection(o.connection);
    if (!connection.has_value()) {
      std::cerr << cmd.label << ": " << connection.error().message() << "\n";
      return connection.error().code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    // The hub's errors read "<ErrorCode>: <text>" already; the Status code adds nothing.
    if (Status s = Execute(cmd, std::move(*connection), o.output); !s.ok()) {
      std::cerr << cmd.label << ": " << s.message() << "\n";
      return 1;
    }
    return 0;
  }
  return 2;  // unreachable: CLI11 requires a command
}

}  // namespace coffre::cli
