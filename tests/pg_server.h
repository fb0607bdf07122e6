#pragma once
// PgServer: a PostgreSQL 15 server of the test's own (Debian's postgresql-15): a cluster made
// by initdb in a temp dir, started by pg_ctl on a free loopback port, stopped by its pid (from
// postmaster.pid) when the object dies. As root, the server runs as the `postgres` user, since
// PostgreSQL refuses root. available() is false, with the reason, where it is not installed.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "test_util.h"

namespace coffre::testing {

class PgServer {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

  PgServer() {
    if (!std::filesystem::exists(std::string(kBin) + "/initdb")) {
      why_not_ = "PostgreSQL 15 is not installed (scripts/setup.sh installs postgresql-15)";
      return;
    }
    port_ = FreePort();
    std::string as = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (::geteuid() == 0) {
      std::string own = "chown -R postgres " + dir_.path().string();
      if (std::system(own.c_str()) != 0) why_not_ = "cannot hand the test dir to postgres";
    }
    std::string data = (dir_.path() / "data").string();
    std::string log = (dir_.path() / "server.log").string();
    std::string init = as + kBin + "/initdb -D " + data + " -U coffre --auth=trust -E UTF8 " +
                       "--no-sync >" + (dir_.path() / "initdb.log").string() + " 2>&1";
    if (why_not_.empty() && std::system(init.c_str()) != 0) why_not_ = "initdb failed";
    std::string start = as + kBin + "/pg_ctl -D " + data + " -l " + log + " -w -o \"-p " +
                        std::to_string(port_) + " -c listen_addresses=127.0.0.1 -k " +
                        dir_.path().string() + "\" start >/dev/null 2>&1";
    if (why_not_.empty() && std::system(start.c_str()) != 0) why_not_ = "pg_ctl start failed";
    if (why_not_.empty()) {
      std::ifstream pid_file(data + "/postmaster.pid");
      pid_file >> pid_;
    }
  }
  ~PgServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // smart shutdown would wait for clients: SIGINT is "fast"
    ::kill(pid_, SIGINT);
    for (int i = 0; i < 300 && ::kill(pid_, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);
  }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  bool available() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=coffre dbname=postgres";
  }

 private:
  static int FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = 0;
  std::string why_not_;
};

}  // namespace coffre::testing
