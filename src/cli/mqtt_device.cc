#include "cli/mqtt_device.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/unique_fd.h"
#include "mqtt/codec.h"

namespace coffre::cli {
namespace {

using Clock = MqttDevice::Clock;

// Above any packet a hub sends a device that subscribed to nothing (CONNACK, PUBACK, PINGRESP).
constexpr size_t kMaxIncomingPacket = 64 * 1024;
// What one ReadAvailable() takes at most before the packets are decoded.
constexpr size_t kMaxReadAtOnce = 1 << 20;

// OpenSSL's queued errors as one text (and the queue emptied).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail" : out;
}

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
}

// A non-blocking TCP connection to host:port, the first address that answers.
Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) return Unavailable("resolving " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    UniqueFd fd(
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) return ErrnoStatus("socket", errno);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        why = std::strerror(errno);
        continue;
      }
      pollfd p{fd.get(), POLLOUT, 0};
      int ready = ::poll(&p, 1, MillisUntil(deadline));
      if (ready == 0) {
        return Unavailable("connecting to " + host + ":" + std::to_string(port) + ": timed out");
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (ready < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        why = std::strerror(ready < 0 ? errno : err);
        continue;
      }
    }
    return fd;
  }
  return Unavailable("connecting to " + host + ":" + std::to_string(port) + ": " + why);
}

std::string ConnAckText(uint8_t code) {
  switch (static_cast<mqtt::ConnectCode>(code)) {
    case mqtt::ConnectCode::kBadProtocolVersion: return "unacceptable protocol version";
    case mqtt::ConnectCode::kIdentifierRejected: return "identifier rejected";
    case mqtt::ConnectCode::kServerUnavailable:
      return "server unavailable (the hub cannot serve now: its customer key unusable, or too "
             "many refused connections from here)";
    case mqtt::ConnectCode::kBadUsernameOrPassword: return "bad user name or password";
    case mqtt::ConnectCode::kNotAuthorized:
      return "not authorized (the device is disabled or unknown, or its key was replaced)";
    default: return "return code " + std::to_string(code);
  }
}

}  // namespace

struct MqttDevice::Tls {
  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  // Destroyed in reverse: the SSL before its context, the socket last.
  UniqueFd fd;
  std::unique_ptr<SSL_CTX, CtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
};

MqttDevice::MqttDevice(std::unique_ptr<Tls> tls) : tls_(std::move(tls)) {}
MqttDevice::~MqttDevice() = default;

Result<std::unique_ptr<MqttDevice>> MqttDevice::Connect(const MqttDeviceOptions& options) {
  // A write to a connection the hub has closed then fails with EPIPE instead of ending the tool
  // (OpenSSL writes with write(2), without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  Clock::time_point deadline = Clock::now() + options.connect_timeout;
  std::string where = options.host + ":" + std::to_string(options.port);
  auto tls = std::make_unique<Tls>();
  COFFRE_ASSIGN_OR_RETURN(tls->fd, ConnectTcp(options.host, options.port, deadline));

  tls->ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!tls->ctx) return Internal("SSL_CTX_new: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(tls->ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(tls->ctx.get(), SSL_VERIFY_PEER, nullptr);
  const char* ca = options.ca_file.c_str();
  int loaded = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(tls->ctx.get())
                                       : SSL_CTX_load_verify_locations(tls->ctx.get(), ca, nullptr);
  if (loaded != 1) {
    return InvalidArgument("loading the CA " + options.ca_file.string() + ": " + OpenSslErrors());
  }
  tls->ssl.reset(SSL_new(tls->ctx.get()));
  if (!tls->ssl) return Internal("SSL_new: " + OpenSslErrors());
  SSL* ssl = tls->ssl.get();
  in6_addr ip{};
  bool is_ip = ::inet_pton(AF_INET, options.host.c_str(), &ip) == 1 ||
               ::inet_pton(AF_INET6, options.host.c_str(), &ip) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, options.host.c_str());
    X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
  }
  SSL_set_fd(ssl, tls->fd.get());

  std::unique_ptr<MqttDevice> device(new MqttDevice(std::move(tls)));
  while (true) {
    ERR_clear_error();
    int rc = SSL_connect(ssl);
    if (rc == 1) break;
    int err = SSL_get_error(ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      long verify = SSL_get_verify_result(ssl);
      std::string why = OpenSslErrors();
      if (verify != X509_V_OK) {
        why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
      }
      return Unavailable("TLS handshake with " + where + ": " + why);
    }
    COFFRE_ASSIGN_OR_RETURN(bool ready,
                            device->Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline));
    if (!ready) return Unavailable("TLS handshake with " + where + ": timed out");
  }

  Bytes connect;
  mqtt::Connect c;
  c.client_id = options.client_id;
  c.username = options.username;
  c.password = AsBytes(options.password);
  c.keep_alive = options.keep_alive_s;
  c.clean_session = true;
  mqtt::EncodeConnect(connect, c);
  COFFRE_RETURN_IF_ERROR(device->Write(connect, deadline));
  while (!device->connack_) {
    Status s = device->Receive(deadline);
    if (device->connack_) break;
    if (!s.ok()) return s.WithContext("waiting for the CONNACK");
    if (Clock::now() >= deadline) return Unavailable("no CONNACK from " + where + " in time");
  }
  if (*device->connack_ != 0) {
    std::string text = "the hub refused the connection: " + ConnAckText(*device->connack_) +
                       " (CONNACK " + std::to_string(*device->connack_) + ")";
    auto code = static_cast<mqtt::ConnectCode>(*device->connack_);
    if (code == mqtt::ConnectCode::kBadUsernameOrPassword ||
        code == mqtt::ConnectCode::kNotAuthorized) {
      return Unauthenticated(text);
    }
    return Unavailable(text);
  }
  return device;
}

