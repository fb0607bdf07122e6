#include "cli/hub_command.h"

#include <CLI/CLI.hpp>

namespace coffre::cli {

using nlohmann::json;

namespace {

void AddConnectionOptions(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--dir", o.connection.dir, "stack directory: DIR/connection.json names the hub");
  cmd.add_option("--login", o.connection.login,
                 "a policy connection string: HostName=...;SharedAccessKeyName=...;"
                 "SharedAccessKey=...");
  cmd.add_option("--ca-file", o.connection.ca_file,
                 "the hub's CA (default: DIR's, else the system's)");
  cmd.add_option("--port", o.connection.port, "the hub's HTTPS port (default: DIR's, else 443)")
      ->check(CLI::Range(1, 65535));
  cmd.add_option("--output", o.output, "table (default), json, or tsv (tab-separated rows)")
      ->check(CLI::IsMember({"table", "json", "tsv"}));
}

}  // namespace

CLI::App* AddCommand(CLI::App& parent, const std::string& prefix, std::vector<Command>& commands,
                     CommonOptions& o, const std::string& name, const std::string& description,
                     Handler run) {
  CLI::App* cmd = parent.add_subcommand(name, description);
  AddConnectionOptions(*cmd, o);
  commands.push_back({cmd, prefix + name, std::move(run), &o});
  return cmd;
}

std::string Cell(const json& j, const char* name) {
  const json& v = Member(j, name);
  if (v.is_null()) return "-";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

Status Print(Context& c, const json& body, const std::function<Table(const json&)>& view) {
  if (c.json_output) {
    c.out << body.dump(2) << "\n";
  } else if (c.tsv_output) {
    c.out << view(body).RenderTsv();
  } else {
    c.out << view(body).Render();
  }
  return Status::Ok();
}

Status PrintValue(Context& c, const char* name, const std::string& value) {
  c.out << (c.json_output ? json{{name, value}}.dump(2) : value) << "\n";
  return Status::Ok();
}

}  // namespace coffre::cli
