#pragma once
// AmqpTestClient: a blocking AMQP 1.0 client for tests of the hub's AMQP server: Proton's C
// engine (pn_connection + pn_transport, no reactor) over a TLS connection the test owns, so that
// a test can also write frames Proton would never send (transfers past the link credit) and can
// stop reading its socket at will. Bare AMQP header (no SASL); authorization by $cbs put-token.
// Every wait has a deadline: a test can fail but not hang.

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/codec.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/value.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "net/tls_test_client.h"

namespace coffre::testing {

class AmqpTestClient {
 public:
  // `max_frame` 0: Proton's default; `receive_buffer` > 0: the socket's SO_RCVBUF (a client that
  // stops reading then stops the hub's writes sooner).
  AmqpTestClient(uint16_t port, const std::filesystem::path& ca, uint32_t max_frame = 0,
                 int receive_buffer = 0)
      : ctx_(test_asio::ssl::context::tls_client), stream_(ioc_, ctx_) {
    ctx_.load_verify_file(ca.string());
    stream_.set_verify_mode(test_asio::ssl::verify_peer);
    test_asio::ip::tcp::socket& socket = stream_.next_layer();
    socket.open(test_asio::ip::tcp::v4());
    if (receive_buffer > 0) socket.set_option(test_asio::socket_base::receive_buffer_size(receive_buffer));
    socket.connect({test_asio::ip::make_address("127.0.0.1"), port});
    stream_.handshake(test_asio::ssl::stream_base::client);
    stream_.next_layer().non_blocking(true);
    connection_ = pn_connection();
    transport_ = pn_transport();
    if (max_frame != 0) pn_transport_set_max_frame(transport_, max_frame);
    pn_transport_bind(transport_, connection_);
    pn_connection_set_container(connection_, "coffre-test");
    pn_connection_set_hostname(connection_, "localhost");
    pn_connection_open(connection_);
  }
  ~AmqpTestClient() {
    pn_transport_unbind(transport_);
    pn_transport_free(transport_);
    pn_connection_free(connection_);
  }
  AmqpTestClient(const AmqpTestClient&) = delete;
  AmqpTestClient& operator=(const AmqpTestClient&) = delete;

  pn_connection_t* connection() { return connection_; }
  bool alive() const { return alive_; }
  // When true (the default), links and sessions the hub closes are closed here too.
  void AnswerCloses(bool answer) { answer_closes_ = answer; }

  // A new session; `incoming_capacity` > 0 turns Proton's session flow control on (the window
  // it announces is that many bytes in frames, and shrinks as received bytes wait unread).
  // `channel` is the channel Proton gives it: sessions are numbered in the order they begin.
  pn_session_t* Begin(size_t incoming_capacity = 0, uint16_t* channel = nullptr) {
    pn_session_t* s = pn_session(connection_);
    if (incoming_capacity > 0) pn_session_set_incoming_capacity(s, incoming_capacity);
    pn_session_open(s);
    if (channel != nullptr) *channel = sessions_;
    ++sessions_;
    return s;
  }
  pn_link_t* Sender(pn_session_t* s, const std::string& name, const std::string& address) {
    pn_link_t* l = pn_sender(s, name.c_str());
    pn_terminus_set_address(pn_link_target(l), address.c_str());
    pn_terminus_set_address(pn_link_source(l), name.c_str());
    pn_link_open(l);
    return l;
  }
  // A receiver; `selector` is an Event Hubs selector filter expression, if any.
  pn_link_t* Receiver(pn_session_t* s, const std::string& name, const std::string& address,
                      const std::string& selector = "") {
    pn_link_t* l = pn_receiver(s, name.c_str());
    pn_terminus_set_address(pn_link_source(l), address.c_str());
    pn_terminus_set_address(pn_link_target(l), name.c_str());
    if (!selector.empty()) {
      pn_data_t* f = pn_terminus_filter(pn_link_source(l));
      pn_data_put_map(f);
      pn_data_enter(f);
      const char* kKey = "apache.org:selector-filter:string";
      pn_data_put_symbol(f, pn_bytes(std::strlen(kKey), kKey));
      pn_data_put_described(f);
      pn_data_enter(f);
      pn_data_put_symbol(f, pn_bytes(std::strlen(kKey), kKey));
      pn_data_put_string(f, pn_bytes(selector.size(), selector.data()));
      pn_data_exit(f);
      pn_data_exit(f);
    }
    pn_link_open(l);
    return l;
  }

