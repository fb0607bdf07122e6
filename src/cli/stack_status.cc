#include "cli/stack_status.h"

#include "cli/daemon.h"
#include "cli/hub_command.h"
#include "cli/hub_connection.h"
#include "cli/json_member.h"
#include "cli/local_stack.h"
#include "cli/patroni_api.h"
#include "cli/stack_cluster_store.h"
#include "cli/table.h"
#include "common/time_format.h"
#include "net/https_client.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr auto kProbeTimeout = std::chrono::milliseconds(3000);
constexpr auto kCertificateWarning = std::chrono::hours(24 * 14);  // as the daemons warn

// A daemon's process and its /readyz answer.
json Daemon(const StackState& state, const std::string& name, const std::string& url) {
  json d = {{"url", url}, {"running", false}, {"ready", false}, {"reasons", json::array()}};
  auto pid = state.pids.find(name);
  if (pid != state.pids.end()) d["pid"] = pid->second;
  d["running"] = pid != state.pids.end() && ProcessAlive(pid->second);
  if (!d["running"].get<bool>()) {
    d["reasons"].push_back("not running (start it with coffre up --dir " + state.dir.string() + ")");
    return d;
  }
  Result<net::Origin> origin = net::ParseOrigin(url);
  if (!origin.has_value()) return d;
  net::HttpsClientOptions options;
  options.origin = *origin;
  options.ca_file = state.ca_file;
  options.timeout = kProbeTimeout;
  auto client = net::HttpsClient::Create(options);
  Result<net::HttpResponse> probe =
      client.has_value() ? (*client)->Send("GET", "/readyz", {}, "") : client.error();
  if (!probe.has_value()) {
    d["reasons"].push_back("does not answer: " + probe.error().message());
    return d;
  }
  json body = json::parse(probe->body, nullptr, false);
  d["ready"] = probe->status == 200;
  if (const auto& shown = (*client)->server_certificate()) {
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     shown->not_after.time_since_epoch())
                     .count();
    d["certificate"] = {{"subject", shown->subject}, {"notAfter", FormatIsoTime(ms)}};
    if (shown->not_after - std::chrono::system_clock::now() < kCertificateWarning) {
      d["reasons"].push_back("warning: its TLS certificate expires at " + FormatIsoTime(ms));
    }
  }
  if (body.is_object() && body.contains("reasons")) d["reasons"] = body["reasons"];
  return d;
}

// The cluster store of a `coffre up --cluster` stack: each Patroni node's role and state as
// Patroni reports them, and each etcd member's process.
json ClusterStore(const StackState& state) {
  json members = json::array();
  Result<std::vector<PatroniMember>> seen =
      PatroniClusterMembers(PatroniApis(state.cluster), kProbeTimeout);
  for (const PostgresMember& m : state.cluster.postgres) {
    json member = {{"name", m.name}, {"host", m.host}, {"port", m.port}, {"patroniPort", m.patroni_port},
                   {"pid", m.pid}, {"running", m.pid > 0 && ProcessAlive(m.pid)},
                   {"role", "unknown"}, {"state", "unknown"}};
    if (seen.has_value()) {
      for (const PatroniMember& p : *seen) {
        if (p.name == m.name) member["role"] = p.role, member["state"] = p.state;
      }
    }
    members.push_back(member);
  }
  json etcd = json::array();
  for (const EtcdMember& e : state.cluster.etcd) {
    etcd.push_back({{"name", e.name}, {"host", e.host}, {"port", e.port}, {"pid", e.pid},
                    {"running", e.pid > 0 && ProcessAlive(e.pid)}});
  }
  json out = {{"postgres", members}, {"etcd", etcd},
              {"synchronous", seen.has_value() && HasLeaderAndSyncStandby(*seen)}};
  if (!seen.has_value()) out["error"] = "no Patroni node answers: " + seen.error().message();
  return out;
}

std::string Readiness(const json& d) {
  if (!Member(d, "running").is_boolean() || !d["running"].get<bool>()) return "stopped";
  return d["ready"].get<bool>() ? "ready" : "NOT READY";
}

}  // namespace

