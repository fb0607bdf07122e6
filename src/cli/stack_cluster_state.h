#pragma once
// What `coffre up --cluster` records of its replicated PostgreSQL store (docs/CLUSTER.md): the
// ports and pids of 3 etcd members and 3 Patroni nodes, and the conninfo the hub uses. The same
// JSON object is DIR/stack.json's and DIR/connection.json's "cluster" member, so a test or a
// tool reads the pids it may signal from the connection file. Plain data.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace coffre::cli {

inline constexpr int kClusterMembers = 3;

struct EtcdMember {
  std::string name;  // "etcd0"
  uint16_t port = 0;       // client URL http://127.0.0.1:port
  uint16_t peer_port = 0;  // raft between members
  int pid = 0;             // 0: not running
};

struct PostgresMember {
  std::string name;  // "pg0": Patroni's member name
  uint16_t port = 0;          // PostgreSQL
  uint16_t patroni_port = 0;  // Patroni's REST API (GET /cluster, /primary, ...)
  int pid = 0;                // Patroni's; it starts and stops its PostgreSQL
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

}  // namespace coffre::cli
