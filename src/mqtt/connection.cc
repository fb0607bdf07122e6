#include "mqtt/connection.h"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/time_format.h"
#include "mqtt/topics.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kMaxCheckWait = std::chrono::milliseconds(60'000);

// Refusals that count against a source's failed-CONNECT budget: the credentials' fault, not the
// hub's (an inaccessible hub answers UNAVAILABLE and costs the device nothing).
bool IsRefusal(StatusCode code) {
  return code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied ||
         code == StatusCode::kInvalidArgument || code == StatusCode::kFailedPrecondition;
}

std::string Millis(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

Connection::HeldCredentials::~HeldCredentials() {
  if (password && !password->empty()) OPENSSL_cleanse(password->data(), password->size());
}

hub::DeviceCredentials Connection::HeldCredentials::View() const {
  hub::DeviceCredentials c;
  c.client_id = client_id;
  c.username = username;
  if (password) c.password = std::string_view(*password);
  c.certificate_sha1 = certificate_sha1;
  c.certificate_sha256 = certificate_sha256;
  c.certificate_not_after = certificate_not_after;
  return c;
}

Connection::Connection(std::unique_ptr<net::Transport> transport, ServerShared& shared,
                       std::string source, hub::Protocol protocol)
    : transport_(std::move(transport)),
      shared_(shared),
      timer_(transport_->executor()),
      session_(*this, shared.limits),
      source_(std::move(source)),
      traffic_(shared.metrics != nullptr ? &shared.metrics->protocol(protocol) : nullptr),
      open_(traffic_ != nullptr ? &traffic_->open() : nullptr),
      peer_(transport_->remote_address()),
      deadline_(SteadyClock::now() + shared.deadline) {}

Connection::~Connection() { ReleaseAdmission(); }

void Connection::ReleaseAdmission() {
  if (!admitted_) return;
  admitted_ = false;
  shared_.admission.Release(source_);
}

std::string Connection::IdentityKey() const {
  const auto& module = session_.module_id();
  return session_.device_id() + (module ? "/" + *module : "");
}

void Connection::Start() {
  asio::dispatch(transport_->executor(), [self = shared_from_this()] {
    // The deadline covers the TLS (or WebSocket) handshake as well as the CONNECT.
    self->timer_.expires_at(self->deadline_);
    self->timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->opened_) self->Shutdown();
    });
    self->transport_->Open([self](boost::system::error_code ec) {
      if (ec || self->shut_) return self->Shutdown();
      self->opened_ = true;
      self->Tick();
      self->Read();
    });
  });
}

void Connection::Kick() {
  asio::post(transport_->executor(), [self = shared_from_this()] { self->Shutdown(); });
}

void Connection::Recheck() {
  asio::post(transport_->executor(), [self = shared_from_this()] { self->RecheckNow(); });
}

Result<hub::AuthenticatedDevice> Connection::Authenticate(const hub::DeviceCredentials& c) {
  auto now = SteadyClock::now();
  // A source past its budget of refusals is turned away before any credential is looked at.
  if (shared_.failed_auth.Peek(source_, now).count() > 0) {
    return Unavailable("too many refused CONNECTs from " + source_ + ": try again later");
  }
  changes_seen_ = shared_.identity_changes.load();
  hub::DeviceCredentials with_certificate = c;
  AddPeerCertificate(with_certificate);
  Result<hub::AuthenticatedDevice> device = shared_.auth.AuthenticateMqtt(with_certificate);
  if (!device.has_value()) {
    if (IsRefusal(device.error().code())) (void)shared_.failed_auth.Take(source_, now);
    return device;
  }
  auto held = std::make_unique<HeldCredentials>();
  held->client_id = std::string(c.client_id);
  held->username = std::string(c.username);
  if (c.password) held->password = std::string(*c.password);
  held->certificate_sha1 = with_certificate.certificate_sha1;
  held->certificate_sha256 = with_certificate.certificate_sha256;
  held->certificate_not_after = with_certificate.certificate_not_after;
  credentials_ = std::move(held);
  return device;
}

