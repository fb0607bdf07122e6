#pragma once
// Connection: one AMQP connection, a Proton connection_driver over a net::Transport (TLS on the
// AMQPS port, or WebSocket on the HTTPS port), driven on the transport's strand the way the MQTT
// front end drives its sessions: read -> driver.read_buffer/read_done -> dispatch (Proton calls
// the handlers below) -> write_buffer -> one transport write -> write_done; tick() at the deadline
// Proton asks for (heartbeats). Links are routed to nodes (amqp/link_node.h) by the server's
// Router; this class is their LinkContext.
// Bounded: a deadline to the AMQP open and one to the first claim, the frame size, sessions and links per connection, the
// size of a message being received, the transfers a client sends past its credit (the link is
// detached, amqp:link:transfer-limit-exceeded), the bytes waiting to be written. Proton's C++ layer throws
// on malformed values: every call into it from here is caught and ends the connection.

#include <proton/connection.hpp>
#include <proton/io/connection_driver.hpp>
#include <proton/messaging_handler.hpp>

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "amqp/frame_filter.h"
#include "amqp/hub_parts.h"
#include "amqp/link_node.h"
#include "amqp/router.h"
#include "amqp/sasl.h"
#include "common/metrics/gauge_hold.h"
#include "net/admission.h"
#include "net/transport.h"

struct pn_link_t;

