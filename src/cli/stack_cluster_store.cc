#include "cli/stack_cluster_store.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "cli/daemon.h"
#include "cli/local_stack.h"
#include "cli/patroni_api.h"
#include "cli/stack_cluster_secrets.h"
#include "cli/stack_etcd.h"
#include "cli/stack_patroni.h"
#include "common/files.h"
#include "pgstore/pg_connection.h"

namespace coffre::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kEtcdTimeout = std::chrono::seconds(30);
constexpr auto kPostgresStopGrace = std::chrono::seconds(5);
constexpr auto kReplayTimeout = std::chrono::seconds(15);

// A conninfo value, quoted when it needs to be (libpq: '...' with \' and \\).
std::string ConninfoValue(const std::string& value) {
  if (!value.empty() && value.find_first_of(" '\\") == std::string::npos) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// "host=127.0.0.1,127.0.0.1,127.0.0.1 port=P0,P1,P2": every node; libpq tries them in turn
// and target_session_attrs=read-write keeps the one that is the primary.
std::string Hosts(const StackCluster& cluster) {
  std::string hosts, ports;
  for (const PostgresMember& m : cluster.postgres) {
    hosts += (hosts.empty() ? "" : ",") + m.host;
    ports += (ports.empty() ? "" : ",") + std::to_string(m.port);
  }
  return "host=" + hosts + " port=" + ports;
}

std::string ApplicationConninfo(const std::filesystem::path& stack_dir, const StackCluster& cluster) {
  return Hosts(cluster) + " dbname=" + kPgDatabase + " user=" + kPgApplicationRole +
         " passfile=" + ConninfoValue((ClusterDir(stack_dir) / "pgpass").string()) +
         " target_session_attrs=read-write connect_timeout=2";
}

Status PickPorts(StackCluster& cluster, uint16_t from) {
  COFFRE_ASSIGN_OR_RETURN(std::vector<uint16_t> ports, PickFreePortList(from, 4 * kClusterMembers));
  size_t next = 0;
  for (int i = 0; i < kClusterMembers; ++i) {
    EtcdMember e;
    e.name = "etcd" + std::to_string(i);
    e.port = ports[next++];
    e.peer_port = ports[next++];
    cluster.etcd.push_back(e);
  }
  for (int i = 0; i < kClusterMembers; ++i) {
    PostgresMember p;
    p.name = "pg" + std::to_string(i);
    p.port = ports[next++];
    p.patroni_port = ports[next++];
    cluster.postgres.push_back(p);
  }
  return Status::Ok();
}

// PostgreSQL's user must cross every directory above DIR: a clear error here rather than
// Patroni's "permission denied" in three logs.
Status CheckReachable(const std::filesystem::path& stack_dir, const DaemonUser& user) {
  for (std::filesystem::path p = stack_dir.parent_path();; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return ErrnoStatus("stat " + p.string(), errno);
    mode_t x = st.st_uid == user.uid ? S_IXUSR : st.st_gid == user.gid ? S_IXGRP : S_IXOTH;
    if ((st.st_mode & x) == 0) {
      return FailedPrecondition("PostgreSQL runs as postgres, which cannot cross " + p.string() +
                                ": choose a --dir it can reach (e.g. under /var/tmp or /srv)");
    }
    if (p == p.root_path()) return Status::Ok();
  }
}

// DIR and DIR/cluster: crossable by PostgreSQL's group when it runs as another user.
Status PrepareDirectories(const std::filesystem::path& stack_dir, const DaemonUser& user) {
  if (user.set) COFFRE_RETURN_IF_ERROR(CheckReachable(stack_dir, user));
  const std::filesystem::path cluster_dir = ClusterDir(stack_dir);
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(cluster_dir, StackDirMode(true)));
  if (!user.set) return Status::Ok();
  for (const std::filesystem::path& dir : {stack_dir, cluster_dir}) {
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), user.gid) != 0) {
      return ErrnoStatus("chown " + dir.string(), errno);
    }
    COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir, StackDirMode(true)));
  }
  return Status::Ok();
}

std::string PatroniLogs(const std::filesystem::path& stack_dir) {
  return (ClusterDir(stack_dir) / "pg-0" / "patroni.log").string() + " (and pg-1, pg-2)";
}

