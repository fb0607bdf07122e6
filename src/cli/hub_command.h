#pragma once
// What every `coffre hub ...` command shares: the options that name the hub and the output
// format, the context a command runs in (one HubClient), and how results print (a table, or
// JSON with --output json). Thread-compatible.

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/hub_connection.h"
#include "cli/json_member.h"
#include "cli/table.h"
#include "common/status.h"

namespace CLI {
class App;
}

namespace coffre::cli {

// What a command needs once connected; it lives for one command's run.
struct Context {
  HubClient& hub;
  bool json_output;
  std::ostream& out;
  bool tsv_output = false;  // --output tsv: tables as tab-separated rows, no headers
};

using Handler = std::function<Status(Context&)>;

// The options of every hub command; each command group adds its own next to them.
struct CommonOptions {
  HubConnectionOptions connection;
  std::string output = "table";  // table, json or tsv
};

struct Command {
  CLI::App* app;
  std::string label;  // "coffre hub device show": the prefix of its errors
  Handler run;
  CommonOptions* options;  // where its connection and output options went
};

// A subcommand `name` of `parent` with the connection and output options; its errors start
// with prefix + name.
CLI::App* AddCommand(CLI::App& parent, const std::string& prefix, std::vector<Command>& commands,
                     CommonOptions& o, const std::string& name, const std::string& description,
                     Handler run);

// A field as a table cell; "-" when missing, so a partial reply still prints.
std::string Cell(const nlohmann::json& j, const char* name);

Status Print(Context& c, const nlohmann::json& body,
             const std::function<Table(const nlohmann::json&)>& view);
// A single value (a token, a connection string): bare, or {"<name>": value} as az prints it.
Status PrintValue(Context& c, const char* name, const std::string& value);

}  // namespace coffre::cli