namespace coffre::amqp {

struct ConnectionLimits {
  // From the accept (or the WebSocket hand-over) to the client's AMQP open.
  std::chrono::milliseconds open_deadline{10'000};
  uint32_t max_frame_bytes = 64 * 1024;
  uint16_t max_sessions = 32;
  size_t max_links = 256;
  // A message being received larger than this detaches its link (message-size-exceeded).
  size_t max_message_bytes = 1024 * 1024;
  // Senders pause above this much unsent output (encoded and not yet written, or sent by a node
  // and not yet encoded because the client's session window is closed); above 4x of encoded
  // output the connection closes.
  size_t output_backlog_bytes = 1024 * 1024;
  // Refused tokens on one connection before it is closed.
  uint32_t max_tokens_refused = 10;
  // Credit given to each link the hub receives on.
  uint32_t receive_window = 100;
  // What the hub announces as its idle timeout (the client must send something that often).
  std::chrono::milliseconds idle_timeout{240'000};
  // From the open to the first claim ($cbs put-token, SASL PLAIN, or one a node adds, such as a
  // device's certificate); past it the connection closes (amqp:unauthorized-access).
  std::chrono::milliseconds claim_deadline{30'000};
  // Connections without a claim yet, at once: in total and per source address (net::Admission,
  // a slot from the accept to the first claim).
  size_t max_unauthenticated = 10'000;
  size_t max_unauthenticated_per_source = 100;
};

class Connection;

// What every connection of a server shares.
struct ServerShared {
  ServerShared(ConnectionLimits l, HubParts& h)
      : limits(l), hub(h), admission(l.max_unauthenticated, l.max_unauthenticated_per_source) {}
  ConnectionLimits limits;
  HubParts& hub;
  Router router;
  net::Admission admission;
  // False while the hub is Inaccessible: new connections are closed at their open.
  std::function<bool()> accessible;
  std::mutex mu;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> live;  // guarded by mu
  // The most unsent output one connection has held (AmqpServer::peak_unsent_bytes).
  std::atomic<size_t> peak_unsent{0};
};

class Connection final : public proton::messaging_handler,
                         public LinkContext,
                         public std::enable_shared_from_this<Connection> {
 public:
  // `protocol`: amqp or amqp-ws, for the metrics.
  Connection(std::unique_ptr<net::Transport> transport, ServerShared& shared, std::string source,
             hub::Protocol protocol = hub::Protocol::kAmqp);
  ~Connection() override;
  void Start();
  // Closes the connection with amqp:connection:forced (the hub became Inaccessible). Any thread.
  void Kick(std::string why);

  // LinkContext
  HubParts& hub() override { return shared_.hub; }
  ClaimSet& claims() override { return claims_; }
  void GuardLink(const proton::link& link, ClaimNeed need) override;
  void TokenRefused() override;
  std::function<void(std::function<void()>)> Poster() override;
  void After(std::chrono::milliseconds delay, std::function<void()> fn) override;
  bool OutputBacklogged() override;
  void WhenWritable(std::function<void()> fn) override;
  void AddReplyLink(const std::string& node, ReplyLink* link) override;
  void RemoveReplyLink(const std::string& node, ReplyLink* link) override;
  ReplyLink* FindReplyLink(const std::string& node, const std::string& reply_to) override;
  void Close(const std::string& condition, const std::string& description) override {
    CloseWith(condition, description);
  }
  SSL* tls() override { return transport_->tls(); }
  const std::string& peer() const override { return peer_; }
  hub::ProtocolMetrics* traffic() override { return traffic_; }

  // proton::messaging_handler
  void on_connection_open(proton::connection& c) override;
  void on_session_open(proton::session& s) override;
  void on_session_close(proton::session& s) override;
  void on_sender_open(proton::sender& s) override;
  void on_receiver_open(proton::receiver& r) override;
  void on_sendable(proton::sender& s) override;
  void on_message(proton::delivery& d, proton::message& m) override;
  void on_tracker_accept(proton::tracker& t) override;
  void on_tracker_reject(proton::tracker& t) override;
  void on_tracker_release(proton::tracker& t) override;
  void on_sender_close(proton::sender& s) override;
  void on_receiver_close(proton::receiver& r) override;
  void on_error(const proton::error_condition& e) override;

 private:
  struct Entry {
    std::unique_ptr<LinkNode> node;
    proton::link link;
    proton::sender sender;  // kHubSends
    Role role;
    std::optional<ClaimNeed> guard;
    uint32_t large_credit = 0;  // credit of 2^31 or more last offered to the node (Sweep)
  };

  void Read();
  void Pump();
  void Write();
  void ArmTick();
  void Shutdown();
  void Sweep();
  void CheckClaims();
  void CheckTransferLimits();
  size_t UnsentBytes();
  void TakeOutput();
  void CloseWith(const std::string& condition, const std::string& description);
  void Attach(LinkRequest request);
  void Detach(pn_link_t* raw);
  void Refuse(proton::link link, LinkError error);
  void ForwardOutcome(proton::tracker& t, amqp::Outcome outcome);
  Entry* EntryOf(const proton::link& link);
  template <class Fn>
  void Guarded(Fn&& fn);

  std::unique_ptr<net::Transport> transport_;
  ServerShared& shared_;
  std::string source_, peer_;
  hub::ProtocolMetrics* traffic_ = nullptr;  // null: not counted
  metrics::GaugeHold open_, authenticated_;   // from the accept, from the first claim, to the end
  SaslState sasl_;  // outlives driver_ (declared before it)
  proton::io::connection_driver driver_;
  boost::asio::steady_timer tick_timer_, deadline_timer_, claims_timer_;
  std::vector<char> in_;
  // Output Proton has produced: out_ is being written, unsent_ waits for the next write. All of
  // it is taken out of Proton at once (TakeOutput): Proton shows only as much of its output as
  // its buffer holds, which is as little as one frame for a client with small frames, and would
  // hide the rest from the backlog's count.
  std::string out_, unsent_;
  FrameFilter frames_;    // drops what the client sends on sessions it ended; frame-size bound
  std::string filtered_;  // in_ as it goes to Proton
  bool opened_ = false;      // transport open, driver accepting
  bool amqp_open_ = false;   // the client's open arrived
  bool admitted_ = true;     // holds an admission slot
  bool writing_ = false, reading_ = false, shut_ = false, closing_ = false;
  uint16_t sessions_ = 0;
  uint32_t tokens_refused_ = 0;
  ClaimSet claims_;
  std::map<pn_link_t*, Entry> links_;
  std::map<std::string, std::vector<ReplyLink*>> reply_links_;
  std::vector<std::function<void()>> when_writable_;
  // Opened, to be detached with their error; a transfer the client sends before the detach
  // arrives is rejected with that error too.
  std::vector<std::pair<proton::link, LinkError>> refused_links_;
  // Transfers received on links the hub has detached and the client has not (CheckTransferLimits).
  std::map<pn_link_t*, uint64_t> after_detach_;
};

}  // namespace coffre::amqp
