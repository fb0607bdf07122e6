// The device TLS port (DeviceListener with the socket-level TLS transport) against a real
// OpenSSL client: a session resumed on reconnect, and clients that leave in the middle of the
// handshake, which must cost only their own connection.
#include "net/device_listener.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "net/certificates.h"
#include "net/transport.h"
#include "net/ssl_ptrs.h"
#include "test_util.h"

namespace coffre::net {
namespace {

namespace asio = boost::asio;

// Each admitted connection: the TLS handshake, then every byte read is written back.
class EchoServer {
 public:
  void Start(DeviceListener& listener) {
    listener.Run([this, &listener](asio::ip::tcp::socket socket, std::string) {
      std::shared_ptr<Transport> t = MakeTlsTransport(std::move(socket), listener.tls());
      {
        std::lock_guard lock(mu_);
        live_.push_back(t);
      }
      t->Open([this, t](boost::system::error_code ec) {
        if (ec) return t->Close();
        Echo(t);
      });
    });
  }

 private:
  void Echo(std::shared_ptr<Transport> t) {
    auto buf = std::make_shared<std::array<char, 256>>();
    t->ReadSome(asio::buffer(*buf), [this, t, buf](boost::system::error_code ec, size_t n) {
      if (ec) return t->Close();
      t->Write(asio::buffer(buf->data(), n), [this, t, buf](boost::system::error_code wrote, size_t) {
        if (wrote) return t->Close();
        Echo(t);
      });
    });
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<Transport>> live_;  // kept until the test ends
};

using testing::SslCtxPtr;
using testing::SslPtr;
using testing::SslSessionPtr;

int ConnectTcp(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};  // a read or write that hangs fails the test instead
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class DeviceListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = EnsureStackCertificates(dir_.path() / "tls", ServerIdentity{});
    ASSERT_TRUE(certs.has_value()) << certs.error();
    ca_ = certs->ca_file;
    DeviceListenerOptions o;
    o.cert_file = certs->cert_file;
    o.key_file = certs->key_file;
    o.threads = 1;
    auto listener = DeviceListener::Listen(o, admission_);
    ASSERT_TRUE(listener.has_value()) << listener.error();
    listener_ = std::move(*listener);
    server_.Start(*listener_);
    client_ctx_ = testing::ClientTrusting(ca_);
    ASSERT_TRUE(client_ctx_);
  }
  void TearDown() override {
    if (listener_) listener_->Stop();
  }

  // A TLS connection that sends "ping" and reads it back (which also reads the session tickets
  // a TLS 1.3 server sends after the handshake); offers `session` if given. Returns the session
  // to resume next time; `reused` tells whether this one was resumed.
  SslSessionPtr PingOver(SSL_SESSION* session, bool* reused) {
    int fd = ConnectTcp(listener_->port());
    EXPECT_GE(fd, 0);
    SslPtr ssl(SSL_new(client_ctx_.get()));
    SSL_set_fd(ssl.get(), fd);
    SSL_set_tlsext_host_name(ssl.get(), "localhost");
    if (session != nullptr) SSL_set_session(ssl.get(), session);
    SslSessionPtr next;
    if (SSL_connect(ssl.get()) == 1) {
      char back[4] = {};
      EXPECT_EQ(SSL_write(ssl.get(), "ping", 4), 4);
      EXPECT_EQ(SSL_read(ssl.get(), back, sizeof back), 4);
      EXPECT_EQ(std::string(back, 4), "ping");
      *reused = SSL_session_reused(ssl.get()) == 1;
      next.reset(SSL_get1_session(ssl.get()));
      SSL_shutdown(ssl.get());
    } else {
      ADD_FAILURE() << "handshake failed: " << ERR_reason_error_string(ERR_get_error());
    }
    ::close(fd);
    return next;
  }

  testing::TempDir dir_;  // outlives the listener, which reads its certificates
  std::filesystem::path ca_;
  Admission admission_{1000, 1000};
  std::unique_ptr<DeviceListener> listener_;
  EchoServer server_;
  SslCtxPtr client_ctx_;
};

// OpenSSL fails (not just declines) a resumption on a server that asks for a client
// certificate and set no session id context: a device that resumed could not reconnect.
TEST_F(DeviceListenerTest, AClientResumesItsTlsSessionOnReconnect) {
  bool reused = true;
  auto session = PingOver(nullptr, &reused);
  ASSERT_TRUE(session);
  EXPECT_FALSE(reused) << "the first connection is a full handshake";
  auto again = PingOver(session.get(), &reused);
  EXPECT_TRUE(reused) << "the second connection resumed";
  EXPECT_TRUE(again);
}

// Clients that send their ClientHello and go (some resetting the connection): the server's
// answer meets a closed socket, an EPIPE for that connection and never a SIGPIPE for the
// process (this test's process would end). Then a client is served as before.
TEST_F(DeviceListenerTest, ClientsGoneMidHandshakeCostOnlyTheirOwnConnection) {
  // The ClientHello bytes, from a client on memory BIOs.
  SslPtr hello_maker(SSL_new(client_ctx_.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(hello_maker.get(), in, out);
  SSL_set_tlsext_host_name(hello_maker.get(), "localhost");
  ASSERT_EQ(SSL_connect(hello_maker.get()), -1);  // wants the server's answer
  char* bytes = nullptr;
  long size = BIO_get_mem_data(out, &bytes);
  ASSERT_GT(size, 0);
  std::string hello(bytes, static_cast<size_t>(size));

  for (int i = 0; i < 60; ++i) {
    int fd = ConnectTcp(listener_->port());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL), static_cast<ssize_t>(hello.size()));
    if (i % 2 == 1) {
      linger reset{1, 0};  // close with a reset, not a FIN
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    ::close(fd);
  }
  bool reused = true;
  EXPECT_TRUE(PingOver(nullptr, &reused));
}

}  // namespace
}  // namespace coffre::net
