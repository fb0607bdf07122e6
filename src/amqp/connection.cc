#include "amqp/connection.h"

#include <proton/connection.h>
#include <proton/connection_options.hpp>
#include <proton/delivery.h>
#include <proton/error_condition.hpp>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/condition.h>
#include <proton/receiver_options.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/target.hpp>
#include <proton/transport.h>
#include <proton/transport.hpp>

#include <exception>

#include "amqp/proton_util.h"
#include "common/log.h"

namespace coffre::amqp {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

// The wrapper keeps its handle protected; a derived copy exposes it.
struct TransportHandle : proton::transport {
  explicit TransportHandle(const proton::transport& t) : proton::transport(t) {}
  using proton::transport::pn_object;
  static pn_transport_t* Of(const proton::transport& t) { return TransportHandle(t).pn_object(); }
};

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

}  // namespace

Connection::Connection(std::unique_ptr<net::Transport> transport, ServerShared& shared,
                       std::string source, hub::Protocol protocol)
    : transport_(std::move(transport)),
      shared_(shared),
      source_(std::move(source)),
      peer_(transport_->remote_address()),
      traffic_(shared.hub.metrics != nullptr ? &shared.hub.metrics->protocol(protocol) : nullptr),
      open_(traffic_ != nullptr ? &traffic_->open() : nullptr),
      driver_("coffre"),
      tick_timer_(transport_->executor()),
      deadline_timer_(transport_->executor()),
      claims_timer_(transport_->executor()),
      frames_(shared_.limits.max_frame_bytes) {
  sasl_.tokens = shared_.hub.tokens;
}

Connection::~Connection() {
  if (admitted_) shared_.admission.Release(source_);
}

template <class Fn>
void Connection::Guarded(Fn&& fn) {
  if (shut_) return;
  try {
    fn();
  } catch (const std::exception& e) {
    LogLine("amqp", "connection from " + peer_ + " closed: " + e.what());
    Shutdown();
  }
}

void Connection::Start() {
  {
    std::lock_guard<std::mutex> guard(shared_.mu);
    shared_.live[this] = weak_from_this();
  }
  asio::dispatch(transport_->executor(), [self = shared_from_this()] {
    // The deadline covers the TLS (or WebSocket) handshake as well as the AMQP open.
    self->deadline_timer_.expires_after(self->shared_.limits.open_deadline);
    self->deadline_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->amqp_open_) self->Shutdown();
    });
    self->transport_->Open([self](boost::system::error_code ec) {
      if (ec || self->shut_) return self->Shutdown();
      self->Guarded([&] {
        const ConnectionLimits& l = self->shared_.limits;
        proton::connection_options opts;
        opts.handler(*self)
            .max_frame_size(l.max_frame_bytes)
            .max_sessions(l.max_sessions)
            .idle_timeout(proton::duration(l.idle_timeout.count()))
            .sasl_enabled(true)
            .sasl_allow_insecure_mechs(true)
            .container_id("coffre");
        self->driver_.accept(opts);
        InstallSasl(TransportHandle::Of(self->driver_.transport()), self->sasl_);
      });
      self->opened_ = true;
      self->Pump();
      self->Read();
      self->CheckClaims();
    });
  });
}

void Connection::Kick(std::string why) {
  asio::post(transport_->executor(), [self = shared_from_this(), why = std::move(why)] {
    self->CloseWith("amqp:connection:forced", why);
  });
}

void Connection::CloseWith(const std::string& condition, const std::string& description) {
  if (shut_ || !opened_) return Shutdown();
  if (closing_) return;
  closing_ = true;
  Guarded([&] {
    proton::connection c = driver_.connection();
    if (c.uninitialized()) c.open();
    // The sessions end first, with the error: the IoT SDKs (azure-iot-amqp-base) wait for the
    // answers to their links' detaches after a bare connection close, and never report the
    // disconnect; after a session end they drop their links at once.
    pn_connection_t* raw = pn_transport_connection(TransportHandle::Of(driver_.transport()));
    for (pn_session_t* s = raw ? pn_session_head(raw, PN_LOCAL_ACTIVE) : nullptr; s != nullptr;
         s = pn_session_next(s, PN_LOCAL_ACTIVE)) {
      SetCondition(pn_session_condition(s), condition, description);
      pn_session_close(s);
    }
    c.close(proton::error_condition(condition, description));
  });
  Pump();
  // A client that never answers the close is cut after a while.
  After(std::chrono::seconds(5), [this] { Shutdown(); });
}

