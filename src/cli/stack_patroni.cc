#include "cli/stack_patroni.h"

#include <pwd.h>
#include <unistd.h>

#include "cli/stack_etcd.h"
#include "common/files.h"

namespace coffre::cli {
namespace {

// A YAML single-quoted scalar: no escapes but '' for '.
std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string Address(const std::string& host, uint16_t port) {
  return Quote(host + ":" + std::to_string(port));
}

// Who may connect: on loopback, loopback only; a node on its own address (a network namespace
// per node) takes the other nodes and the hub on its subnet.
std::string ClientsOf(const PostgresMember& m) {
  return m.host == kLoopbackHost ? "127.0.0.1/32" : "samenet";
}

std::filesystem::path NodeDir(const std::filesystem::path& stack_dir, size_t index) {
  return ClusterDir(stack_dir) / ("pg-" + std::to_string(index));
}

Status GiveTo(const std::filesystem::path& path, const DaemonUser& user) {
  if (!user.set) return Status::Ok();
  if (::chown(path.c_str(), user.uid, user.gid) != 0) return ErrnoStatus("chown " + path.string(), errno);
  return Status::Ok();
}

}  // namespace

Result<DaemonUser> PostgresUser() {
  if (::geteuid() != 0) return DaemonUser{};
  passwd entry{}, *found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r("postgres", &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return FailedPrecondition(
        "running as root, PostgreSQL needs the user postgres: apt-get install postgresql-15 "
        "(scripts/setup.sh)");
  }
  return DaemonUser{true, entry.pw_uid, entry.pw_gid, entry.pw_dir};
}

std::string PatroniConfig(const std::filesystem::path& stack_dir, const StackCluster& cluster,
                          size_t index, const ClusterSecrets& secrets, const PatroniTiming& timing) {
  const PostgresMember& m = cluster.postgres[index];
  const std::filesystem::path node = NodeDir(stack_dir, index);
  std::string y;
  y += "# Written by `coffre up --cluster` at each start (edits here are replaced). The bootstrap\n"
       "# section applies only to the cluster's first start. docs/CLUSTER.md explains it.\n";
  y += "scope: coffre\nnamespace: /coffre/\nname: " + Quote(m.name) + "\n";
  y += "restapi:\n  listen: " + Address(m.host, m.patroni_port) +
       "\n  connect_address: " + Address(m.host, m.patroni_port) + "\n";
  // GET endpoints stay open on loopback (the stack reads /cluster); POST ones (switchover,
  // restart, reinitialize) need this.
  y += "  authentication:\n    username: " + Quote(kPatroniRestUser) + "\n    password: " +
       Quote(secrets.restapi) + "\n";
  // etcd's v2 API, not etcd3: Debian's Patroni 3.0.2 renews an expired leader key under etcd3
  // with an unconditional put, so a leader paused past its ttl (a VM stall, SIGSTOP) takes the
  // key back from the standby promoted meanwhile, which is then rewound: commits acknowledged
  // there are lost (seen here; fixed upstream in Patroni 3.0.3). Under v2 the renewal is a
  // compare-and-swap on its own name, which fails, and the paused leader demotes itself.
  y += "etcd:\n  hosts: " + Quote(EtcdHosts(cluster.etcd)) + "\n";
  y += "bootstrap:\n  dcs:\n";
  y += "    ttl: " + std::to_string(timing.ttl) + "\n";
  y += "    loop_wait: " + std::to_string(timing.loop_wait) + "\n";
  y += "    retry_timeout: " + std::to_string(timing.retry_timeout) + "\n";
  // A crashed primary is failed over to the synchronous standby at once rather than restarted
  // in place: the standby has every acknowledged commit and is known to run.
  y += "    primary_start_timeout: 0\n";
  // A commit returns once the synchronous standby has it on disk, and only that standby may be
  // promoted: no acknowledged commit is lost with the primary. Strict: with no standby left,
  // commits wait rather than being acknowledged by the primary alone.
  y += "    synchronous_mode: true\n    synchronous_mode_strict: true\n"
       "    synchronous_node_count: 1\n";
  y += "    postgresql:\n      use_pg_rewind: true\n      use_slots: true\n      parameters:\n";
  y += "        synchronous_commit: 'on'\n        wal_level: replica\n        wal_log_hints: 'on'\n"
       "        hot_standby: 'on'\n        max_wal_senders: 10\n        max_replication_slots: 10\n"
       "        password_encryption: scram-sha-256\n";
  // After a failover, strict mode holds commits until a standby streams from the new primary;
  // a standby whose first try failed (its slot not made yet) waits this long to try again:
  // PostgreSQL's 5 s default was most of the measured write pause.
  y += "        wal_retrieve_retry_interval: 500ms\n";
  y += "  initdb:\n  - encoding: UTF8\n  - data-checksums\n";
  y += "postgresql:\n  listen: " + Address(m.host, m.port) +
       "\n  connect_address: " + Address(m.host, m.port) + "\n";
  y += "  data_dir: " + Quote((node / "data").string()) + "\n";
  y += "  bin_dir: " + Quote(kPostgresBinDir) + "\n";
  y += "  pgpass: " + Quote((node / "patroni.pgpass").string()) + "\n";
  y += "  authentication:\n";
  y += "    superuser:\n      username: " + Quote(kPgSuperuser) + "\n      password: " +
       Quote(secrets.superuser) + "\n";
  y += "    replication:\n      username: " + Quote(kPgReplicationUser) + "\n      password: " +
       Quote(secrets.replication) + "\n";
  // TCP only: no Unix socket (its path would be too long under a deep DIR).
  y += "  parameters:\n    unix_socket_directories: ''\n";
  y += "  pg_hba:\n";
  y += "  - host replication " + std::string(kPgReplicationUser) + " " + ClientsOf(m) +
       " scram-sha-256\n";
  y += "  - host all all " + ClientsOf(m) + " scram-sha-256\n";
  return y;
}

Status StartPatroniNodes(const std::filesystem::path& stack_dir, StackCluster& cluster,
                         const ClusterSecrets& secrets, const DaemonUser& user) {
  if (::access(kPatroniBinary, X_OK) != 0) {
    return FailedPrecondition(std::string(kPatroniBinary) +
                              " is missing: apt-get install patroni (scripts/setup.sh)");
  }
  for (size_t i = 0; i < cluster.postgres.size(); ++i) {
    const std::filesystem::path node = NodeDir(stack_dir, i);
    COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(node));
    COFFRE_RETURN_IF_ERROR(GiveTo(node, user));
    const std::filesystem::path config = node / "patroni.yml";
    std::string text = PatroniConfig(stack_dir, cluster, i, secrets, PatroniTiming{});
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(config, AsBytes(text), 0600));
    COFFRE_RETURN_IF_ERROR(GiveTo(config, user));
    if (ProcessAlive(cluster.postgres[i].pid)) continue;  // it rereads its file on SIGHUP only
    COFFRE_ASSIGN_OR_RETURN(cluster.postgres[i].pid,
                            SpawnDaemon(kPatroniBinary, {config.string()}, node / "patroni.log",
                                        user, cluster.postgres[i].netns));
  }
  return Status::Ok();
}

}  // namespace coffre::cli
