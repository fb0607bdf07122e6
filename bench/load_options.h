// mqtt_load's settings (bench/mqtt_load.cc parses them) and the state its clients share.
#pragma once

#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace coffre::load {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 8883;
  bool tls = true;
  std::string ca_file;
  int clients = 16;
  int sources = 64;  // IPv4: clients bind to 127.0.0.1 .. 127.0.0.1 + sources - 1, round robin
  int qos = 1;
  size_t size = 256;
  uint64_t count = 100000;
  double seconds = 30;
  int inflight = 32;
  double rate = 0;             // messages per second in all, the clients in step; 0: as fast as acked
  double per_client_rate = 0;  // messages per second per client, phases spread, ticks jittered
  bool connect_only = false;   // measure connects, then hold the idle connections --hold seconds
  double hold = 0;
  bool storm = false;   // every client connects at once (--connecting in flight), timed
  bool resume = false;  // --storm: a second round that presents the first round's TLS sessions
  // --storm: keep each client's TLS session after the full round in this file (a restart of the
  // broker between); or one round that presents the sessions read from it.
  std::string sessions_file;
  std::string resume_from;
  int connecting = 64;  // connects (TLS handshakes, CONNECTs) in flight at once
  bool coalesce = false;
  int broker_pid = 0;  // read its CPU time from /proc for the timed phase (0: not reported)
  std::string username, password;  // shared credentials (Mosquitto)
  std::string devices_file;        // "id key" lines: Azure SAS per device (coffre-hub)
  std::string owner;               // iothubowner's connection string: create the devices first
  std::string keep_devices_file;   // with --owner: keep the created devices here
  bool create_only = false;        // with --owner: create the devices, write them, and stop
  uint16_t https_port = 443;       // ... through the hub's service API on this port
  std::string hub_host = "localhost";
  std::string id_prefix = "load-";
  std::string topic_format = "devices/{id}/messages/events/";
};

// One client's identity: its MQTT client id and password (a SAS token, or the shared password).
struct Identity {
  std::string id, password;
};

struct Shared {
  Shared(const Options& options, boost::asio::io_context& context) : o(options), ioc(context) {}
  const Options& o;
  boost::asio::io_context& ioc;
  uint64_t issued = 0;     // publishes handed out
  uint64_t completed = 0;  // acknowledged (QoS 1) or written (QoS 0)
  Clock::time_point start, deadline;
  std::vector<uint32_t> latencies_us;
  bool stopping = false;
  bool publish = true;  // false (connect-only, storm): no client publishes
  int connected = 0;
  int resumed = 0;  // TLS handshakes that resumed a session (SSL_session_reused)
  int fenced = 0;   // QoS 0: clients whose fence was acknowledged
  std::function<void()> on_connack;  // a client is in (the next one may start)
  std::function<void()> start_all;   // the last CONNACK: every client starts publishing
  // storm: a handshake that presented a session failed; the client at index gives up (nullptr:
  // the run fails), and this starts it again with a full handshake, as a device would.
  std::function<void(int index, const std::string& why)> on_resume_refused;
  std::string error;
};

}  // namespace coffre::load