  // Sends `m` on `sender` as Proton does (within the credit; queued until there is some).
  pn_delivery_t* Send(pn_link_t* sender, const proton::message& m) {
    std::vector<char> bytes;
    m.encode(bytes);
    std::string tag = "d" + std::to_string(++tags_);
    pn_delivery_t* d = pn_delivery(sender, pn_dtag(tag.data(), tag.size()));
    pn_link_send(sender, bytes.data(), bytes.size());
    pn_link_advance(sender);
    return d;
  }

  // The next whole message on `receiver`, settled as accepted; nullopt if none has arrived.
  std::optional<proton::message> Take(pn_link_t* receiver) {
    pn_delivery_t* d = pn_link_current(receiver);
    if (d == nullptr || !pn_delivery_readable(d) || pn_delivery_partial(d)) return std::nullopt;
    std::vector<char> bytes(pn_delivery_pending(d));
    pn_link_recv(receiver, bytes.data(), bytes.size());
    pn_link_advance(receiver);
    pn_delivery_update(d, PN_ACCEPTED);
    pn_delivery_settle(d);
    proton::message m;
    m.decode(bytes);
    return m;
  }

  // Puts `token` on $cbs for `audience` (links "cbs-out"/"cbs-in" on a session of their own, made
  // at the first call); the reply's status code, or 0 if none came.
  int PutToken(const std::string& audience, const std::string& token) {
    if (cbs_out_ == nullptr) {
      pn_session_t* s = Begin();
      cbs_out_ = Sender(s, "cbs-out", "$cbs");
      cbs_in_ = Receiver(s, "cbs-in", "$cbs");
      pn_link_flow(cbs_in_, 10);
    }
    proton::message m;
    m.id(proton::message_id("put-" + std::to_string(++tags_)));
    m.reply_to("cbs-in");
    m.properties().put("operation", "put-token");
    m.properties().put("type", "azure-devices.net:sastoken");
    m.properties().put("name", audience);
    m.body(token);
    Send(cbs_out_, m);
    std::optional<proton::message> reply;
    Until([&] { return (reply = Take(cbs_in_)).has_value(); });
    if (!reply) return 0;
    pn_link_flow(cbs_in_, 1);
    return static_cast<int>(proton::coerce<int64_t>(reply->properties().get("status-code")));
  }

  // Writes `bytes` on the connection, past Proton (frames it would not send itself).
  void WriteRaw(const std::string& bytes) { WriteAll(bytes.data(), bytes.size()); }

  // Moves bytes both ways until `pred` holds (true) or `limit` passes (false).
  template <class Pred>
  bool Until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = TestClock::now() + limit;
    while (true) {
      Flush();
      if (pred()) return true;
      if (TestClock::now() > deadline) return false;
      if (!PumpOnce(std::chrono::milliseconds(20))) return pred();
    }
  }
  // Moves bytes both ways for `period`.
  void PumpFor(std::chrono::milliseconds period) {
    Until([] { return false; }, period);
  }

  static std::string ConditionOf(pn_condition_t* c) {
    return c != nullptr && pn_condition_is_set(c) ? pn_condition_get_name(c) : "";
  }
  static bool RemoteClosed(pn_link_t* l) { return (pn_link_state(l) & PN_REMOTE_CLOSED) != 0; }
  static bool RemoteOpen(pn_link_t* l) { return (pn_link_state(l) & PN_REMOTE_ACTIVE) != 0; }

