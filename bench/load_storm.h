// mqtt_load --storm: every client connects at once (--connecting handshakes in flight), timed
// until the last CONNACK; with --resume, all disconnect and connect again presenting the TLS
// session each kept from its first connection.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <string>
#include <vector>

#include "load_client.h"
#include "load_cpu.h"
#include "load_options.h"

namespace coffre::load {

struct StormRound {
  int connected = 0;
  int resumed = 0;  // handshakes that resumed a session (SSL_session_reused)
  int refused = 0;  // presented a session, the handshake failed, then connected with a full one
  std::string refusal;  // the first such failure
  int sessions_kept = 0;  // keep: sessions with a ticket to present (SSL_SESSION_is_resumable)
  double seconds = 0;     // first connect started to last CONNACK
  CpuWindow cpu;          // over the same span
  std::string error;
};

// One round over every identity: connects them all, then disconnects them (DISCONNECT, close).
// present: a session per identity to resume (empty: full handshakes). keep (optional): gets
// each client's session as it stood after its CONNACK.
// The clients' sessions (DER, hex, a line each; an empty line for none) to a file only the
// user reads, and back. Sessions hold resumption secrets: a benchmark's temporary file only.
bool WriteSessions(const std::string& path, const std::vector<SessionPtr>& sessions);
std::vector<SessionPtr> ReadSessions(const std::string& path);

StormRound RunStormRound(const Options& o, boost::asio::ssl::context& ctx,
                         const std::vector<Identity>& identities,
                         const boost::asio::ip::tcp::endpoint& endpoint,
                         const std::vector<SessionPtr>& present, std::vector<SessionPtr>* keep);

}  // namespace coffre::load
