#pragma once
// A daemon's signals: SIGTERM and SIGINT stop it, SIGHUP reloads its TLS certificate pair (as
// `systemctl reload` sends). They are blocked before any thread starts, so that only
// WaitForStop receives them.

#include <signal.h>

#include <functional>
#include <string>

#include "common/result.h"

namespace coffre::config {

// Blocks the three in the calling thread and those it starts; call first in main.
sigset_t BlockDaemonSignals();

// Returns at SIGTERM or SIGINT. On each SIGHUP: `reload`, whose answer (what is served now, or
// why the pair was refused and the old one kept) is logged.
void WaitForStop(const sigset_t& signals, const std::function<Result<std::string>()>& reload);

}  // namespace coffre::config
