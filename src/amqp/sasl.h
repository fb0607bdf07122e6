#pragma once
// The SASL layer of the hub's AMQP connections, as a Proton SASL plugin installed per transport
// (Debian's Proton has no PLAIN server). Offered: MSSBCBS, PLAIN, ANONYMOUS. MSSBCBS and ANONYMOUS
// succeed without an identity (authorization comes later, by $cbs put-token); PLAIN's password
// must be a SAS token the TokenVerifier accepts (the IoT Hub connection string's redirect flow
// logs in as "{policy}@sas.root.{hub}"), and its claim is handed to the connection. A client that
// sends the bare AMQP header skips SASL altogether (Proton detects it).

#include <optional>
#include <string>

#include "amqp/claims.h"

struct pn_transport_t;

namespace coffre::amqp {

// Per-connection state, owned by the connection, outliving its Proton transport.
struct SaslState {
  const TokenVerifier* tokens = nullptr;
  std::string user;               // what Proton's pnx_sasl_set_succeeded points at
  std::optional<Claim> plain;     // PLAIN's claim, for the connection to take
  bool failed = false;
};

// Installs the plugin on a server transport, before its first byte is processed.
void InstallSasl(pn_transport_t* transport, SaslState& state);

}  // namespace coffre::amqp
