#include "cli/hub_twin_commands.h"

#include <CLI/CLI.hpp>

#include "common/encoding.h"
#include "common/files.h"
#include "common/time_format.h"
#include "common/strings.h"

namespace coffre::cli {

using nlohmann::json;

namespace {

const std::string kPrefix = "coffre hub ";

std::string TwinPath(const TwinCommandOptions& o) {
  std::string p = "/twins/" + PercentEncode(o.device_id);
  if (!o.module_id.empty()) p += "/modules/" + PercentEncode(o.module_id);
  return p;
}

Table TwinTable(const json& t) {
  Table table;
  table.AddRow({"DEVICE ID", Cell(t, "deviceId")});
  if (Member(t, "moduleId").is_string()) table.AddRow({"MODULE ID", Cell(t, "moduleId")});
  table.AddRow({"ETAG", Cell(t, "etag")});
  table.AddRow({"VERSION", Cell(t, "version")});
  table.AddRow({"CONNECTION", Cell(t, "connectionState")});
  table.AddRow({"TAGS", Member(t, "tags").dump()});
  json desired = Member(Member(t, "properties"), "desired");
  json reported = Member(Member(t, "properties"), "reported");
  for (json* section : {&desired, &reported}) {
    if (section->is_object()) section->erase("$metadata");
  }
  table.AddRow({"DESIRED", desired.dump()});
  table.AddRow({"REPORTED", reported.dump()});
  return table;
}

Result<std::optional<json>> ReadPatchFile(const std::string& path) {
  if (path.empty()) return std::optional<json>();
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument(path + " does not hold a JSON object");
  return std::optional<json>(std::move(j));
}

Status UpdateTwin(Context& c, const TwinCommandOptions& o) {
  COFFRE_ASSIGN_OR_RETURN(std::optional<json> file, ReadPatchFile(o.patch_file));
  COFFRE_ASSIGN_OR_RETURN(json patch, TwinPatchFrom(o.set, file));
  net::HttpHeaders headers{{"If-Match", o.etag.empty() ? "*" : "\"" + o.etag + "\""}};
  COFFRE_ASSIGN_OR_RETURN(json twin, c.hub.Call("PATCH", TwinPath(o), &patch, {}, headers));
  return Print(c, twin, TwinTable);
}

Status InvokeMethod(Context& c, const TwinCommandOptions& o) {
  json payload = json::parse(o.payload, nullptr, false);
  if (payload.is_discarded()) return InvalidArgument("--payload is not JSON: " + o.payload);
  json body = {{"methodName", o.method},
               {"payload", payload},
               {"responseTimeoutInSeconds", o.timeout_s},
               {"connectTimeoutInSeconds", o.connect_timeout_s}};
  COFFRE_ASSIGN_OR_RETURN(json reply, c.hub.Call("POST", TwinPath(o) + "/methods", &body));
  return Print(c, reply, [](const json& r) {
    Table t;
    t.AddRow({"STATUS", Cell(r, "status")});
    t.AddRow({"PAYLOAD", Member(r, "payload").dump()});
    return t;
  });
}

// Every page, following x-ms-continuation.
Status Query(Context& c, const TwinCommandOptions& o) {
  json all = json::array();
  std::string continuation;
  json body = {{"query", o.query}};
  std::string text = body.dump();
  do {
    net::HttpHeaders headers{{"Content-Type", "application/json; charset=utf-8"},
                             {"x-ms-max-item-count", "1000"}};
    if (!continuation.empty()) headers.emplace_back("x-ms-continuation", continuation);
    COFFRE_ASSIGN_OR_RETURN(net::HttpResponse page, c.hub.CallRaw("POST", "/devices/query", text, {}, headers));
    json rows = json::parse(page.body, nullptr, false);
    if (!rows.is_array()) return Internal("the hub's query reply is not a JSON array");
    for (auto& row : rows) all.push_back(std::move(row));
    continuation = std::string(page.Header("x-ms-continuation"));
  } while (!continuation.empty());
  return Print(c, all, [](const json& rows) {
    // Twins as a table of ids and states; projections and counts as one JSON row per line.
    bool twins = !rows.empty() && Member(rows[0], "deviceId").is_string() &&
                 Member(rows[0], "properties").is_object();
    if (twins) {
      Table t({"DEVICE ID", "MODULE ID", "CONNECTION", "TAGS"});
      for (const json& r : rows) {
        t.AddRow({Cell(r, "deviceId"), Cell(r, "moduleId"), Cell(r, "connectionState"),
                  Member(r, "tags").dump()});
      }
      return t;
    }
    Table t({"RESULT"});
    for (const json& r : rows) t.AddRow({r.dump()});
    return t;
  });
}

Status SendC2d(Context& c, const TwinCommandOptions& o) {
  net::HttpHeaders headers{{"Content-Type", "application/octet-stream"}};
  if (!o.message_id.empty()) headers.emplace_back("iothub-messageid", o.message_id);
  if (!o.ack.empty()) headers.emplace_back("iothub-ack", o.ack);
  if (o.expiry_s > 0) {
    int64_t ms = (UnixNow() + o.expiry_s) * 1000;
    headers.emplace_back("iothub-expiry", FormatIsoTime(ms));
  }
  for (const auto& p : o.properties) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument("--props wants name=value: " + p);
    headers.emplace_back("iothub-app-" + p.substr(0, eq), p.substr(eq + 1));
  }
  COFFRE_RETURN_IF_ERROR(c.hub.CallRaw("POST", "/devices/" + PercentEncode(o.device_id) +
                                                   "/messages/devicebound", o.data, {}, headers)
                             .status());
  return PrintValue(c, "status", "queued");
}

Status PurgeC2d(Context& c, const TwinCommandOptions& o) {
  COFFRE_ASSIGN_OR_RETURN(json reply,
                          c.hub.Call("DELETE", "/devices/" + PercentEncode(o.device_id) + "/commands"));
  return Print(c, reply, [](const json& r) {
    Table t;
    t.AddRow({"DEVICE ID", Cell(r, "deviceId")});
    t.AddRow({"PURGED", Cell(r, "totalMessagesPurged")});
    return t;
  });
}

// Reads every waiting feedback record and acknowledges each batch once printed.
Status Feedback(Context& c) {
  json all = json::array();
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(net::HttpResponse batch,
                            c.hub.CallRaw("GET", "/messages/serviceBound/feedback", ""));
    if (batch.status == 204) break;
    json records = json::parse(batch.body, nullptr, false);
    if (!records.is_array()) return Internal("the hub's feedback reply is not a JSON array");
    for (auto& r : records) all.push_back(std::move(r));
    std::string etag(batch.Header("ETag"));
    if (etag.size() < 3) return Internal("the hub's feedback reply has no lock token");
    COFFRE_RETURN_IF_ERROR(c.hub.CallRaw("DELETE", "/messages/serviceBound/feedback/" +
                                                       etag.substr(1, etag.size() - 2), "")
                               .status());
  }
  return Print(c, all, [](const json& records) {
    Table t({"MESSAGE ID", "DEVICE ID", "STATUS", "TIME"});
    for (const json& r : records) {
      t.AddRow({Cell(r, "originalMessageId"), Cell(r, "deviceId"), Cell(r, "statusCode"),
                Cell(r, "enqueuedTimeUtc")});
    }
    return t;
  });
}

}  // namespace

