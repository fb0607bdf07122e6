#pragma once
// The cluster store's PostgreSQL: 3 Patroni nodes, each managing one PostgreSQL 15 instance
// (Debian's), on loopback. Patroni keeps one primary and two streaming standbys, one of them
// synchronous, and fails over to that one (docs/CLUSTER.md has the why of every setting).
//   DIR/cluster/pg-N/              owned by the user PostgreSQL runs as (postgres when root)
//   DIR/cluster/pg-N/patroni.yml   Patroni's configuration (0600: the roles' passwords)
//   DIR/cluster/pg-N/patroni.log   Patroni's log, with its PostgreSQL's
//   DIR/cluster/pg-N/data/         the PostgreSQL data directory

#include <filesystem>
#include <string>
#include <vector>

#include "cli/daemon.h"
#include "cli/stack_cluster_secrets.h"
#include "cli/stack_cluster_state.h"
#include "common/result.h"

namespace coffre::cli {

inline constexpr const char* kPatroniBinary = "/usr/bin/patroni";
inline constexpr const char* kPostgresBinDir = "/usr/lib/postgresql/15/bin";

// Patroni's timing (its DCS settings, written at the cluster's first start). A crashed primary
// is noticed within loop_wait and handed over at once (primary_start_timeout 0); a primary
// whose Patroni is gone loses its lock after ttl. Patroni requires
// loop_wait + 2 * retry_timeout <= ttl. Shorter is a shorter pause and more false failovers
// on a starved machine: docs/CLUSTER.md, "Failover timing".
struct PatroniTiming {
  int ttl = 10;
  int loop_wait = 1;
  int retry_timeout = 4;
};

// The user PostgreSQL runs as: `postgres` when this process is root (PostgreSQL refuses root),
// else this process's own (not set).
Result<DaemonUser> PostgresUser();

// Member `index`'s patroni.yml.
std::string PatroniConfig(const std::filesystem::path& stack_dir, const StackCluster& cluster,
                          size_t index, const ClusterSecrets& secrets, const PatroniTiming& timing);

// Writes each node's patroni.yml and starts Patroni for each member that is not running,
// recording its pid. Does not wait: EnsureClusterStore waits for the cluster as a whole.
Status StartPatroniNodes(const std::filesystem::path& stack_dir, StackCluster& cluster,
                         const ClusterSecrets& secrets, const DaemonUser& user);

}  // namespace coffre::cli
