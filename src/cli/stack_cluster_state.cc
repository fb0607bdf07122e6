#include "cli/stack_cluster_state.h"

#include <arpa/inet.h>

#include <set>

namespace coffre::cli {

using nlohmann::json;

std::filesystem::path ClusterDir(const std::filesystem::path& stack_dir) {
  return stack_dir / "cluster";
}

std::filesystem::path PostgresDataDir(const std::filesystem::path& stack_dir, size_t member) {
  return ClusterDir(stack_dir) / ("pg-" + std::to_string(member)) / "data";
}

namespace {

// "host" always (tools read it), "netns" only when a node has one.
void AddPlace(json& member, const std::string& host, const std::string& netns) {
  member["host"] = host;
  if (!netns.empty()) member["netns"] = netns;
}

}  // namespace

json ClusterRecord(const StackCluster& c) {
  json etcd = json::array(), postgres = json::array();
  for (const EtcdMember& m : c.etcd) {
    json member = {{"name", m.name}, {"port", m.port}, {"peer_port", m.peer_port}, {"pid", m.pid}};
    AddPlace(member, m.host, m.netns);
    etcd.push_back(member);
  }
  for (const PostgresMember& m : c.postgres) {
    json member = {
        {"name", m.name}, {"port", m.port}, {"patroni_port", m.patroni_port}, {"pid", m.pid}};
    AddPlace(member, m.host, m.netns);
    postgres.push_back(member);
  }
  return {{"postgres_conninfo", c.postgres_conninfo}, {"etcd", etcd}, {"postgres", postgres}};
}

StackCluster ReadClusterRecord(const json& record) {
  StackCluster c;
  if (!record.is_object()) return c;
  c.enabled = true;
  c.postgres_conninfo = record.value("postgres_conninfo", "");
  if (record.contains("etcd") && record["etcd"].is_array()) {
    for (const json& m : record["etcd"]) {
      if (!m.is_object()) continue;
      c.etcd.push_back({m.value("name", ""), m.value("port", uint16_t{0}),
                        m.value("peer_port", uint16_t{0}), m.value("pid", 0),
                        m.value("host", std::string(kLoopbackHost)), m.value("netns", "")});
    }
  }
  if (record.contains("postgres") && record["postgres"].is_array()) {
    for (const json& m : record["postgres"]) {
      if (!m.is_object()) continue;
      c.postgres.push_back({m.value("name", ""), m.value("port", uint16_t{0}),
                            m.value("patroni_port", uint16_t{0}), m.value("pid", 0),
                            m.value("host", std::string(kLoopbackHost)), m.value("netns", "")});
    }
  }
  return c;
}

Status ApplyClusterNodes(StackCluster& cluster, const ClusterNodes& nodes, bool new_cluster) {
  if (nodes.hosts.empty() && nodes.netns.empty()) return Status::Ok();
  if (nodes.hosts.size() != kClusterMembers) {
    return InvalidArgument("--cluster-node-hosts names " + std::to_string(kClusterMembers) +
                           " addresses, one per node (etcd and Patroni N share address N)");
  }
  if (!nodes.netns.empty() && nodes.netns.size() != kClusterMembers) {
    return InvalidArgument("--cluster-node-netns names " + std::to_string(kClusterMembers) +
                           " network namespaces, one per node");
  }
  std::set<std::string> seen;
  for (const std::string& host : nodes.hosts) {
    in_addr parsed{};
    if (::inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
      return InvalidArgument("--cluster-node-hosts: " + host + " is not an IPv4 address");
    }
    // Two nodes on one address would share ports: not a layout of distinct machines.
    if (!seen.insert(host).second) {
      return InvalidArgument("--cluster-node-hosts: " + host + " is named twice");
    }
  }
  for (const std::string& name : nodes.netns) {
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
      return InvalidArgument("--cluster-node-netns: '" + name + "' is not a name under /run/netns");
    }
  }
  for (size_t i = 0; i < cluster.postgres.size() && i < cluster.etcd.size(); ++i) {
    PostgresMember& node = cluster.postgres[i];
    const std::string netns = nodes.netns.empty() ? "" : nodes.netns[i];
    if (!new_cluster && (node.host != nodes.hosts[i] || node.netns != netns)) {
      return FailedPrecondition("this cluster's node " + node.name + " runs on " + node.host +
                                (node.netns.empty() ? "" : " in netns " + node.netns) + ", not " +
                                nodes.hosts[i] + ": a cluster stays where it was made");
    }
    cluster.etcd[i].host = node.host = nodes.hosts[i];
    cluster.etcd[i].netns = node.netns = netns;
  }
  return Status::Ok();
}

}  // namespace coffre::cli
