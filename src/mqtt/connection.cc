#include "mqtt/connection.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>

#include "common/encoding.h"
#include "common/log.h"

namespace coffre::mqtt {

namespace asio = boost::asio;

namespace {

constexpr auto kOpenTimeout = std::chrono::seconds(10);
constexpr auto kTick = std::chrono::seconds(1);

}  // namespace

Connection::Connection(std::unique_ptr<Transport> transport, ServerShared& shared)
    : transport_(std::move(transport)),
      shared_(shared),
      timer_(transport_->executor()),
      session_(*this, shared.limits),
      peer_(transport_->remote_address()) {}

void Connection::Start() {
  asio::dispatch(transport_->executor(), [self = shared_from_this()] {
    self->timer_.expires_after(kOpenTimeout);
    self->timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->opened_) self->Shutdown();
    });
    self->transport_->Open([self](boost::system::error_code ec) {
      if (ec) return self->Shutdown();
      self->opened_ = true;
      self->Tick();
      self->Read();
    });
  });
}

void Connection::Kick() {
  asio::post(transport_->executor(), [self = shared_from_this()] { self->Shutdown(); });
}

Result<hub::AuthenticatedDevice> Connection::Authenticate(const hub::DeviceCredentials& c) {
  hub::DeviceCredentials with_certificate = c;
  AddPeerCertificate(with_certificate);
  return shared_.auth.AuthenticateMqtt(with_certificate);
}

void Connection::SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) {
  std::weak_ptr<Connection> weak = weak_from_this();
  Status s = shared_.ingest.Submit(std::move(message), [weak, packet_id](const Status& st) {
    if (packet_id == 0) return;  // QoS 0: stored, not acknowledged
    if (auto self = weak.lock()) self->Durable(packet_id, st);
  });
  // Back-pressure or shutdown: the device must not think this was stored.
  if (!s.ok() && packet_id != 0) Durable(packet_id, s);
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

int64_t Connection::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Connection::Read() {
  transport_->ReadSome(asio::buffer(read_buffer_), [self = shared_from_this()](
                                                       boost::system::error_code ec, size_t n) {
    if (ec) return self->Shutdown();
    bool was_connected = self->session_.connected();
    Session::Output out = self->session_.OnBytes(
        ByteSpan(reinterpret_cast<const std::byte*>(self->read_buffer_.data()), n));
    if (!was_connected && self->session_.connected()) self->Register();
    self->Apply(std::move(out));
    if (!self->closing_) self->Read();
  });
}

// The client certificate's thumbprints, for X.509 (selfSigned) devices. The handshake accepted
// any certificate: whether it is the device's is the registry's call.
void Connection::AddPeerCertificate(hub::DeviceCredentials& c) {
  X509* cert = SSL_get1_peer_certificate(transport_->tls());
  if (cert == nullptr) return;
  auto thumbprint = [cert](const EVP_MD* md) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, md, digest, &len);
    return HexEncode(ByteSpan(reinterpret_cast<const std::byte*>(digest), len));
  };
  c.certificate_sha1 = thumbprint(EVP_sha1());
  c.certificate_sha256 = thumbprint(EVP_sha256());
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) c.certificate_not_after = timegm(&tm);
  X509_free(cert);
}

// Only one connection per device: the newest wins.
void Connection::Register() {
  std::shared_ptr<Connection> older;
  {
    std::lock_guard<std::mutex> guard(shared_.mu);
    auto& slot = shared_.by_device[session_.device_id()];
    older = slot.lock();
    slot = weak_from_this();
  }
  if (older && older.get() != this) older->Kick();
  (void)shared_.registry.SetConnected(session_.device_id(), true);
}

// Everything that comes while a write is in flight goes out in the next single write: many
// PUBACKs, one TLS record, one system call.
void Connection::Apply(Session::Output out) {
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
      std::string who = session_.device_id().empty() ? "" : " device " + session_.device_id();
      LogLine("mqtt", peer_ + who + ": closing: " + out.reason);
    }
    closing_ = true;
    if (!writing_ && pending_.empty()) Shutdown();
  }
}

void Connection::Write() {
  std::swap(in_flight_, pending_);
  pending_.clear();
  writing_ = true;
  transport_->Write(asio::buffer(in_flight_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->writing_ = false;
                      if (ec) return self->Shutdown();
                      if (!self->pending_.empty()) return self->Write();
                      if (self->closing_) self->Shutdown();
                    });
}

void Connection::Tick() {
  timer_.expires_after(kTick);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->shut_) return;
    self->Apply(self->session_.OnTick());
    if (!self->shut_) self->Tick();
  });
}

void Connection::Shutdown() {
  if (shut_) return;
  shut_ = true;
  closing_ = true;
  timer_.cancel();
  if (session_.connected() || !session_.device_id().empty()) Unregister();
  transport_->Close();
}

void Connection::Unregister() {
  bool mine = false;
  {
    std::lock_guard<std::mutex> guard(shared_.mu);
    auto it = shared_.by_device.find(session_.device_id());
    if (it != shared_.by_device.end() && it->second.lock().get() == this) {
      shared_.by_device.erase(it);
      mine = true;
    }
  }
  if (mine) (void)shared_.registry.SetConnected(session_.device_id(), false);
}

}  // namespace coffre::mqtt
