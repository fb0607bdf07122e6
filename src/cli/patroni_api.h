#pragma once
// Reading Patroni's REST API (GET /cluster): who leads the cluster store and which member is
// its synchronous standby. Every Patroni node answers for the whole cluster from etcd, so any
// one that is up will do. Stateless, thread-safe.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace coffre::cli {

struct PatroniMember {
  std::string name;   // "pg0"
  std::string role;   // "leader", "sync_standby", "replica"
  std::string state;  // "running", "streaming", "starting", "stopped", ...
  std::string host;   // PostgreSQL's
  uint16_t port = 0;  // PostgreSQL's
};

// Where one Patroni node's REST API listens.
struct PatroniApi {
  std::string host;
  uint16_t port = 0;
};

// The members as the first of `apis` that answers sees them.
Result<std::vector<PatroniMember>> PatroniClusterMembers(const std::vector<PatroniApi>& apis,
                                                         std::chrono::milliseconds timeout);
// The same for APIs on 127.0.0.1.
Result<std::vector<PatroniMember>> PatroniClusterMembers(const std::vector<uint16_t>& patroni_ports,
                                                         std::chrono::milliseconds timeout);

// A running leader and a running synchronous standby: a commit is acknowledged by two nodes.
bool HasLeaderAndSyncStandby(const std::vector<PatroniMember>& members);
// The running leader's name, or "".
std::string LeaderName(const std::vector<PatroniMember>& members);

// "pg0 leader running, pg1 sync_standby running, pg2 replica running": for errors and progress.
std::string DescribeMembers(const std::vector<PatroniMember>& members);

}  // namespace coffre::cli