 private:
  // One read (if something arrives within `wait`), then what Proton answers; false once the
  // connection is gone.
  bool PumpOnce(std::chrono::milliseconds wait) {
    if (!alive_) return false;
    bool got = false;
    while (true) {  // the TLS layer may hold decrypted bytes the socket no longer shows
      boost::system::error_code ec;
      size_t n = stream_.read_some(test_asio::buffer(in_), ec);
      if (ec == test_asio::error::would_block || ec == test_asio::error::try_again) break;
      if (ec) {
        alive_ = false;
        pn_transport_close_tail(transport_);
        return false;
      }
      Push(in_.data(), n);
      got = true;
    }
    if (!got && !Readable(stream_.next_layer().native_handle(), wait)) return true;
    Answer();
    Flush();
    return alive_;
  }
  void Push(const char* data, size_t n) {
    while (n > 0 && alive_) {
      ssize_t capacity = pn_transport_capacity(transport_);
      if (capacity <= 0) {
        alive_ = false;
        return;
      }
      size_t k = std::min(static_cast<size_t>(capacity), n);
      std::memcpy(pn_transport_tail(transport_), data, k);
      pn_transport_process(transport_, k);
      data += k;
      n -= k;
    }
  }
  void Answer() {
    if (!answer_closes_) return;
    for (pn_link_t* l = pn_link_head(connection_, 0); l != nullptr; l = pn_link_next(l, 0)) {
      if ((pn_link_state(l) & PN_REMOTE_CLOSED) && (pn_link_state(l) & PN_LOCAL_ACTIVE)) pn_link_close(l);
    }
    for (pn_session_t* s = pn_session_head(connection_, 0); s != nullptr; s = pn_session_next(s, 0)) {
      if ((pn_session_state(s) & PN_REMOTE_CLOSED) && (pn_session_state(s) & PN_LOCAL_ACTIVE)) pn_session_close(s);
    }
  }
  void Flush() {
    while (alive_) {
      ssize_t pending = pn_transport_pending(transport_);
      if (pending <= 0) return;
      WriteAll(pn_transport_head(transport_), static_cast<size_t>(pending));
      pn_transport_pop(transport_, static_cast<size_t>(pending));
    }
  }
  void WriteAll(const char* data, size_t n) {
    boost::system::error_code ec;
    stream_.next_layer().non_blocking(false, ec);
    test_asio::write(stream_, test_asio::buffer(data, n), ec);
    if (ec) alive_ = false;
    stream_.next_layer().non_blocking(true, ec);
  }

  test_asio::io_context ioc_;
  test_asio::ssl::context ctx_;
  test_asio::ssl::stream<test_asio::ip::tcp::socket> stream_;
  pn_connection_t* connection_ = nullptr;
  pn_transport_t* transport_ = nullptr;
  std::array<char, 64 * 1024> in_{};
  bool alive_ = true;
  bool answer_closes_ = true;
  uint16_t sessions_ = 0;
  uint64_t tags_ = 0;
  pn_link_t* cbs_out_ = nullptr;
  pn_link_t* cbs_in_ = nullptr;
};

// One transfer frame (AMQP 1.0 2.7.5) carrying `payload` (an encoded message) as delivery
// `delivery_id` on link `handle` of the session on `channel`, unsettled: what a client that
// ignores its credit writes.
inline std::string TransferFrame(uint16_t channel, uint32_t handle, uint32_t delivery_id,
                                 const std::vector<char>& payload) {
  pn_data_t* d = pn_data(16);
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, 0x14);
  pn_data_put_list(d);
  pn_data_enter(d);
  pn_data_put_uint(d, handle);
  pn_data_put_uint(d, delivery_id);
  std::string tag = "raw" + std::to_string(delivery_id);
  pn_data_put_binary(d, pn_bytes(tag.size(), tag.data()));
  pn_data_put_uint(d, 0);       // message-format
  pn_data_put_bool(d, false);   // settled
  pn_data_exit(d);
  pn_data_exit(d);
  std::array<char, 128> performative{};
  ssize_t n = pn_data_encode(d, performative.data(), performative.size());
  pn_data_free(d);
  uint32_t size = static_cast<uint32_t>(8 + n + payload.size());
  std::string frame;
  for (int shift : {24, 16, 8, 0}) frame.push_back(static_cast<char>((size >> shift) & 0xff));
  frame.push_back(2);  // data offset, in 4-byte words
  frame.push_back(0);  // AMQP frame
  frame.push_back(static_cast<char>(channel >> 8));
  frame.push_back(static_cast<char>(channel & 0xff));
  frame.append(performative.data(), static_cast<size_t>(n));
  frame.append(payload.data(), payload.size());
  return frame;
}

}  // namespace coffre::testing