Result<json> TwinPatchFrom(const std::vector<std::string>& set, const std::optional<json>& file) {
  json patch = file.value_or(json::object());
  for (const auto& assignment : set) {
    size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("--set wants path=value: " + assignment);
    }
    std::vector<std::string_view> path = Split(std::string_view(assignment).substr(0, eq), '.');
    bool tags = path.size() >= 2 && path[0] == "tags";
    bool desired = path.size() >= 3 && path[0] == "properties" && path[1] == "desired";
    if (!tags && !desired) {
      return InvalidArgument("--set can change tags.* and properties.desired.*, not " +
                             assignment.substr(0, eq));
    }
    json value = json::parse(assignment.substr(eq + 1), nullptr, false);
    if (value.is_discarded()) value = assignment.substr(eq + 1);
    json* at = &patch;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      if (path[i].empty()) return InvalidArgument("--set has an empty name: " + assignment);
      json& next = (*at)[std::string(path[i])];
      if (!next.is_object()) next = json::object();
      at = &next;
    }
    if (path.back().empty()) return InvalidArgument("--set has an empty name: " + assignment);
    (*at)[std::string(path.back())] = std::move(value);
  }
  if (patch.empty()) return InvalidArgument("give --set path=value or --json-file FILE");
  return patch;
}

