#pragma once
// Blocking test clients for our HTTPS servers: a raw TCP connection from a chosen loopback
// address, and a TLS client that sends raw bytes and reads HTTP responses. Every read has a
// timeout, so a test can fail but never hang.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <array>
#include <thread>

namespace coffre::testing {

namespace test_asio = boost::asio;
namespace test_http = boost::beast::http;

using TestClock = std::chrono::steady_clock;

inline double SecondsSince(TestClock::time_point start) {
  return std::chrono::duration<double>(TestClock::now() - start).count();
}

// A plain TCP connection from `source` (another loopback address is another client).
inline void ConnectFrom(test_asio::ip::tcp::socket& s, uint16_t port, const std::string& source) {
  s.open(test_asio::ip::tcp::v4());
  s.bind({test_asio::ip::make_address(source), 0});
  s.connect({test_asio::ip::make_address("127.0.0.1"), port});
}

// True if `fd` has something to read (data, or the peer's close) within `within`. (Asio's
// blocking reads ignore SO_RCVTIMEO, so reads that could hang ask this first.)
inline bool Readable(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(within.count())) == 1;
}

// A blocking TLS client that sends raw bytes and reads HTTP responses.
class TlsClient {
 public:
  static constexpr std::chrono::seconds kWait{15};  // the longest a read waits

  TlsClient(uint16_t port, const std::filesystem::path& ca, const std::string& source = "127.0.0.1")
      : ctx_(test_asio::ssl::context::tls_client), stream_(ioc_, ctx_) {
    ctx_.load_verify_file(ca.string());
    stream_.set_verify_mode(test_asio::ssl::verify_peer);
    ConnectFrom(stream_.next_layer(), port, source);
    stream_.handshake(test_asio::ssl::stream_base::client);
  }
  boost::system::error_code Write(std::string_view bytes) {
    boost::system::error_code ec;
    test_asio::write(stream_, test_asio::buffer(bytes), ec);
    return ec;
  }
  test_http::response<test_http::string_body> Read(boost::system::error_code* error = nullptr) {
    test_http::response<test_http::string_body> res;
    boost::system::error_code ec;
    if (buffer_.size() == 0 && !Readable(stream_.next_layer().native_handle(), kWait)) {
      ec = test_asio::error::timed_out;
    } else {
      test_http::read(stream_, buffer_, res, ec);
    }
    if (error != nullptr) *error = ec;
    EXPECT_TRUE(error != nullptr || !ec) << ec.message();
    return res;
  }
  test_http::response<test_http::string_body> Call(const std::string& method,
                                                   const std::string& target,
                                                   const std::string& body = "",
                                                   const std::string& extra_headers = "") {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                          extra_headers + "Content-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
    EXPECT_FALSE(Write(request));
    return Read();
  }
  // True once the server has closed the connection (a read ends without a response).
  bool ClosedByServer() {
    if (!Readable(stream_.next_layer().native_handle(), kWait)) return false;
    std::array<char, 256> chunk;
    boost::system::error_code ec;
    size_t n = stream_.read_some(test_asio::buffer(chunk), ec);
    return ec && n == 0 && ec != test_asio::error::would_block && ec != test_asio::error::try_again;
  }

  // The subject of the certificate the server showed, e.g. "/CN=localhost".
  std::string PeerSubject() {
    X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
    if (cert == nullptr) return "";
    char name[256];
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
    X509_free(cert);
    return name;
  }

 private:
  test_asio::io_context ioc_;
  test_asio::ssl::context ctx_;
  test_asio::ssl::stream<test_asio::ip::tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
};

// True if the server closes `s` (a raw TCP connection) before `within`.
inline bool ClosedWithin(test_asio::ip::tcp::socket& s, std::chrono::seconds within) {
  if (!Readable(s.native_handle(), within)) return false;
  std::array<char, 256> chunk;
  boost::system::error_code ec;
  s.read_some(test_asio::buffer(chunk), ec);
  return ec == test_asio::error::eof || ec == test_asio::error::connection_reset;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
  auto deadline = TestClock::now() + limit;
  while (!pred()) {
    if (TestClock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace coffre::testing
