#pragma once
// The hub's subscription to its vault's key events in the local stack: the key owner (the
// owner token) subscribes the hub's POST /$coffre/keyevents, trusting the stack's CA, once; the
// secret the vault returns goes to a file the hub reads, as its vault token does.
//   DIR/hub/key-events-secret   the subscription's HMAC secret (0600)
// A stack whose secret file exists keeps its subscription (even one the owner removed since).

#include "cli/local_stack.h"

namespace coffre::cli {

// https://localhost:<https port>/$coffre/keyevents
std::string HubKeyEventsUrl(const StackState& state);

// Needs the vault running (EnsureVault); the hub may start after it.
Status EnsureKeyEvents(const StackState& state);

}  // namespace coffre::cli
