#pragma once
// The cluster store's etcd: 3 members of one etcd cluster on loopback, where Patroni keeps the
// leader lock and the cluster's configuration. Three, so that the lock survives the loss of
// any one member (a majority of 3 is 2).
//   DIR/cluster/etcd-N/      member N's data (0700)
//   DIR/cluster/etcd-N.log   its log

#include <chrono>
#include <filesystem>
#include <vector>

#include "cli/stack_cluster_state.h"
#include "common/result.h"

namespace coffre::cli {

inline constexpr const char* kEtcdBinary = "/usr/bin/etcd";

// Starts the members that are not running (a member with data rejoins its cluster; the others
// form a new one) and waits until each reports a healthy cluster (GET /health), or `timeout`.
// Records the pids in `members` as it starts them, also on failure.
Status EnsureEtcd(const std::filesystem::path& stack_dir, std::vector<EtcdMember>& members,
                  std::chrono::milliseconds timeout);

// "127.0.0.1:P0,127.0.0.1:P1,127.0.0.1:P2" (each member's host): the client endpoints, as
// Patroni takes them.
std::string EtcdHosts(const std::vector<EtcdMember>& members);

}  // namespace coffre::cli
