#pragma once
// MqttDevice: one device's MQTT 3.1.1 connection over TLS, blocking, for `coffre hub device
// simulate`. It connects (TCP, TLS with the hub's certificate checked against the CA and the host
// name, CONNECT with the device's credentials, CONNACK), sends QoS 1 PUBLISHes and reads the
// PUBACKs. The socket is non-blocking and every wait is a poll() bounded by a deadline; reads go
// on while a write waits, so a hub whose acknowledgements fill our socket never stalls it. The
// packets are mqtt/codec.h's. Thread-compatible.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre::cli {

struct MqttDeviceOptions {
  std::string host;  // connected to, and the name the hub's certificate must carry
  uint16_t port = 8883;
  std::filesystem::path ca_file;  // empty: the system's trust store
  std::string client_id;          // the device id
  std::string username;           // "{host}/{deviceId}/?api-version=..."
  std::string password;           // a SAS token
  uint16_t keep_alive_s = 60;
  // TCP connect, TLS handshake and CONNACK together.
  std::chrono::milliseconds connect_timeout{10'000};
};

class MqttDevice {
 public:
  using Clock = std::chrono::steady_clock;

  struct Ack {
    uint16_t packet_id = 0;
    Clock::time_point at{};  // when it was read
  };

  // UNAVAILABLE when the hub cannot be reached or the TLS handshake fails; when the CONNACK
  // refuses: UNAUTHENTICATED (bad user name or password, not authorized), else UNAVAILABLE,
  // the return code named.
  static Result<std::unique_ptr<MqttDevice>> Connect(const MqttDeviceOptions& options);
  ~MqttDevice();
  MqttDevice(const MqttDevice&) = delete;
  MqttDevice& operator=(const MqttDevice&) = delete;

  // One QoS 1 PUBLISH, written whole before it returns. DEADLINE_EXCEEDED if the socket takes it
  // not by `deadline`; UNAVAILABLE once the connection is closed.
  Status Publish(std::string_view topic, ByteSpan payload, uint16_t packet_id,
                 Clock::time_point deadline);

  // Reads what has arrived, waiting for something until `until` if nothing has (a past `until`
  // only takes what is there). UNAVAILABLE once the hub has closed the connection; the PUBACKs
  // it sent before are still taken.
  Status Receive(Clock::time_point until);

  // The PUBACKs read so far (by Receive or while Publish waited), oldest first; then none.
  std::vector<Ack> TakeAcks();

  // DISCONNECT and the TLS close, best effort; the connection is unusable after.
  void Disconnect();

 private:
  struct Tls;
  explicit MqttDevice(std::unique_ptr<Tls> tls);

  // Writes all of `data` (SSL_write's retries), reading meanwhile.
  Status Write(ByteSpan data, Clock::time_point deadline);
  // SSL_read until it would block; a closed connection sets closed_.
  void ReadAvailable();
  // Takes every whole packet off in_: PUBACKs into acks_; a CONNACK into connack_.
  Status DecodeAll();
  // poll() on the socket for `events` until `deadline`; false when it passed first.
  Result<bool> Wait(short events, Clock::time_point deadline);
  Status ClosedError() const;

  std::unique_ptr<Tls> tls_;
  Bytes in_;
  std::vector<Ack> acks_;
  std::optional<uint8_t> connack_;  // its return code, once read
  bool closed_ = false;
  std::string closed_why_;
};

}  // namespace coffre::cli