Result<bool> MqttDevice::Wait(short events, Clock::time_point deadline) {
  while (true) {
    pollfd p{tls_->fd.get(), events, 0};
    int ready = ::poll(&p, 1, MillisUntil(deadline));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
    if (ready == 0 && Clock::now() >= deadline) return false;
  }
}

Status MqttDevice::ClosedError() const {
  return Unavailable("the hub closed the connection" +
                     (closed_why_.empty() ? std::string() : " (" + closed_why_ + ")"));
}

void MqttDevice::ReadAvailable() {
  SSL* ssl = tls_->ssl.get();
  size_t taken = 0;
  while (!closed_ && taken < kMaxReadAtOnce) {
    std::byte buf[16 * 1024];
    ERR_clear_error();
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      in_.insert(in_.end(), buf, buf + n);
      taken += static_cast<size_t>(n);
      continue;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    closed_ = true;
    if (err == SSL_ERROR_SYSCALL && errno != 0) closed_why_ = std::strerror(errno);
    // A close without TLS's close_notify is how the hub drops a device: no detail in that.
    if (err == SSL_ERROR_SSL &&
        ERR_GET_REASON(ERR_peek_error()) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      closed_why_ = OpenSslErrors();
    }
  }
}

Status MqttDevice::DecodeAll() {
  size_t used = 0;
  while (true) {
    ByteSpan rest = ByteSpan(in_).subspan(used);
    Result<std::optional<mqtt::Decoded>> decoded = mqtt::DecodePacket(rest, kMaxIncomingPacket);
    if (!decoded.has_value()) {
      closed_ = true;
      return decoded.error().WithContext("the hub sent a packet that does not decode");
    }
    if (!decoded->has_value()) break;
    const mqtt::Packet& packet = (*decoded)->packet;
    used += (*decoded)->size;
    if (const auto* ack = std::get_if<mqtt::PacketIdOnly>(&packet);
        ack != nullptr && ack->type == mqtt::PacketType::kPubAck) {
      acks_.push_back({ack->packet_id, Clock::now()});
    } else if (const auto* connack = std::get_if<mqtt::ConnAck>(&packet)) {
      connack_ = static_cast<uint8_t>(connack->code);
    }
    // Nothing else is expected (PINGRESP needs nothing): ignored.
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(used));
  return Status::Ok();
}

Status MqttDevice::Receive(Clock::time_point until) {
  while (true) {
    size_t before = acks_.size();
    bool had_connack = connack_.has_value();
    ReadAvailable();
    COFFRE_RETURN_IF_ERROR(DecodeAll());
    if (closed_) return ClosedError();
    if (acks_.size() > before || connack_.has_value() != had_connack) return Status::Ok();
    // TLS may hold a whole record read already that poll() cannot see.
    if (SSL_pending(tls_->ssl.get()) > 0) continue;
    if (Clock::now() >= until) return Status::Ok();
    COFFRE_ASSIGN_OR_RETURN(bool ready, Wait(POLLIN, until));
    if (!ready) return Status::Ok();
  }
}

Status MqttDevice::Write(ByteSpan data, Clock::time_point deadline) {
  SSL* ssl = tls_->ssl.get();
  Clock::time_point began = Clock::now();
  while (true) {
    if (closed_) return ClosedError();
    ERR_clear_error();
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE, success means all of it.
    int n = SSL_write(ssl, data.data(), static_cast<int>(data.size()));
    if (n > 0) return Status::Ok();
    int err = SSL_get_error(ssl, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      // Whatever the hub said before closing (its last PUBACKs) is still read.
      ReadAvailable();
      (void)DecodeAll();
      closed_ = true;
      if (closed_why_.empty() && err == SSL_ERROR_SYSCALL && errno != 0) {
        closed_why_ = std::strerror(errno);
      }
      return ClosedError();
    }
    // Waiting to write: read meanwhile, so that the hub's PUBACKs never back up behind us.
    short events = POLLIN | (err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0);
    pollfd p{tls_->fd.get(), events, 0};
    int ready = ::poll(&p, 1, MillisUntil(deadline));
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
    if (ready == 0 && Clock::now() >= deadline) {
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - began);
      return DeadlineExceeded("the hub read nothing from this connection for " +
                              std::to_string(waited.count()) + " s");
    }
    if (ready > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ReadAvailable();
      COFFRE_RETURN_IF_ERROR(DecodeAll());
    }
  }
}

Status MqttDevice::Publish(std::string_view topic, ByteSpan payload, uint16_t packet_id,
                           Clock::time_point deadline) {
  Bytes out;
  mqtt::Publish p;
  p.qos = 1;
  p.topic = topic;
  p.packet_id = packet_id;
  p.payload = payload;
  mqtt::EncodePublish(out, p);
  return Write(out, deadline);
}

std::vector<MqttDevice::Ack> MqttDevice::TakeAcks() { return std::exchange(acks_, {}); }

void MqttDevice::Disconnect() {
  if (closed_) return;
  Bytes out;
  mqtt::EncodeBare(out, {mqtt::PacketType::kDisconnect});
  (void)Write(out, Clock::now() + std::chrono::seconds(1));
  SSL_shutdown(tls_->ssl.get());  // our close_notify; the hub's is not waited for
  closed_ = true;
}

}  // namespace coffre::cli
