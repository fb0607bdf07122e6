#include "cli/stack_cluster_state.h"

namespace coffre::cli {

using nlohmann::json;

std::filesystem::path ClusterDir(const std::filesystem::path& stack_dir) {
  return stack_dir / "cluster";
}

std::filesystem::path PostgresDataDir(const std::filesystem::path& stack_dir, size_t member) {
  return ClusterDir(stack_dir) / ("pg-" + std::to_string(member)) / "data";
}

json ClusterRecord(const StackCluster& c) {
  json etcd = json::array(), postgres = json::array();
  for (const EtcdMember& m : c.etcd) {
    etcd.push_back({{"name", m.name}, {"port", m.port}, {"peer_port", m.peer_port}, {"pid", m.pid}});
  }
  for (const PostgresMember& m : c.postgres) {
    postgres.push_back({{"name", m.name}, {"port", m.port}, {"patroni_port", m.patroni_port},
                        {"pid", m.pid}});
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
                        m.value("peer_port", uint16_t{0}), m.value("pid", 0)});
    }
  }
  if (record.contains("postgres") && record["postgres"].is_array()) {
    for (const json& m : record["postgres"]) {
      if (!m.is_object()) continue;
      c.postgres.push_back({m.value("name", ""), m.value("port", uint16_t{0}),
                            m.value("patroni_port", uint16_t{0}), m.value("pid", 0)});
    }
  }
  return c;
}

}  // namespace coffre::cli
