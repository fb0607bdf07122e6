#include "cli/stack_etcd.h"

#include <unistd.h>

#include "cli/daemon.h"
#include "cli/loopback_http.h"
#include "common/files.h"

namespace coffre::cli {
namespace {

std::string PeerUrl(const EtcdMember& m) {
  return "http://" + m.host + ":" + std::to_string(m.peer_port);
}
std::string ClientUrl(const EtcdMember& m) {
  return "http://" + m.host + ":" + std::to_string(m.port);
}

Result<int> StartMember(const std::filesystem::path& cluster_dir, const EtcdMember& m,
                        size_t index, const std::string& initial_cluster) {
  std::filesystem::path data = cluster_dir / ("etcd-" + std::to_string(index));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(data));
  // The --initial-* flags only matter to a member without data; one with data rejoins.
  // Compaction: Patroni rewrites its member keys every loop, so old revisions are dropped
  // after an hour rather than filling etcd's 2 GB quota on a stack left running.
  return SpawnDaemon(kEtcdBinary,
                     {"--name", m.name, "--data-dir", data.string(),
                      "--listen-client-urls", ClientUrl(m), "--advertise-client-urls", ClientUrl(m),
                      "--listen-peer-urls", PeerUrl(m), "--initial-advertise-peer-urls", PeerUrl(m),
                      "--initial-cluster", initial_cluster, "--initial-cluster-state", "new",
                      "--initial-cluster-token", "coffre-cluster-store",
                      "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
                      // Patroni's DCS is etcd's v2 API (stack_patroni.cc says why).
                      "--enable-v2=true"},
                     cluster_dir / ("etcd-" + std::to_string(index) + ".log"), DaemonUser{},
                     m.netns);
}

}  // namespace

std::string EtcdHosts(const std::vector<EtcdMember>& members) {
  std::string hosts;
  for (const EtcdMember& m : members) {
    hosts += (hosts.empty() ? "" : ",") + m.host + ":" + std::to_string(m.port);
  }
  return hosts;
}

Status EnsureEtcd(const std::filesystem::path& stack_dir, std::vector<EtcdMember>& members,
                  std::chrono::milliseconds timeout) {
  if (::access(kEtcdBinary, X_OK) != 0) {
    return FailedPrecondition(std::string(kEtcdBinary) +
                              " is missing: apt-get install etcd-server (scripts/setup.sh)");
  }
  const std::filesystem::path cluster_dir = ClusterDir(stack_dir);
  std::string initial_cluster;
  for (const EtcdMember& m : members) {
    initial_cluster += (initial_cluster.empty() ? "" : ",") + m.name + "=" + PeerUrl(m);
  }
  for (size_t i = 0; i < members.size(); ++i) {
    if (ProcessAlive(members[i].pid)) continue;
    COFFRE_ASSIGN_OR_RETURN(members[i].pid, StartMember(cluster_dir, members[i], i, initial_cluster));
  }
  // All started before any is waited for: a member reports healthy only once a majority runs.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (size_t i = 0; i < members.size(); ++i) {
    auto healthy = [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(LoopbackReply reply,
                              LoopbackGet(members[i].host, members[i].port, "/health",
                                          std::chrono::milliseconds(1000)));
      if (reply.status == 200 && reply.body.find("\"true\"") != std::string::npos) {
        return Status::Ok();
      }
      return Unavailable("etcd member " + members[i].name + " is not healthy yet");
    };
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::filesystem::path log = cluster_dir / ("etcd-" + std::to_string(i) + ".log");
    COFFRE_RETURN_IF_ERROR(
        WaitUntilReady(members[i].pid, log, healthy, std::max(left, std::chrono::milliseconds(1)))
            .WithContext("starting etcd member " + members[i].name + " (its log: " +
                         log.string() + ")"));
  }
  return Status::Ok();
}

}  // namespace coffre::cli