void AddTwinCommands(CLI::App& hub, std::vector<Command>& commands, TwinCommandOptions& o) {
  CLI::App* twin = hub.add_subcommand("twin", "show and update device and module twins");
  twin->require_subcommand(1);
  auto twin_command = [&](const std::string& name, const std::string& description, Handler run) {
    CLI::App* cmd = AddCommand(*twin, kPrefix + "twin ", commands, o, name, description, std::move(run));
    cmd->add_option("device", o.device_id, "device id")->required();
    cmd->add_option("--module-id,-m", o.module_id, "a module of the device");
    return cmd;
  };
  twin_command("show", "show a twin", [&o](Context& c) -> Status {
    COFFRE_ASSIGN_OR_RETURN(json t, c.hub.Call("GET", TwinPath(o)));
    return Print(c, t, TwinTable);
  });
  CLI::App* update = twin_command("update", "change tags and desired properties",
                                  [&o](Context& c) { return UpdateTwin(c, o); });
  update->add_option("--set", o.set, "tags.NAME=VALUE or properties.desired.NAME=VALUE (repeatable)");
  update->add_option("--json-file", o.patch_file, "a patch: {\"tags\":{...},\"properties\":{\"desired\":{...}}}");
  update->add_option("--etag", o.etag, "only if the twin still has this etag");

  CLI::App* invoke = AddCommand(hub, kPrefix, commands, o, "invoke-method",
                                "call a direct method on a connected device",
                                [&o](Context& c) { return InvokeMethod(c, o); });
  invoke->add_option("device", o.device_id, "device id")->required();
  invoke->add_option("method", o.method, "method name")->required();
  invoke->add_option("--module-id,-m", o.module_id, "a module of the device");
  invoke->add_option("--payload", o.payload, "the payload as JSON (default: null)");
  invoke->add_option("--timeout", o.timeout_s, "seconds to wait for the answer (5-300, default 30)")
      ->check(CLI::Range(5, 300));
  invoke->add_option("--connect-timeout", o.connect_timeout_s,
                     "seconds to wait for the device to connect (0-300, default 0)")
      ->check(CLI::Range(0, 300));
  invoke->final_callback([&o] {
    o.connection.request_timeout = std::chrono::seconds(o.timeout_s + o.connect_timeout_s + 15);
  });

  CLI::App* query = AddCommand(hub, kPrefix, commands, o, "query",
                               "run an IoT Hub query over twins (every page)",
                               [&o](Context& c) { return Query(c, o); });
  query->add_option("query", o.query, "e.g. \"SELECT * FROM devices WHERE tags.site = 'paris'\"")
      ->required();

  CLI::App* c2d = hub.add_subcommand("c2d", "send and purge cloud-to-device messages, read feedback");
  c2d->require_subcommand(1);
  CLI::App* send = AddCommand(*c2d, kPrefix + "c2d ", commands, o, "send",
                              "queue a message for a device", [&o](Context& c) { return SendC2d(c, o); });
  send->add_option("device", o.device_id, "device id")->required();
  send->add_option("--data", o.data, "the message body");
  send->add_option("--props", o.properties, "an application property name=value (repeatable)");
  send->add_option("--message-id", o.message_id, "the message id");
  send->add_option("--ack", o.ack, "feedback wanted: none, positive, negative or full")
      ->check(CLI::IsMember({"none", "positive", "negative", "full"}));
  send->add_option("--expiry", o.expiry_s, "seconds until it expires (default: the hub's 1 hour)")
      ->check(CLI::Range(int64_t{1}, int64_t{48 * 3600}));
  CLI::App* purge = AddCommand(*c2d, kPrefix + "c2d ", commands, o, "purge",
                               "delete every message queued for a device",
                               [&o](Context& c) { return PurgeC2d(c, o); });
  purge->add_option("device", o.device_id, "device id")->required();
  AddCommand(*c2d, kPrefix + "c2d ", commands, o, "feedback",
             "print and acknowledge the delivery feedback waiting", Feedback);
}

}  // namespace coffre::cli