void Connection::Read() {
  if (shut_ || reading_) return;
  reading_ = true;
  in_.resize(16 * 1024);
  transport_->ReadSome(asio::buffer(in_), [self = shared_from_this()](boost::system::error_code ec,
                                                                        size_t n) {
    self->reading_ = false;
    if (self->shut_) return;
    if (ec) {
      self->Guarded([&] { self->driver_.disconnected(proton::error_condition("amqp:connection:framing-error", ec.message())); });
      self->Guarded([&] { self->driver_.dispatch(); });
      return self->Shutdown();
    }
    std::string& input = self->filtered_;
    input.clear();
    self->frames_.Feed(self->in_.data(), n, input);
    n = input.size();
    size_t off = 0;
    bool stalled = false;
    self->Guarded([&] {
      while (off < n) {
        proton::io::mutable_buffer b = self->driver_.read_buffer();
        if (b.size == 0) {
          stalled = true;
          break;
        }
        size_t k = std::min(b.size, n - off);
        std::memcpy(b.data, input.data() + off, k);
        self->driver_.read_done(k);
        off += k;
      }
    });
    if (uint32_t size = self->frames_.oversized(); size != 0) {
      // As Proton answers a malformed frame: the transport's error goes out in the close, and
      // nothing more is read.
      self->Guarded([&] {
        SetCondition(pn_transport_condition(TransportHandle::Of(self->driver_.transport())),
                     "amqp:connection:framing-error",
                     "frame of " + std::to_string(size) + " bytes is over the limit of " +
                         std::to_string(self->shared_.limits.max_frame_bytes));
        self->driver_.read_close();
      });
      return self->Pump();
    }
    self->Guarded([&] { self->CheckTransferLimits(); });
    self->Pump();
    if (!stalled) self->Read();
  });
}

// A client may send a link only as many transfers as the hub gave it credit for (AMQP 1.0
// 2.6.7). Proton takes the excess anyway and counts it as negative credit (pn_link_remote_credit:
// what the hub granted, less what arrived), and Proton C++ tops the credit back up as it hands the
// messages over, so the excess is visible only here, after a read and before the dispatch. The
// hub's own count is ahead of what the client has seen (a grant counts here before it is written),
// so a client that keeps to its credit is never caught. The link is detached with
// amqp:link:transfer-limit-exceeded (2.8.15) and its pending messages are dropped unsettled.
// Transfers that still arrive on a link the hub has detached (for this or any reason) are
// counted: a client holds at most one window of credit when the hub detaches, so one that sends
// more than kDetachedTransfers windows there ignores the detach, and its connection is closed
// (each such transfer leaves a small unsettled delivery in Proton until the link is gone).
void Connection::CheckTransferLimits() {
  if (shut_ || closing_ || !opened_) return;
  constexpr uint64_t kDetachedTransfers = 3;
  pn_connection_t* c = pn_transport_connection(TransportHandle::Of(driver_.transport()));
  for (pn_link_t* l = c ? pn_link_head(c, 0) : nullptr; l != nullptr; l = pn_link_next(l, 0)) {
    if (!pn_link_is_receiver(l)) continue;
    pn_state_t state = pn_link_state(l);
    if (state & PN_REMOTE_CLOSED) {  // the client detached it too
      after_detach_.erase(l);
      continue;
    }
    if (state & PN_LOCAL_UNINIT) continue;  // attached in this read: answered in the dispatch
    if (state & PN_LOCAL_CLOSED) {
      uint64_t& after = after_detach_[l];
      after += static_cast<uint32_t>(pn_link_queued(l));
      if (after > kDetachedTransfers * shared_.limits.receive_window) {
        LogLine("amqp", "connection from " + peer_ + " closed: it kept sending on a detached link");
        return CloseWith("amqp:link:transfer-limit-exceeded",
                         "Transfers continued on a link the hub had detached.");
      }
      continue;
    }
    if (pn_link_remote_credit(l) >= 0) continue;
    CloseLink(l, "amqp:link:transfer-limit-exceeded",
              "The client sent more messages than the link credit it was given.");
    // What arrived past the credit in this read counts as sent on the detached link.
    after_detach_[l] = static_cast<uint64_t>(-static_cast<int64_t>(pn_link_remote_credit(l)));
    Detach(l);
  }
}