void Connection::SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) {
  if (traffic_ != nullptr) traffic_->Received(message.body.size());
  // Over the quota, messages wait in order: once one waits, every later one queues behind it.
  if (shared_.quotas != nullptr) {
    auto now = SteadyClock::now();
    std::chrono::milliseconds wait{0};
    if (shaped_.empty()) wait = shared_.quotas->TakeD2c(now);
    if (!shaped_.empty() || wait.count() > 0) {
      if (shaped_.empty()) {
        if (wait > shared_.d2c_max_delay) return CloseThrottled();
        shaped_since_ = now;
        ArmShaping(wait);
      }
      shaped_.push_back({std::move(message), packet_id});
      return;
    }
  }
  Submit(std::move(message), packet_id);
}

void Connection::Submit(hub::TelemetryMessage message, uint16_t packet_id) {
  std::weak_ptr<Connection> weak = weak_from_this();
  Status s = shared_.ingest.Submit(std::move(message), [weak, packet_id](const Status& st) {
    if (packet_id == 0) return;  // QoS 0: stored, not acknowledged
    if (auto self = weak.lock()) self->Durable(packet_id, st);
  });
  // Back-pressure or shutdown: the device must not think this was stored.
  if (!s.ok() && packet_id != 0) Durable(packet_id, s);
}

void Connection::CloseThrottled() {
  shaped_.clear();
  Close("throttled: the hub's device-to-cloud quota is spent and a message would wait more than " +
        Millis(shared_.d2c_max_delay));
}

void Connection::ArmShaping(std::chrono::milliseconds wait) {
  if (!shaping_timer_) shaping_timer_.emplace(transport_->executor());
  shaping_timer_->expires_after(wait);
  shaping_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->DrainShaped();
  });
}

// Azure's traffic shaping: what is over the quota is processed later at the quota's rate; a
// message that would wait longer than d2c_max_delay closes the connection instead (the SDKs
// reconnect with back-off and send again what was not acknowledged).
void Connection::DrainShaped() {
  if (shut_ || closing_) return shaped_.clear();
  while (!shaped_.empty()) {
    auto now = SteadyClock::now();
    std::chrono::milliseconds wait = shared_.quotas->TakeD2c(now);
    if (wait.count() == 0) {
      Shaped next = std::move(shaped_.front());
      shaped_.pop_front();
      shaped_since_ = now;
      Submit(std::move(next.message), next.packet_id);
      continue;
    }
    if (now + wait - shaped_since_ > shared_.d2c_max_delay) return CloseThrottled();
    return ArmShaping(wait);
  }
  if (read_paused_ && !closing_) {
    read_paused_ = false;
    Read();
  }
}

// From an ingest writer thread: a whole group commit's acknowledgements for this connection
// reach its strand in one hand-off, and leave in one write.
void Connection::Durable(uint16_t packet_id, const Status& stored) {
  bool post = false;
  {
    std::lock_guard<std::mutex> guard(acks_mu_);
    acks_.emplace_back(packet_id, stored);
    post = !acks_posted_;
    acks_posted_ = true;
  }
  if (post) asio::post(transport_->executor(), [self = shared_from_this()] { self->DrainAcks(); });
}

void Connection::DrainAcks() {
  std::vector<std::pair<uint16_t, Status>> acks;
  {
    std::lock_guard<std::mutex> guard(acks_mu_);
    acks.swap(acks_);
    acks_posted_ = false;
  }
  if (shut_) return;
  Session::Output all;
  for (const auto& [id, status] : acks) {
    Session::Output out = session_.OnDurable(id, status);
    all.to_send.insert(all.to_send.end(), out.to_send.begin(), out.to_send.end());
    if (out.close && !all.close) {
      all.close = true;
      all.reason = std::move(out.reason);
    }
  }
  Apply(std::move(all));
}