// Until a leader and a synchronous standby run; a Patroni that exits fails it at once.
// Returns the leader.
Result<PostgresMember> WaitForLeaderAndSyncStandby(const std::filesystem::path& stack_dir,
                                                   const StackCluster& cluster,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string last = "no Patroni node answered";
  for (;;) {
    for (size_t i = 0; i < cluster.postgres.size(); ++i) {
      if (ProcessAlive(cluster.postgres[i].pid)) continue;
      std::filesystem::path log = ClusterDir(stack_dir) / ("pg-" + std::to_string(i)) / "patroni.log";
      std::string tail = ReadTextFile(log).value_or("");
      if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
      return Unavailable("Patroni node " + cluster.postgres[i].name + " (pid " +
                         std::to_string(cluster.postgres[i].pid) + ") exited; " + log.string() +
                         " ends with:\n" + tail);
    }
    Result<std::vector<PatroniMember>> members =
        PatroniClusterMembers(PatroniApis(cluster), std::chrono::milliseconds(1000));
    if (members.has_value()) {
      if (HasLeaderAndSyncStandby(*members)) {
        for (const PostgresMember& m : cluster.postgres) {
          if (m.name == LeaderName(*members)) return m;
        }
      }
      last = DescribeMembers(*members);
    } else {
      last = members.error().message();
    }
    if (Clock::now() >= deadline) {
      return DeadlineExceeded(
          "the cluster store has no running leader and synchronous standby after " +
          std::to_string(timeout.count() / 1000) + " s (last seen: " + last + "); read " +
          PatroniLogs(stack_dir));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The application role (its password set from DIR's, as a SCRAM verifier) and its database.
// Run at every start: idempotent, and it heals a role whose password fell out of step.
// On the leader Patroni names, not the first read-write host: a node whose Patroni was killed
// keeps a PostgreSQL that takes connections as a primary until its Patroni is back to demote
// it, and a commit there would wait forever for a standby that follows another leader.
Status EnsureApplicationRole(const std::filesystem::path& stack_dir, const StackCluster& cluster,
                             const ClusterSecrets& secrets, const PostgresMember& leader) {
  std::string superuser = "host=" + leader.host + " port=" + std::to_string(leader.port) +
                          " dbname=postgres user=" + kPgSuperuser +
                          " password=" + ConninfoValue(secrets.superuser) +
                          " target_session_attrs=read-write connect_timeout=2";
  COFFRE_ASSIGN_OR_RETURN(auto db, pgstore::PgConnection::Connect(superuser));
  COFFRE_ASSIGN_OR_RETURN(std::string verifier, ScramVerifier(secrets.application));
  // Utility statements take no parameters: the verifier is base64 and '$:' only, and the
  // names are constants.
  COFFRE_ASSIGN_OR_RETURN(pgstore::PgRows role,
                          db->Exec("SELECT 1 FROM pg_roles WHERE rolname = $1",
                                   {pgstore::PgParam::Text(kPgApplicationRole)}));
  std::string verb = role.size() == 0 ? "CREATE" : "ALTER";
  COFFRE_RETURN_IF_ERROR(db->Exec(verb + " ROLE " + kPgApplicationRole + " LOGIN PASSWORD '" +
                                  verifier + "'")
                             .status()
                             .WithContext("the application role"));
  COFFRE_ASSIGN_OR_RETURN(pgstore::PgRows database,
                          db->Exec("SELECT 1 FROM pg_database WHERE datname = $1",
                                   {pgstore::PgParam::Text(kPgDatabase)}));
  if (database.size() == 0) {
    COFFRE_RETURN_IF_ERROR(db->Exec(std::string("CREATE DATABASE ") + kPgDatabase + " OWNER " +
                                    kPgApplicationRole)
                               .status()
                               .WithContext("the application database"));
  }
  // What the hub will do: connect through the passfile, to the primary. libpq gives up on the
  // whole host list when one host refuses the login (it moves on only from one starting up),
  // so this waits until every standby has replayed the role and the database too.
  const auto deadline = Clock::now() + kReplayTimeout;
  for (;;) {
    Result<std::unique_ptr<pgstore::PgConnection>> app =
        pgstore::PgConnection::Connect(ApplicationConninfo(stack_dir, cluster));
    Status answered = app.has_value() ? (*app)->Exec("SELECT 1").status() : app.error();
    if (answered.ok() || Clock::now() >= deadline) {
      return answered.WithContext("the application role's connection");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The pids of processes whose working directory is under DIR/cluster/pg-*: PostgreSQL's
// postmaster and backends run in their data directory. Catches those of a killed Patroni or
// a killed postmaster alike, whatever postmaster.pid says.
std::vector<int> PostgresProcessesUnder(const std::filesystem::path& cluster_dir) {
  const std::string prefix = (cluster_dir / "pg-").string();
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code gone;
    std::filesystem::path cwd = std::filesystem::read_symlink(entry.path() / "cwd", gone);
    if (!gone && cwd.string().rfind(prefix, 0) == 0) pids.push_back(std::stoi(name));
  }
  return pids;
}

void StopLeftoverPostgres(const std::filesystem::path& cluster_dir) {
  std::vector<int> pids = PostgresProcessesUnder(cluster_dir);
  if (pids.empty()) return;
  // SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for its clients).
  for (int pid : pids) ::kill(pid, SIGINT);
  const auto deadline = Clock::now() + kPostgresStopGrace;
  for (;;) {
    pids = PostgresProcessesUnder(cluster_dir);
    if (pids.empty()) return;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int pid : pids) ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && !PostgresProcessesUnder(cluster_dir).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

mode_t StackDirMode(bool cluster) { return cluster && ::geteuid() == 0 ? 0710 : 0700; }

Status EnsureClusterStore(const std::filesystem::path& stack_dir, StackCluster& cluster,
                          uint16_t ports_from, std::chrono::milliseconds timeout,
                          const ClusterNodes& nodes) {
  cluster.enabled = true;
  COFFRE_ASSIGN_OR_RETURN(DaemonUser user, PostgresUser());
  COFFRE_RETURN_IF_ERROR(PrepareDirectories(stack_dir, user));
  const bool new_cluster =
      cluster.etcd.size() != kClusterMembers || cluster.postgres.size() != kClusterMembers;
  if (new_cluster) {
    cluster.etcd.clear();
    cluster.postgres.clear();
    COFFRE_RETURN_IF_ERROR(PickPorts(cluster, ports_from));
  }
  COFFRE_RETURN_IF_ERROR(ApplyClusterNodes(cluster, nodes, new_cluster));
  // Forget processes that are gone (a crash, a reboot).
  for (EtcdMember& m : cluster.etcd) m.pid = ProcessAlive(m.pid) ? m.pid : 0;
  for (PostgresMember& m : cluster.postgres) m.pid = ProcessAlive(m.pid) ? m.pid : 0;
  std::vector<std::string> hosts;
  for (const PostgresMember& m : cluster.postgres) hosts.push_back(m.host);
  COFFRE_ASSIGN_OR_RETURN(ClusterSecrets secrets,
                          EnsureClusterSecrets(ClusterDir(stack_dir), hosts));
  COFFRE_RETURN_IF_ERROR(EnsureEtcd(stack_dir, cluster.etcd, kEtcdTimeout));
  COFFRE_RETURN_IF_ERROR(StartPatroniNodes(stack_dir, cluster, secrets, user));
  COFFRE_ASSIGN_OR_RETURN(PostgresMember leader,
                          WaitForLeaderAndSyncStandby(stack_dir, cluster, timeout));
  COFFRE_RETURN_IF_ERROR(
      EnsureApplicationRole(stack_dir, cluster, secrets, leader)
          .WithContext("the cluster store (read " + PatroniLogs(stack_dir) + ")"));
  cluster.postgres_conninfo = ApplicationConninfo(stack_dir, cluster);
  return Status::Ok();
}

void StopClusterStore(const std::filesystem::path& stack_dir, StackCluster& cluster,
                      std::chrono::milliseconds grace) {
  // Patroni first, while etcd still runs: each stops its PostgreSQL (a fast shutdown). The
  // standbys before the leader: a leader stopped with them looks for a member to hand over to
  // through their half-stopped REST APIs (measured: 10 s, then SIGKILL), and one stopped
  // before them hands over, so that a standby promotes itself just to be stopped.
  Result<std::vector<PatroniMember>> members =
      PatroniClusterMembers(PatroniApis(cluster), std::chrono::milliseconds(1000));
  const std::string leader = members.has_value() ? LeaderName(*members) : "";
  std::vector<int> standbys, leaders, etcd;
  for (const PostgresMember& m : cluster.postgres) {
    (m.name == leader ? leaders : standbys).push_back(m.pid);
  }
  for (const EtcdMember& m : cluster.etcd) etcd.push_back(m.pid);
  StopProcesses(standbys, grace);
  StopProcesses(leaders, grace);
  StopLeftoverPostgres(ClusterDir(stack_dir));
  StopProcesses(etcd, grace);
  for (PostgresMember& m : cluster.postgres) m.pid = 0;
  for (EtcdMember& m : cluster.etcd) m.pid = 0;
}

std::vector<PatroniApi> PatroniApis(const StackCluster& cluster) {
  std::vector<PatroniApi> apis;
  for (const PostgresMember& m : cluster.postgres) apis.push_back({m.host, m.patroni_port});
  return apis;
}

std::vector<std::string> ClusterHubArgs(const StackCluster& cluster) {
  if (!cluster.enabled) return {};
  // The conninfo names the password file, never the password (coffre-hub refuses one).
  return {"--postgres-conninfo", cluster.postgres_conninfo};
}

}  // namespace coffre::cli
