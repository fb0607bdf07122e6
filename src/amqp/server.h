#pragma once
// AmqpServer: AMQP 1.0 for the hub, over TLS on its own listener (AMQPS, 5671 by default) and
// over WebSocket (subprotocol AMQPWSB10) on connections the HTTPS server hands over
// (/$iothub/websocket, /$servicebus/websocket). Each connection is a Proton connection_driver on
// its transport's strand (amqp/connection.h); its links go to the nodes of amqp/nodes.cc.
// While `accessible` says false (the hub's customer key is inaccessible) new connections are
// closed at their open, and CloseAll ends the open ones; both come back by themselves.
// Stop() closes the listener and its connections and joins its io threads. Thread-safe.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "amqp/claims.h"
#include "amqp/hub_parts.h"
#include "common/result.h"
#include "net/https_server.h"

namespace coffre::net {
class Transport;
}

namespace coffre::amqp {

struct ConnectionLimits;
class DeviceLinks;
class EventHubReceivers;

struct AmqpServerOptions {
  std::string address = "127.0.0.1";
  // 0: any free port (what tests want); coffre-hub's --amqp-listen defaults to 5671, the port the
  // SDKs assume.
  uint16_t port = 0;
  std::filesystem::path cert_file, key_file;
  std::shared_ptr<net::ServerCertificates> certificates;  // null: read once from the files
  int threads = 0;  // 0: one per core
  // Largest WebSocket message (AMQP frames travel in one or more).
  size_t max_websocket_message_bytes = 1024 * 1024;
  std::function<bool()> accessible;  // empty: always
  // Where the TLS ticket keys outlive the process (nullptr: in memory only); must outlive it.
  net::TicketKeyStore* ticket_keys = nullptr;
};

// The WebSocket subprotocol and paths of AMQP on the HTTPS port.
inline constexpr std::string_view kWebSocketSubprotocol = "AMQPWSB10";
inline constexpr std::string_view kServiceBusWebSocketPath = "/$servicebus/websocket";

class AmqpServer {
 public:
  // The hub's parts in `parts` must outlive the server.
  static Result<std::unique_ptr<AmqpServer>> Start(AmqpServerOptions options, HubParts parts);
  ~AmqpServer();

  // Takes over an HTTPS connection that asked for a WebSocket upgrade with AMQPWSB10. Call on the
  // connection's strand (HttpsServer's on_upgrade).
  void AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade);
  // A connection over any transport (tests, the fuzz target), holding `claims` from the start.
  // Counts against the unopened-connection caps of `source` like the others.
  void Accept(std::unique_ptr<net::Transport> transport, std::string source,
              std::vector<Claim> claims = {});

  uint16_t port() const;
  size_t connections() const;
  // The most output one connection has held unsent so far (encoded and not yet written, or not
  // yet encoded): the pause at ConnectionLimits::output_backlog_bytes at work. For tests.
  size_t peak_unsent_bytes() const;
  // The device links of every connection: C2D wake-ups, methods, desired patches. Thread-safe.
  DeviceLinks& device_links();
  // The Event Hubs partition receivers of every connection.
  EventHubReceivers& event_hub_receivers();
  // Closes every connection with amqp:connection:forced. Thread-safe.
  void CloseAll(const std::string& why);
  void Stop();

 private:
  struct Impl;
  explicit AmqpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::amqp