hub::TwinId Connection::Identity() const {
  return hub::TwinId{session_.device_id(), session_.module_id()};
}

bool Connection::DeliverMethod(std::string_view name, std::string_view rid,
                               std::string_view payload) {
  if (!methods_subscribed_.load()) return false;
  asio::post(transport_->executor(), [self = shared_from_this(), name = std::string(name),
                                      rid = std::string(rid), payload = std::string(payload)] {
    self->Apply(self->session_.SendMethod(name, rid, payload));
  });
  return true;
}

void Connection::SendDesired(const std::string& patch, int64_t version) {
  asio::post(transport_->executor(), [self = shared_from_this(), patch, version] {
    self->Apply(self->session_.SendDesired(patch, version));
  });
}

void Connection::PullC2d() {
  asio::post(transport_->executor(), [self = shared_from_this()] { self->PullC2dNow(); });
}

// One C2D message in flight per session: the next is fetched once the device acknowledged the
// last (Azure delivers a device's queue in order).
void Connection::PullC2dNow() {
  if (shut_ || shared_.features == nullptr || session_.module_id() ||
      !session_.subscribed(SessionFeature::kC2d) || c2d_fetching_ || session_.c2d_in_flight() > 0) {
    return;
  }
  c2d_fetching_ = true;
  shared_.features->NextC2d(session_.device_id(),
                            [self = shared_from_this()](std::optional<hub::QueuedC2d> next) {
                              asio::post(self->transport_->executor(),
                                         [self, next = std::move(next)]() mutable {
                                           self->Deliver(std::move(next));
                                         });
                            });
}

void Connection::Deliver(std::optional<hub::QueuedC2d> message) {
  c2d_fetching_ = false;
  if (!message) return;
  if (shut_ || !session_.subscribed(SessionFeature::kC2d)) {
    // Locked for a session that is gone: back to the queue for the next one.
    shared_.features->AbandonC2d(session_.device_id(), message->lock_token);
    return;
  }
  hub::MessageProperties properties = message->message.properties;
  properties.system.to = "/devices/" + session_.device_id() + "/messages/devicebound";
  if (message->message.expiry) {
    properties.system.expiry_time = FormatIsoTime(ToMillis(*message->message.expiry));
  }
  std::string topic = CloudToDeviceTopic(session_.device_id(), FormatPropertyBag(properties));
  Apply(session_.SendC2d(topic, AsBytes(message->message.body), message->lock_token));
  if (traffic_ != nullptr) traffic_->SentC2d(message->message.body.size());
}

void Connection::SubmitTwinRequest(const IotHubRequest& request, std::string body) {
  auto reply = [self = shared_from_this(), rid = request.rid](int status, std::string text,
                                                               std::optional<int64_t> version) {
    asio::post(self->transport_->executor(), [self, rid, status, text = std::move(text), version] {
      self->Apply(self->session_.OnTwinReply(rid, status, text, version));
    });
  };
  if (shared_.features == nullptr) {
    return reply(501, R"({"errorCode":501001,"message":"Twins are not served by this hub."})",
                 std::nullopt);
  }
  hub::TwinRequestKind kind = request.kind == IotHubRequest::Kind::kTwinGet
                                 ? hub::TwinRequestKind::kGet
                                 : hub::TwinRequestKind::kReportedPatch;
  shared_.features->TwinRequest(Identity(), kind, std::move(body), std::move(reply));
}

void Connection::SubmitMethodResponse(const std::string& rid, int status, std::string payload) {
  if (shared_.features != nullptr) {
    shared_.features->MethodResponse(Identity(), rid, status, std::move(payload));
  }
}

void Connection::Subscribed(SessionFeature feature) {
  if (shared_.features == nullptr) return;
  if (feature == SessionFeature::kMethods) {
    methods_subscribed_ = true;
    shared_.features->MethodsSubscribed(Identity());
  } else if (feature == SessionFeature::kC2d) {
    PullC2dNow();
  }
}

