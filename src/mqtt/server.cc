#include "mqtt/server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <ctime>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/encoding.h"
#include "net/tls_listener.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kTick = std::chrono::seconds(1);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Connection;

// Shared by all connections: the hub's services and the one-connection-per-device table.
struct ServerShared {
  hub::DeviceAuthenticator& auth;
  hub::TelemetryIngest& ingest;
  hub::Registry& registry;
  SessionLimits limits;
  std::mutex mu;
  std::map<std::string, std::weak_ptr<Connection>> by_device;  // guarded by mu
};

class Connection : public std::enable_shared_from_this<Connection>, public SessionHost {
 public:
  Connection(tcp::socket socket, ssl::context& ctx, ServerShared& shared)
      : stream_(std::move(socket), ctx),
        shared_(shared),
        timer_(stream_.get_executor()),
        session_(*this, shared.limits) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->timer_.expires_after(kHandshakeTimeout);
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec && !self->handshaken_) self->Shutdown();
      });
      self->stream_.async_handshake(ssl::stream_base::server, [self](boost::system::error_code ec) {
        if (ec) return self->Shutdown();
        self->handshaken_ = true;
        self->Tick();
        self->Read();
      });
    });
  }

  // Closes from another thread (a newer connection of the same device).
  void Kick() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Shutdown(); });
  }

  // SessionHost, called on the strand.
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials& c) override {
    hub::DeviceCredentials with_certificate = c;
    AddPeerCertificate(with_certificate);
    return shared_.auth.AuthenticateMqtt(with_certificate);
  }
  void SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) override {
    std::weak_ptr<Connection> weak = weak_from_this();
    auto executor = stream_.get_executor();
    Status s = shared_.ingest.Submit(std::move(message), [weak, executor, packet_id](const Status& st) {
      if (packet_id == 0) return;  // QoS 0: stored, not acknowledged
      asio::post(executor, [weak, packet_id, st] {
        if (auto self = weak.lock()) self->Apply(self->session_.OnDurable(packet_id, st));
      });
    });
    if (!s.ok() && packet_id != 0) {
      // Back-pressure or shutdown: the device must not think this was stored.
      asio::post(executor, [weak, packet_id, s] {
        if (auto self = weak.lock()) self->Apply(self->session_.OnDurable(packet_id, s));
      });
    }
  }
  int64_t NowMs() override { return mqtt::NowMs(); }

 private:
  void Read() {
    stream_.async_read_some(asio::buffer(read_buffer_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
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
  void AddPeerCertificate(hub::DeviceCredentials& c) {
    X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
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
  void Register() {
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

  void Apply(Session::Output out) {
    if (!out.to_send.empty()) {
      writes_.push_back(std::move(out.to_send));
      if (writes_.size() == 1) Write();
    }
    if (out.close) {
      closing_ = true;
      if (writes_.empty()) Shutdown();
    }
  }

  void Write() {
    asio::async_write(stream_, asio::buffer(writes_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) return self->Shutdown();
                        self->writes_.pop_front();
                        if (!self->writes_.empty()) return self->Write();
                        if (self->closing_) self->Shutdown();
                      });
  }

  void Tick() {
    timer_.expires_after(kTick);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->shut_) return;
      self->Apply(self->session_.OnTick());
      if (!self->shut_) self->Tick();
    });
  }

  void Shutdown() {
    if (shut_) return;
    shut_ = true;
    closing_ = true;
    timer_.cancel();
    if (session_.connected() || !session_.device_id().empty()) Unregister();
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  void Unregister() {
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

  ssl::stream<tcp::socket> stream_;
  ServerShared& shared_;
  asio::steady_timer timer_;
  Session session_;
  std::array<char, 16384> read_buffer_{};
  std::deque<Bytes> writes_;
  bool handshaken_ = false;
  bool closing_ = false;
  bool shut_ = false;
};

struct MqttServer::Impl {
  Impl(MqttServerOptions o, hub::DeviceAuthenticator& auth, hub::TelemetryIngest& ingest,
       hub::Registry& registry)
      : options(std::move(o)),
        shared{auth, ingest, registry, options.limits, {}, {}},
        ioc(options.threads),
        ssl_ctx(ssl::context::tls_server),
        acceptor(asio::make_strand(ioc)) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        boost::system::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Connection>(std::move(s), ssl_ctx, shared)->Start();
      }
      Accept();
    });
  }

  MqttServerOptions options;
  ServerShared shared;
  asio::io_context ioc;
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

MqttServer::MqttServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MqttServer::~MqttServer() { Stop(); }

uint16_t MqttServer::port() const { return impl_->port; }

size_t MqttServer::connections() const {
  std::lock_guard<std::mutex> guard(impl_->shared.mu);
  return impl_->shared.by_device.size();
}

Result<std::unique_ptr<MqttServer>> MqttServer::Start(MqttServerOptions options,
                                                      hub::DeviceAuthenticator& auth,
                                                      hub::TelemetryIngest& ingest,
                                                      hub::Registry& registry) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), auth, ingest, registry);
  COFFRE_RETURN_IF_ERROR(
      net::ConfigureServerTls(impl->ssl_ctx, impl->options.cert_file, impl->options.key_file));
  // Ask for a client certificate (X.509 devices) without requiring or verifying it here.
  boost::system::error_code ec;
  impl->ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
  impl->ssl_ctx.set_verify_callback([](bool, ssl::verify_context&) { return true; }, ec);
  if (ec) return Internal("TLS client certificate settings: " + ec.message());
  COFFRE_RETURN_IF_ERROR(net::Listen(impl->acceptor, impl->options.address, impl->options.port));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  }
  return std::unique_ptr<MqttServer>(new MqttServer(std::move(impl)));
}

void MqttServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->acceptor.get_executor(), [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::mqtt