Result<json> StackStatus(const std::filesystem::path& dir) {
  std::filesystem::path abs = std::filesystem::absolute(dir);
  COFFRE_ASSIGN_OR_RETURN(StackState state, ReadStackFile(abs));
  state.ca_file = abs / "tls" / "ca.pem";
  std::string vault_url = "https://localhost:" + std::to_string(state.ports.vault);
  json out = {{"version", COFFRE_VERSION}, {"dir", abs.string()}};
  out["vault"] = Daemon(state, "vault", vault_url);
  json hub = Daemon(state, "hub", "https://" + state.hub_host + ":" + std::to_string(state.ports.https));
  hub["mqttPort"] = state.ports.mqtt;
  hub["httpsPort"] = state.ports.https;
  hub["amqpPort"] = state.ports.amqp;
  if (hub["running"].get<bool>()) {
    // The key as the hub sees it, with the owner's login the stack keeps.
    HubConnectionOptions login;
    login.dir = abs.string();
    Result<HubConnection> connection = ResolveHubConnection(login);
    Result<std::unique_ptr<HubClient>> client =
        connection.has_value() ? HubClient::Create(std::move(*connection))
                               : Result<std::unique_ptr<HubClient>>(connection.error());
    Result<json> encryption = client.has_value() ? (*client)->Call("GET", "/$coffre/encryption")
                                                 : Result<json>(client.error());
    hub["customerKey"] = encryption.has_value()
                             ? json{{"state", Member(*encryption, "state")},
                                    {"keyId", Member(*encryption, "keyId")},
                                    {"reason", Member(*encryption, "reason")}}
                             : json{{"error", encryption.error().message()}};
  }
  out["hub"] = hub;
  // Cluster mode's further hub nodes (node 0 is "hub"), each probed as the hub is.
  json nodes = json::array();
  for (size_t i = 0; i < state.more_hub_nodes.size(); ++i) {
    const HubNodePorts& ports = state.more_hub_nodes[i];
    json node = Daemon(state, "hub-" + std::to_string(i + 1),
                       "https://" + state.hub_host + ":" + std::to_string(ports.https));
    node["node"] = i + 1;
    node["mqttPort"] = ports.mqtt;
    node["httpsPort"] = ports.https;
    node["amqpPort"] = ports.amqp;
    nodes.push_back(node);
  }
  if (!nodes.empty()) out["hubNodes"] = nodes;
  if (state.cluster.enabled) out["cluster"] = ClusterStore(state);
  return out;
}

bool StackReady(const json& status) {
  for (const char* name : {"vault", "hub"}) {
    const json& d = Member(status, name);
    if (Readiness(d) != "ready") return false;
  }
  for (const json& node : Member(status, "hubNodes")) {
    if (Readiness(node) != "ready") return false;
  }
  // A cluster store without a leader and a synchronous standby acknowledges nothing.
  const json& cluster = Member(status, "cluster");
  return !cluster.is_object() || Member(cluster, "synchronous") == true;
}

void PrintStackStatus(const json& status, std::ostream& out, bool tsv) {
  Table t({"COMPONENT", "STATE", "PID", "LISTENS", "DETAIL"});
  auto reasons = [](const json& d) {
    std::string text;
    for (const json& r : Member(d, "reasons")) {
      if (!text.empty()) text += "; ";
      text += r.is_string() ? r.get<std::string>() : r.dump();
    }
    return text.empty() ? std::string("-") : text;
  };
  const json& vault = Member(status, "vault");
  t.AddRow({"vault", Readiness(vault), Cell(vault, "pid"), Cell(vault, "url"), reasons(vault)});
  const json& hub = Member(status, "hub");
  auto listens = [](const json& h) {
    return "mqtts " + Cell(h, "mqttPort") + ", https " + Cell(h, "httpsPort") + ", amqps " +
           Cell(h, "amqpPort");
  };
  t.AddRow({"hub", Readiness(hub), Cell(hub, "pid"), listens(hub), reasons(hub)});
  for (const json& node : Member(status, "hubNodes")) {
    t.AddRow({"hub node " + Cell(node, "node"), Readiness(node), Cell(node, "pid"), listens(node),
              reasons(node)});
  }
  const json& key = Member(hub, "customerKey");
  if (key.is_object()) {
    std::string detail = key.contains("error") ? "unknown: " + Cell(key, "error")
                                               : Cell(key, "state") + " " + Cell(key, "keyId");
    if (!Cell(key, "reason").empty() && Cell(key, "reason") != "-") detail += " (" + Cell(key, "reason") + ")";
    t.AddRow({"customer key", "", "", "", detail});
  }
  const json& cluster = Member(status, "cluster");
  if (cluster.is_object()) {
    for (const json& m : Member(cluster, "postgres")) {
      bool running = Member(m, "running") == true;
      t.AddRow({"postgres " + Cell(m, "name"), running ? Cell(m, "role") : "stopped",
                Cell(m, "pid"),
                Cell(m, "host") + ": postgres " + Cell(m, "port") + ", patroni " + Cell(m, "patroniPort"),
                Cell(m, "state")});
    }
    for (const json& e : Member(cluster, "etcd")) {
      bool running = Member(e, "running") == true;
      t.AddRow({"etcd " + Cell(e, "name"), running ? "running" : "stopped", Cell(e, "pid"),
                Cell(e, "host") + ": client " + Cell(e, "port"), "-"});
    }
    t.AddRow({"cluster store", Member(cluster, "synchronous") == true ? "ready" : "NOT READY", "",
              "", Member(cluster, "synchronous") == true
                      ? "a leader and a synchronous standby: commits are on two nodes"
                      : (cluster.contains("error") ? Cell(cluster, "error")
                                                   : "no leader with a synchronous standby")});
  }
  for (const char* name : {"vault", "hub"}) {  // the certificate each showed
    const json& shown = Member(Member(status, name), "certificate");
    if (!shown.is_object()) continue;
    t.AddRow({std::string(name) + " TLS", "", "", "",
              Cell(shown, "subject") + ", valid until " + Cell(shown, "notAfter")});
  }
  if (tsv) {
    out << t.RenderTsv();
    return;
  }
  out << t.Render();
  out << "coffre " << Cell(status, "version") << ", stack in " << Cell(status, "dir") << "\n";
}

}  // namespace coffre::cli