void Connection::C2dAcknowledged(const std::string& lock_token) {
  if (shared_.features == nullptr) return;
  shared_.features->CompleteC2d(session_.device_id(), lock_token);
  PullC2dNow();
}

int64_t Connection::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Connection::Read() {
  char* into = big_read_ ? big_read_->data() : small_read_.data();
  size_t room = big_read_ ? big_read_->size() : small_read_.size();
  transport_->ReadSome(asio::buffer(into, room), [self = shared_from_this(), into, room](
                                                     boost::system::error_code ec, size_t n) {
    if (ec) return self->Shutdown();
    // Closing (revoked, throttled, kicked): what came meanwhile is not processed, let alone
    // stored.
    if (self->closing_) return;
    bool was_connected = self->session_.connected();
    Session::Output out =
        self->session_.OnBytes(ByteSpan(reinterpret_cast<const std::byte*>(into), n));
    if (room == kSmallRead && n == kSmallRead) {
      self->big_read_.reset(new BigRead);  // default-initialised: no page touched yet
    } else if (room != kSmallRead && n <= kSmallRead) {
      self->big_read_.reset();
    }
    if (!was_connected && self->session_.connected()) {
      self->Register();
      self->Tick();  // from the CONNECT deadline to the keep-alive's and the token's
    }
    self->Apply(std::move(out));
    if (self->recheck_due_) {
      self->recheck_due_ = false;
      self->RecheckNow();
    }
    if (self->closing_) return;
    if (self->shaped_.empty()) {
      self->Read();
    } else {
      self->read_paused_ = true;  // DrainShaped reads again once the queue is empty
    }
  });
}

// The client certificate's thumbprints, for X.509 (selfSigned) devices. The handshake accepted
// any certificate: whether it is the device's is the registry's call.
void Connection::AddPeerCertificate(hub::DeviceCredentials& c) {
  X509* cert = SSL_get1_peer_certificate(transport_->tls());
  if (cert == nullptr) return;
  hub::AddPeerCertificate(cert, c);
  X509_free(cert);
}

// Only one connection per identity: the newest wins. An identity change that happened while
// this one authenticated may have missed it (it was not in the table yet): re-check then.
void Connection::Register() {
  ReleaseAdmission();
  if (traffic_ != nullptr) authenticated_.Reset(&traffic_->authenticated());
  std::shared_ptr<Connection> older;
  {
    std::lock_guard<std::mutex> guard(shared_.mu);
    auto& slot = shared_.by_identity[IdentityKey()];
    older = slot.lock();
    slot = weak_from_this();
  }
  if (older && older.get() != this) older->Kick();
  // Across protocols too: an AMQP connection holding this identity closes.
  if (shared_.connections != nullptr) {
    held_ = shared_.connections->Take(IdentityKey(), [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Kick();
    });
  }
  if (shared_.identity_changes.load() != changes_seen_) recheck_due_ = true;
  // Module connection state is the module's, not the device's.
  if (!session_.module_id()) (void)shared_.registry.SetConnected(session_.device_id(), true);
}

// Re-runs the authentication the CONNECT passed, with the same credentials, against the
// registry as it is now: a deleted or disabled identity, a replaced key (the one the token was
// signed with) or thumbprint, fail it. A change that keeps those credentials valid (the other
// key regenerated, a new status reason) keeps the session.
void Connection::RecheckNow() {
  if (shut_ || closing_ || !session_.connected() || !credentials_) return;
  Result<hub::AuthenticatedDevice> now = shared_.auth.AuthenticateMqtt(credentials_->View());
  if (now.has_value() && now->device_id == session_.device_id() &&
      now->module_id == session_.module_id()) {
    return;
  }
  std::string why = now.has_value() ? "another identity" : std::string(StatusCodeName(now.error().code()));
  Close("the identity changed and the credentials it connected with no longer hold (" + why + ")");
}

