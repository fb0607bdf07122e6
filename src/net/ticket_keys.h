#pragma once
// TLS session ticket keys of a server context, ours instead of OpenSSL's: OpenSSL makes one set
// when the context is created and keeps it for the process's life, so anyone who ever reads it
// opens every ticket (and so every resumed session's keys) issued since the start. Here a set
// lives in the secure heap (locked, wiped on release), a new one encrypts tickets from each
// `period` on, the one before still opens tickets (which are then renewed), and older sets are
// wiped. Tickets say they last one period; OpenSSL refuses older ones anyway. The keys never
// leave the process: a restarted server issues new tickets after one full handshake per client.

#include <openssl/ssl.h>

#include <chrono>

#include "common/clock.h"
#include "common/status.h"

namespace coffre::net {

inline constexpr std::chrono::seconds kTicketKeyPeriod = std::chrono::hours(1);

// Gives `ctx` rotating ticket keys (AES-256-CBC and HMAC-SHA-256, as OpenSSL's own tickets).
// `clock` must outlive the context; the keys are the context's and go with it.
Status InstallTicketKeys(SSL_CTX* ctx, const Clock& clock,
                         std::chrono::seconds period = kTicketKeyPeriod);

}  // namespace coffre::net
