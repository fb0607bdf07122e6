#pragma once
// Starting and watching the stack's background processes (coffre-vault, later coffre-hub).
// Stateless, thread-compatible.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "common/result.h"

namespace coffre::cli {

// The directory holding this executable: the stack's other binaries sit beside it.
std::filesystem::path OwnBinaryDir();

// Who a daemon runs as: this process's user unless `uid` is set (root starting PostgreSQL's
// Patroni as `postgres`, since PostgreSQL refuses to run as root).
struct DaemonUser {
  bool set = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // its HOME, and the daemon's working directory
};

// Starts `exe args...` in its own session (it outlives this process), stdin from /dev/null,
// stdout and stderr appended to `log_file` (opened before the switch to `user`). Returns its pid.
// `netns`: a network namespace's name under /run/netns (`ip netns add`) that it runs in, entered
// before the switch to `user`, which could not; "" for this process's.
Result<int> SpawnDaemon(const std::filesystem::path& exe, const std::vector<std::string>& args,
                        const std::filesystem::path& log_file, const DaemonUser& user = {},
                        const std::string& netns = "");

// The first lines of the configuration file the local stack writes for `daemon` at each start.
std::vector<std::string> StackConfigHeader(const std::string& daemon);

bool ProcessAlive(int pid);

// SIGTERM to each, then SIGKILL to those still alive after `grace`; returns once all are gone.
void StopProcesses(const std::vector<int>& pids, std::chrono::milliseconds grace);

// Polls `ready` every 50 ms until it returns OK, the process exits (then: the log's tail in the
// error), or `timeout` passes.
Status WaitUntilReady(int pid, const std::filesystem::path& log_file,
                      const std::function<Status()>& ready, std::chrono::milliseconds timeout);

}  // namespace coffre::cli
