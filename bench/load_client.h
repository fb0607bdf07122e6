// One MQTT 3.1.1 client of mqtt_load: connects (TLS or plain TCP) from its loopback source
// address, then publishes as the options say (as fast as acknowledged, at a share of --rate, or at
// --per-client-rate with a jittered phase of its own), or only connects (connect-only, storm).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "common/bytes.h"
#include "load_options.h"
#include "mqtt/packets.h"

namespace coffre::load {

// Releases an SSL_SESSION reference (SSL_get1_session's).
struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

class Client : public std::enable_shared_from_this<Client> {
 public:
  // index: this client's place among all (its source address and its pacing's seed). resume: a
  // TLS session to present in the handshake (nullptr: a full handshake).
  Client(boost::asio::io_context& ioc, boost::asio::ssl::context& ctx, Shared& shared, int index,
         Identity identity, SSL_SESSION* resume = nullptr);

  void Start(const boost::asio::ip::tcp::endpoint& endpoint);
  // Starts publishing: paced (--rate, --per-client-rate) or as fast as acknowledgements allow.
  void Begin();
  // The TLS session as it stands after the CONNACK (TLS 1.3 tickets come after the handshake).
  SessionPtr TakeSession() { return std::move(session_); }
  // Sends DISCONNECT and closes; done() runs once the socket is closed (or the write failed).
  void Disconnect(std::function<void()> done);
  void Close();

 private:
  template <class Handler>
  void WriteRaw(const Bytes& data, Handler h);
  template <class Handler>
  void ReadSome(Handler h);
  void SendConnect();
  void Read();
  void OnPacket(const mqtt::Packet& p);
  void OnConnAck();
  void Pace();
  void Pump();
  void SendFence();
  void Stop();
  void Fail(const std::string& why);

  Shared& shared_;
  int index_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> tls_;
  boost::asio::steady_timer pace_;
  std::minstd_rand jitter_;
  Clock::time_point next_tick_{};
  int credits_ = 0;
  Identity identity_;
  std::string topic_;
  Bytes payload_;
  size_t chunk_size_;
  std::unique_ptr<char[]> chunk_;  // written by reads only: idle clients touch little of it
  Bytes in_, out_;
  std::unordered_map<uint16_t, Clock::time_point> sent_at_;
  SessionPtr session_;
  bool resuming_;  // presented a session
  uint16_t next_id_ = 0;
  int inflight_ = 0;
  bool writing_ = false;
  bool fence_sent_ = false;
  uint16_t fence_id_ = 0;
};

}  // namespace coffre::load