void Connection::Pump() {
  if (shut_ || !opened_) return;
  bool active = true;
  Guarded([&] { active = driver_.dispatch(); });
  if (shut_) return;
  Sweep();
  if (size_t unsent = UnsentBytes(); unsent > shared_.peak_unsent.load(std::memory_order_relaxed)) {
    shared_.peak_unsent.store(unsent, std::memory_order_relaxed);
  }
  if (admitted_ && claims_.size() > 0) {  // authenticated: no longer counted as unproven
    admitted_ = false;
    shared_.admission.Release(source_);
    if (traffic_ != nullptr) authenticated_.Reset(&traffic_->authenticated());
  }
  Write();
  ArmTick();
  if (!active && !writing_) Shutdown();
}

// Moves everything Proton has to send into unsent_.
void Connection::TakeOutput() {
  if (shut_ || !opened_) return;
  while (true) {
    proton::io::const_buffer b = driver_.write_buffer();
    if (b.size == 0) return;
    unsent_.append(static_cast<const char*>(b.data), b.size);
    driver_.write_done(b.size);
  }
}

// Produced and not yet written, plus what nodes sent that Proton has not framed yet: a client
// that grants a link all the credit in the world but keeps its session's incoming window shut
// would otherwise have the hub queue a whole partition in the session.
size_t Connection::UnsentBytes() {
  if (shut_ || !opened_) return 0;
  Guarded([&] { TakeOutput(); });
  if (shut_) return 0;
  size_t total = out_.size() + unsent_.size();
  pn_connection_t* c = pn_transport_connection(TransportHandle::Of(driver_.transport()));
  for (pn_session_t* s = c ? pn_session_head(c, 0) : nullptr; s != nullptr; s = pn_session_next(s, 0)) {
    total += pn_session_outgoing_bytes(s);
  }
  return total;
}

bool Connection::OutputBacklogged() { return UnsentBytes() > shared_.limits.output_backlog_bytes; }

void Connection::WhenWritable(std::function<void()> fn) { when_writable_.push_back(std::move(fn)); }

void Connection::Write() {
  if (shut_ || writing_) return;
  Guarded([&] { TakeOutput(); });
  if (shut_ || unsent_.empty()) return;
  if (unsent_.size() > 4 * shared_.limits.output_backlog_bytes) {
    LogLine("amqp", "connection from " + peer_ + " closed: it does not read what it asked for");
    return Shutdown();
  }
  out_.swap(unsent_);
  unsent_.clear();
  writing_ = true;
  transport_->Write(asio::buffer(out_), [self = shared_from_this()](boost::system::error_code ec,
                                                                      size_t) {
    self->writing_ = false;
    if (self->shut_) return;
    if (ec) return self->Shutdown();
    self->out_.clear();
    if (!self->OutputBacklogged() && !self->when_writable_.empty()) {
      std::vector<std::function<void()>> ready;
      ready.swap(self->when_writable_);
      for (auto& fn : ready) self->Guarded(fn);
    }
    self->Pump();
  });
}

void Connection::ArmTick() {
  if (shut_) return;
  proton::timestamp next(0);
  Guarded([&] { next = driver_.tick(proton::timestamp(SteadyMillis())); });
  if (shut_ || next.milliseconds() == 0) return;
  auto at = SteadyClock::time_point(std::chrono::milliseconds(next.milliseconds()));
  if (tick_timer_.expiry() == at) return;
  tick_timer_.expires_at(at);
  tick_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->Pump();
  });
}

void Connection::Shutdown() {
  if (shut_) return;
  shut_ = true;
  std::map<pn_link_t*, Entry> links;
  links.swap(links_);
  for (auto& [raw, entry] : links) {
    try {
      entry.node->OnDetach();
    } catch (const std::exception&) {
    }
  }
  links.clear();
  reply_links_.clear();
  refused_links_.clear();
  when_writable_.clear();
  tick_timer_.cancel();
  deadline_timer_.cancel();
  claims_timer_.cancel();
  transport_->Close();
  open_.Reset();
  authenticated_.Reset();
  if (admitted_) {
    admitted_ = false;
    shared_.admission.Release(source_);
  }
  std::lock_guard<std::mutex> guard(shared_.mu);
  shared_.live.erase(this);
}

void Connection::on_connection_open(proton::connection& c) {
  amqp_open_ = true;
  // From the open on, the connection has until claim_deadline to hold a claim (a put-token,
  // PLAIN, or a node's, e.g. a device's certificate); until then it keeps its admission slot.
  deadline_timer_.expires_after(shared_.limits.claim_deadline);
  deadline_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->claims_.size() > 0) return;
    self->CloseWith("amqp:unauthorized-access", "No valid token was put on this connection in time.");
  });
  if (sasl_.plain) {
    claims_.Add(std::move(*sasl_.plain));
    sasl_.plain.reset();
  }
  c.open();
  if (shared_.accessible && !shared_.accessible()) {
    c.close(proton::error_condition("amqp:connection:forced",
                                    "The IoT hub is unavailable: its customer-managed key is "
                                    "inaccessible."));
  }
}

