#include "config/daemon_signals.h"

#include <pthread.h>

#include "common/log.h"

namespace coffre::config {

sigset_t BlockDaemonSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void WaitForStop(const sigset_t& signals, const std::function<Result<std::string>()>& reload) {
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    Result<std::string> served = reload();
    if (served.has_value()) {
      LogLine("tls", "SIGHUP: certificate reloaded (" + *served + ")");
    } else {
      LogLine(LogLevel::kError, "tls",
              "SIGHUP: certificate not reloaded, the one in use stays: " + served.error().ToString());
    }
  }
}

}  // namespace coffre::config
