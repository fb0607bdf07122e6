#pragma once
// What `coffre up --cluster` records of its replicated PostgreSQL store (docs/CLUSTER.md): the
// address, ports and pids of 3 etcd members and 3 Patroni nodes, and the conninfo the hub uses. The
// same JSON object is DIR/stack.json's and DIR/connection.json's "cluster" member, so a test or a
// tool reads the pids it may signal from the connection file. Plain data.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace coffre::cli {

inline constexpr int kClusterMembers = 3;
inline constexpr const char* kLoopbackHost = "127.0.0.1";

// Node N is etcd member N and Patroni node N: one machine of a production layout. By default
// all three are on 127.0.0.1 of this host; a test that cuts one node off the others gives
// each its own address and network namespace (`coffre up --cluster-node-hosts/-netns`).
struct EtcdMember {
  std::string name;  // "etcd0"
  uint16_t port = 0;       // client URL http://host:port
  uint16_t peer_port = 0;  // raft between members
  int pid = 0;             // 0: not running
  std::string host = kLoopbackHost;  // the node's IPv4 address: every port of it binds there
  std::string netns;                 // "": this process's; else a name under /run/netns
};

struct PostgresMember {
  std::string name;  // "pg0": Patroni's member name
  uint16_t port = 0;          // PostgreSQL
  uint16_t patroni_port = 0;  // Patroni's REST API (GET /cluster, /primary, ...)
  int pid = 0;                // Patroni's; it starts and stops its PostgreSQL
  std::string host = kLoopbackHost;  // as EtcdMember's, the same node's
  std::string netns;
};

struct StackCluster {
  bool enabled = false;
  std::vector<EtcdMember> etcd;
  std::vector<PostgresMember> postgres;
  // libpq multi-host conninfo of the application role: what the hub is given.
  std::string postgres_conninfo;
};

// DIR/cluster/<name>: etcd-N and pg-N (pg-N/data is the PostgreSQL data directory).
std::filesystem::path ClusterDir(const std::filesystem::path& stack_dir);
std::filesystem::path PostgresDataDir(const std::filesystem::path& stack_dir, size_t member);

nlohmann::json ClusterRecord(const StackCluster& cluster);
// From ClusterRecord's JSON; enabled if `record` is an object.
StackCluster ReadClusterRecord(const nlohmann::json& record);

// Where each node runs, as `coffre up` was told: none (keep what DIR recorded; 127.0.0.1 for a
// new cluster), or one IPv4 address per node, and optionally one network namespace per node.
struct ClusterNodes {
  std::vector<std::string> hosts;
  std::vector<std::string> netns;
};

// Sets each member's host and netns from `nodes` (`new_cluster`: its members were just made).
// INVALID_ARGUMENT for a list that does not name every node once; FAILED_PRECONDITION when an
// existing cluster runs elsewhere (its members and data know their addresses: a new DIR is the
// way to move).
Status ApplyClusterNodes(StackCluster& cluster, const ClusterNodes& nodes, bool new_cluster);

}  // namespace coffre::cli