// Everything that comes while a write is in flight goes out in the next single write: many
// PUBACKs, one TLS record, one system call.
void Connection::Apply(Session::Output out) {
  if (shut_) return;
  if (!out.to_send.empty()) {
    if (pending_.empty()) {
      pending_ = std::move(out.to_send);
    } else {
      pending_.insert(pending_.end(), out.to_send.begin(), out.to_send.end());
    }
    if (!writing_) Write();
  }
  if (out.close) {
    if (!closing_) {
      std::string who = session_.device_id().empty() ? "" : " device " + IdentityKey();
      LogLine("mqtt", peer_ + who + ": closing: " + out.reason);
    }
    closing_ = true;
    if (!writing_ && pending_.empty()) Shutdown();
  }
}

void Connection::Close(std::string reason) {
  if (shut_) return;
  if (!closing_) {
    std::string who = session_.device_id().empty() ? "" : " device " + IdentityKey();
    LogLine("mqtt", peer_ + who + ": closing: " + reason);
  }
  Shutdown();
}

void Connection::Write() {
  std::swap(in_flight_, pending_);
  pending_.clear();
  writing_ = true;
  transport_->Write(asio::buffer(in_flight_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->writing_ = false;
                      if (ec || self->shut_) return self->Shutdown();
                      if (!self->pending_.empty()) return self->Write();
                      if (self->closing_) self->Shutdown();
                    });
}

// At the CONNECT deadline until a CONNECT is accepted, then when the session's keep-alive or
// token may have expired (a packet since moves the keep-alive on: checked, nothing to do, armed
// again): one timer wake per keep-alive period for a device that sends, not one per second.
void Connection::Tick() {
  if (shut_) return;  // a timer armed now would hold the connection until it fires
  auto next = deadline_;
  if (session_.connected()) {
    std::optional<int64_t> due = session_.NextCheckMs();
    // The session's times are the system clock's; a wake at least every kMaxCheckWait keeps a
    // clock step from delaying a token's expiry for long.
    int64_t wait_ms = due ? std::clamp<int64_t>(*due - NowMs(), 0, kMaxCheckWait.count())
                          : kMaxCheckWait.count();
    next = SteadyClock::now() + std::chrono::milliseconds(wait_ms);
  }
  timer_.expires_at(next);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->shut_) return;
    if (!self->session_.connected() && SteadyClock::now() >= self->deadline_) {
      return self->Close("no CONNECT accepted within " + Millis(self->shared_.deadline));
    }
    self->Apply(self->session_.OnTick());
    if (!self->shut_) self->Tick();
  });
}

void Connection::Shutdown() {
  if (shut_) return;
  shut_ = true;
  closing_ = true;
  timer_.cancel();
  if (shaping_timer_) shaping_timer_->cancel();
  shaped_.clear();
  ReleaseAdmission();
  open_.Reset();
  authenticated_.Reset();
  if (session_.connected() || !session_.device_id().empty()) Unregister();
  methods_subscribed_ = false;
  // C2D messages delivered but not acknowledged go back to the queue now, not at lock expiry.
  if (shared_.features != nullptr) {
    for (const std::string& lock : session_.UnacknowledgedC2d()) {
      shared_.features->AbandonC2d(session_.device_id(), lock);
    }
  }
  transport_->Close();
}

void Connection::Unregister() {
  if (held_ != 0 && shared_.connections != nullptr) shared_.connections->Release(IdentityKey(), held_);
  held_ = 0;
  bool mine = false;
  {
    std::lock_guard<std::mutex> guard(shared_.mu);
    auto it = shared_.by_identity.find(IdentityKey());
    if (it != shared_.by_identity.end() && it->second.lock().get() == this) {
      shared_.by_identity.erase(it);
      mine = true;
    }
  }
  if (mine && !session_.module_id()) (void)shared_.registry.SetConnected(session_.device_id(), false);
}

}  // namespace coffre::mqtt