void Connection::on_session_open(proton::session& s) {
  if (++sessions_ > shared_.limits.max_sessions) {
    s.open();
    s.close(proton::error_condition("amqp:resource-limit-exceeded", "Too many sessions."));
    return;
  }
  s.open();
}

void Connection::on_sender_open(proton::sender& s) {
  std::string address = s.source().address();
  Attach({Role::kHubSends, address, NormalizeAddress(address), s, s, {}});
}

void Connection::on_receiver_open(proton::receiver& r) {
  std::string address = r.target().address();
  Attach({Role::kHubReceives, address, NormalizeAddress(address), r, {}, r});
}

void Connection::Attach(LinkRequest request) {
  const ConnectionLimits& l = shared_.limits;
  Role role = request.role;
  const std::string& address = request.raw_address;
  proton::link link = request.link;
  if (role == Role::kHubSends) {
    request.sender.open();
  } else {
    request.receiver.open(
        proton::receiver_options().auto_accept(false).credit_window(static_cast<int>(l.receive_window)));
  }
  if (links_.size() + refused_links_.size() >= l.max_links) {
    return Refuse(link, {"amqp:resource-limit-exceeded", "Too many links on this connection."});
  }
  const Route* route = shared_.router.Find(role, request.address);
  if (route == nullptr) {
    return Refuse(link, {"amqp:not-found",
                         "The messaging entity '" + address + "' could not be found."});
  }
  pn_link_t* raw = RawLink(link);
  Entry& entry = links_[raw];
  entry.link = link;
  entry.sender = request.sender;
  entry.role = role;
  entry.node = route->make(*this, request);
  std::optional<LinkError> refused =
      entry.node ? entry.node->OnAttach(request) : LinkError{"amqp:internal-error", "No node."};
  if (refused) {
    Detach(raw);
    Refuse(link, *refused);
  }
}

// The attach is answered now and the detach in a later write: a client (rhea-promise) that gets
// both in one read resolves its attach and reports the error before anyone listens for it.
void Connection::Refuse(proton::link link, LinkError error) {
  refused_links_.emplace_back(link, error);
  After(std::chrono::milliseconds(20), [this, link, error = std::move(error)] {
    CloseLink(link, error.condition, error.description);
    std::erase_if(refused_links_, [&](const auto& r) { return r.first == link; });
  });
}

Connection::Entry* Connection::EntryOf(const proton::link& link) {
  auto it = links_.find(RawLink(link));
  return it == links_.end() ? nullptr : &it->second;
}

void Connection::Detach(pn_link_t* raw) {
  auto it = links_.find(raw);
  if (it == links_.end()) return;
  std::unique_ptr<LinkNode> node = std::move(it->second.node);
  links_.erase(it);
  if (node) node->OnDetach();
}

void Connection::Sweep() {
  // Links the hub closed (a node, a guard) leave the table now; and a message being received
  // past the size bound detaches its link.
  std::vector<pn_link_t*> gone;
  for (auto& [raw, entry] : links_) {
    if (pn_link_state(raw) & PN_LOCAL_CLOSED) {
      gone.push_back(raw);
      continue;
    }
    if (entry.role == Role::kHubReceives) {
      pn_delivery_t* d = pn_link_current(raw);
      if (d != nullptr && pn_delivery_pending(d) > shared_.limits.max_message_bytes) {
        CloseLink(entry.link, "amqp:link:message-size-exceeded",
                  "The message is larger than " +
                      std::to_string(shared_.limits.max_message_bytes) + " bytes.");
        gone.push_back(raw);
      }
    }
  }
  for (pn_link_t* raw : gone) Guarded([&] { Detach(raw); });
  // Proton C++ calls on_sendable only while sender::credit(), an int, is positive: a client that
  // grants 2^31 or more (4,294,967,295 is common) would never be served. Those links are
  // offered to their node here, after every dispatch in which their credit changed (a flow
  // arrived, or the node sent).
  for (auto& [raw, entry] : links_) {
    if (entry.role != Role::kHubSends || pn_link_credit(raw) >= 0 || !entry.node) continue;
    if ((pn_link_state(raw) & (PN_LOCAL_ACTIVE | PN_REMOTE_ACTIVE)) != (PN_LOCAL_ACTIVE | PN_REMOTE_ACTIVE)) continue;
    uint32_t credit = static_cast<uint32_t>(pn_link_credit(raw));
    if (credit == entry.large_credit) continue;
    entry.large_credit = credit;
    Guarded([&] { entry.node->OnSendable(entry.sender); });
    if (shut_) return;
  }
}

