#include "cli/patroni_api.h"

#include <nlohmann/json.hpp>

#include "cli/loopback_http.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

bool Running(const PatroniMember& m) { return m.state == "running" || m.state == "streaming"; }

Result<std::vector<PatroniMember>> Parse(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("members") || !j["members"].is_array()) {
    return Unavailable("Patroni's /cluster answer has no members");
  }
  std::vector<PatroniMember> members;
  for (const json& m : j["members"]) {
    if (!m.is_object()) continue;
    members.push_back({m.value("name", ""), m.value("role", ""), m.value("state", ""),
                       m.value("host", ""), m.value("port", uint16_t{0})});
  }
  return members;
}

}  // namespace

Result<std::vector<PatroniMember>> PatroniClusterMembers(const std::vector<uint16_t>& patroni_ports,
                                                         std::chrono::milliseconds timeout) {
  std::vector<PatroniApi> apis;
  for (uint16_t port : patroni_ports) apis.push_back({"127.0.0.1", port});
  return PatroniClusterMembers(apis, timeout);
}

Result<std::vector<PatroniMember>> PatroniClusterMembers(const std::vector<PatroniApi>& apis,
                                                         std::chrono::milliseconds timeout) {
  Status last = Unavailable("no Patroni node to ask");
  for (const PatroniApi& api : apis) {
    Result<LoopbackReply> reply = LoopbackGet(api.host, api.port, "/cluster", timeout);
    if (!reply.has_value()) {
      last = reply.error();
      continue;
    }
    if (reply->status != 200) {
      last = Unavailable("Patroni on " + api.host + ":" + std::to_string(api.port) + " answered " +
                         std::to_string(reply->status));
      continue;
    }
    return Parse(reply->body);
  }
  return last;
}

bool HasLeaderAndSyncStandby(const std::vector<PatroniMember>& members) {
  bool leader = false, sync = false;
  for (const PatroniMember& m : members) {
    leader = leader || (m.role == "leader" && Running(m));
    sync = sync || (m.role == "sync_standby" && Running(m));
  }
  return leader && sync;
}

std::string LeaderName(const std::vector<PatroniMember>& members) {
  for (const PatroniMember& m : members) {
    if (m.role == "leader" && Running(m)) return m.name;
  }
  return "";
}

std::string DescribeMembers(const std::vector<PatroniMember>& members) {
  if (members.empty()) return "no members yet";
  std::string text;
  for (const PatroniMember& m : members) {
    if (!text.empty()) text += ", ";
    text += m.name + " " + m.role + " " + m.state;
  }
  return text;
}

}  // namespace coffre::cli
