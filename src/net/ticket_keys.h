#pragma once
// TLS session ticket keys of a server context, ours instead of OpenSSL's: OpenSSL makes one set
// when the context is created and keeps it for the process's life, so anyone who ever reads it
// opens every ticket (and so every resumed session's keys) issued since the start. Here a set
// lives in the secure heap (locked, wiped on release), a new one encrypts tickets from each
// `period` on, the one before still opens tickets (which are then renewed), and older sets are
// wiped. Tickets say they last one period; OpenSSL refuses older ones anyway.
// Given a TicketKeyStore, the sets in use outlive the process there (the hub seals them under
// the customer's key in its metadata store), so the devices of a restarted server resume their
// sessions instead of all making full handshakes at once; without one they never leave memory.

#include <openssl/ssl.h>

#include <chrono>
#include <optional>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffre::net {

inline constexpr std::chrono::seconds kTicketKeyPeriod = std::chrono::hours(1);

// Where a context's ticket key sets are kept between runs. Load is called once, when the keys
// are installed; Save whenever the sets change (at the install, then once a period from the
// handshake that rotates them, outside the lock the other handshakes take), one call at a time
// and never an older set after a newer one.
class TicketKeyStore {
 public:
  virtual ~TicketKeyStore() = default;
  // What Save last wrote, or nullopt when there is none or it cannot be read now (new sets are
  // made then).
  virtual std::optional<crypto::SecretBytes> Load() = 0;
  // A failure keeps the sets in memory only: the store says why, if it logs.
  virtual void Save(const crypto::SecretBytes& sets) = 0;
};

// Gives `ctx` rotating ticket keys (AES-256-CBC and HMAC-SHA-256, as OpenSSL's own tickets).
// `clock` must outlive the context; the keys are the context's and go with it.
// With `store`, sets saved there by an earlier run are taken up again if they are still young
// enough (by wall time: the current one less than a period old, the previous less than two,
// none dated more than 5 minutes ahead); the store must outlive the context.
Status InstallTicketKeys(SSL_CTX* ctx, const Clock& clock,
                         std::chrono::seconds period = kTicketKeyPeriod,
                         TicketKeyStore* store = nullptr);

}  // namespace coffre::net
