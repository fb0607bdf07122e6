#pragma once
// Cluster mode's replicated PostgreSQL store, as `coffre up --cluster --dir DIR` starts it
// (docs/CLUSTER.md): 3 etcd members (stack_etcd.h) and 3 Patroni nodes each managing a
// PostgreSQL 15 (stack_patroni.h), all on 127.0.0.1 unless told otherwise (ClusterNodes), with
// a synchronous standby; the roles'
// passwords in DIR (stack_cluster_secrets.h); an application role and database `coffre`, which
// the hub reaches through StackCluster::postgres_conninfo. Ports are picked at the first start
// and reused, as the data is.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

#include "cli/patroni_api.h"
#include "cli/stack_cluster_state.h"
#include "common/result.h"

namespace coffre::cli {

// Where a stack on the default ports looks for the cluster's 12 free ports.
inline constexpr uint16_t kClusterPortsFrom = 25432;

// Starts what is not running and waits (up to `timeout`) until the cluster has a running
// leader and a running synchronous standby, then makes sure the application role and its
// database exist and answer through the conninfo. Records ports (picked free from
// `ports_from` if none are recorded yet), `nodes` (ApplyClusterNodes) and pids in `cluster` as
// it goes, also on failure.
Status EnsureClusterStore(const std::filesystem::path& stack_dir, StackCluster& cluster,
                          uint16_t ports_from, std::chrono::milliseconds timeout,
                          const ClusterNodes& nodes = {});

// Stops the Patroni nodes (each stops its PostgreSQL), then any PostgreSQL process left in
// DIR/cluster (one whose Patroni was killed), then etcd; clears the pids.
void StopClusterStore(const std::filesystem::path& stack_dir, StackCluster& cluster,
                      std::chrono::milliseconds grace);

// Every Patroni node's REST API, where this process reaches it.
std::vector<PatroniApi> PatroniApis(const StackCluster& cluster);

// The coffre-hub flags that put a hub of this stack on the cluster store: the one place cluster
// mode adds to the hub's command line.
std::vector<std::string> ClusterHubArgs(const StackCluster& cluster);

// DIR's mode: 0700, or 0710 for a cluster started as root, whose group (postgres) must cross
// DIR to reach DIR/cluster/pg-N.
mode_t StackDirMode(bool cluster);

}  // namespace coffre::cli
