#include "cli/daemon.h"

#include <fstream>

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"

namespace coffre::cli {

std::filesystem::path OwnBinaryDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path(".") : exe.parent_path();
}

Result<int> SpawnDaemon(const std::filesystem::path& exe, const std::vector<std::string>& args,
                        const std::filesystem::path& log_file, const DaemonUser& user,
                        const std::string& netns) {
  if (::access(exe.c_str(), X_OK) != 0) return NotFound(exe.string() + " is not an executable");
  int netns_fd = -1;
  if (!netns.empty()) {
    const std::string netns_path = "/run/netns/" + netns;
    netns_fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      return ErrnoStatus("open " + netns_path + " (ip netns add " + netns + ")", errno);
    }
  }
  std::vector<std::string> argv_storage = {exe.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Made before fork: the child of a threaded process may only make async-signal-safe calls.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!user.set || std::string_view(*e).rfind("HOME=", 0) != 0) env_storage.emplace_back(*e);
  }
  if (user.set) env_storage.push_back("HOME=" + user.home);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    if (netns_fd >= 0) ::close(netns_fd);
    return ErrnoStatus("fork", error);
  }
  if (pid == 0) {
    ::setsid();
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(125);
    int null_fd = ::open("/dev/null", O_RDONLY);
    int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null_fd < 0 || log_fd < 0) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::close_range(3, ~0U, 0);
    if (user.set) {
      if (::setgroups(1, &user.gid) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0 ||
          ::chdir(user.home.c_str()) != 0) {
        ::_exit(126);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (netns_fd >= 0) ::close(netns_fd);
  return static_cast<int>(pid);
}

std::vector<std::string> StackConfigHeader(const std::string& daemon) {
  return {daemon + "'s settings in the local stack, written by `coffre up` at each start (edits",
          "here are replaced at the next one). Every field: docs/CONFIGURATION.md."};
}

bool ProcessAlive(int pid) {
  if (pid <= 0) return false;
  // Reap it if it is our exited child, so it does not linger as a zombie that kill(0) accepts.
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return false;
  if (::kill(pid, 0) != 0) return false;
  // Killed but not yet reaped by a parent that is not us (a daemon's parent is init, which in
  // a container may never reap): a zombie is not running.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t paren = line.rfind(") ");
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

void StopProcesses(const std::vector<int>& pids, std::chrono::milliseconds grace) {
  for (int pid : pids) {
    if (ProcessAlive(pid)) ::kill(pid, SIGTERM);
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (int pid : pids) {
    while (ProcessAlive(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (ProcessAlive(pid)) ::kill(pid, SIGKILL);
    while (ProcessAlive(pid)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status WaitUntilReady(int pid, const std::filesystem::path& log_file,
                      const std::function<Status()>& ready, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = Unavailable("not started");
  while (std::chrono::steady_clock::now() < deadline) {
    if (!ProcessAlive(pid)) {
      std::string log = ReadTextFile(log_file).value_or("");
      if (log.size() > 2000) log = log.substr(log.size() - 2000);
      return Unavailable("process " + std::to_string(pid) + " exited; its log says:\n" + log);
    }
    last = ready();
    if (last.ok()) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded("not ready within " + std::to_string(timeout.count()) +
                          " ms: " + last.ToString());
}

}  // namespace coffre::cli