void Connection::on_sendable(proton::sender& s) {
  if (Entry* e = EntryOf(s)) {
    if (e->node) e->node->OnSendable(s);
  }
}

void Connection::on_message(proton::delivery& d, proton::message& m) {
  Entry* e = EntryOf(d.receiver());
  if (e == nullptr || !e->node) {
    proton::link link = d.receiver();
    for (const auto& [refused, error] : refused_links_) {
      if (refused == link) return Reject(d, error.condition, error.description);
    }
    Reject(d, "amqp:not-found", "The link has no node.");
    return;
  }
  e->node->OnMessage(d, m);
}

void Connection::ForwardOutcome(proton::tracker& t, amqp::Outcome outcome) {
  if (Entry* e = EntryOf(t.sender())) {
    if (e->node) e->node->OnOutcome(t, outcome);
  }
}
void Connection::on_tracker_accept(proton::tracker& t) { ForwardOutcome(t, amqp::Outcome::kAccepted); }
void Connection::on_tracker_reject(proton::tracker& t) { ForwardOutcome(t, amqp::Outcome::kRejected); }
void Connection::on_tracker_release(proton::tracker& t) { ForwardOutcome(t, amqp::Outcome::kReleased); }

void Connection::on_sender_close(proton::sender& s) { Detach(RawLink(s)); }
void Connection::on_receiver_close(proton::receiver& r) {
  after_detach_.erase(RawLink(r));
  Detach(RawLink(r));
}

void Connection::on_error(const proton::error_condition& e) {
  // Proton quotes what the client sent (an unknown protocol's bytes): a line, not a flood.
  std::string what = e.what();
  if (what.size() > 200) what = what.substr(0, 200) + "...";
  LogLine("amqp", "connection from " + peer_ + ": " + what);
}

void Connection::on_session_close(proton::session&) {
  if (sessions_ > 0) --sessions_;
}

void Connection::GuardLink(const proton::link& link, ClaimNeed need) {
  if (Entry* e = EntryOf(link)) e->guard = std::move(need);
}

void Connection::TokenRefused() {
  if (++tokens_refused_ < shared_.limits.max_tokens_refused) return;
  // After this write: the client reads the last refusal before the close.
  After(std::chrono::milliseconds(0), [this] {
    CloseWith("amqp:unauthorized-access", "Too many refused tokens on this connection.");
  });
}

void Connection::CheckClaims() {
  if (shut_) return;
  int64_t now = shared_.hub.clock.NowSeconds();
  bool closed = false;
  for (auto& [raw, entry] : links_) {
    if (entry.guard && !(pn_link_state(raw) & PN_LOCAL_CLOSED) &&
        !claims_.Grants(*entry.guard, now)) {
      CloseLink(entry.link, "amqp:unauthorized-access",
                "The token that authorized this link has expired.");
      closed = true;
    }
  }
  if (closed) Pump();
  claims_timer_.expires_after(std::chrono::seconds(1));
  claims_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->CheckClaims();
  });
}

std::function<void(std::function<void()>)> Connection::Poster() {
  return [weak = weak_from_this(), ex = transport_->executor()](std::function<void()> fn) {
    asio::post(ex, [weak, fn = std::move(fn)] {
      auto self = weak.lock();
      if (!self || self->shut_) return;
      self->Guarded(fn);
      self->Pump();
    });
  };
}

void Connection::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(transport_->executor());
  timer->expires_after(delay);
  timer->async_wait([weak = weak_from_this(), timer, fn = std::move(fn)](
                        boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || self->shut_) return;
    self->Guarded(fn);
    self->Pump();
  });
}

void Connection::AddReplyLink(const std::string& node, ReplyLink* link) {
  reply_links_[node].push_back(link);
}

void Connection::RemoveReplyLink(const std::string& node, ReplyLink* link) {
  auto it = reply_links_.find(node);
  if (it == reply_links_.end()) return;
  std::erase(it->second, link);
}

ReplyLink* Connection::FindReplyLink(const std::string& node, const std::string& reply_to) {
  auto it = reply_links_.find(node);
  if (it == reply_links_.end() || it->second.empty()) return nullptr;
  for (ReplyLink* l : it->second) {
    if (l->name() == reply_to || l->target() == reply_to) return l;
  }
  return it->second.back();
}

}  // namespace coffre::amqp
