#include "net/https_client.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "common/files.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "test_util.h"

namespace coffre::net {
namespace {

using coffre::testing::StatusIs;
using coffre::testing::TempDir;

// A real HTTPS server on one io thread whose handler can be frozen, like a process stopped with
// SIGSTOP: it neither answers nor completes new handshakes until released.
class FreezableServer {
 public:
  FreezableServer() {
    StackCertificates certs = EnsureStackCertificates(dir_.path() / "tls", ServerIdentity{}).value();
    ca_pem_ = ReadTextFile(certs.ca_file).value();
    HttpsServerOptions options;
    options.cert_file = certs.cert_file;
    options.key_file = certs.key_file;
    options.threads = 1;
    server_ = std::move(HttpsServer::Start(options, [this](const HttpRequest&) {
                          std::unique_lock<std::mutex> lock(mu_);
                          thawed_.wait(lock, [this] { return !frozen_; });
                          HttpResponse r;
                          r.body = "ok";
                          return r;
                        }).value());
  }
  ~FreezableServer() {
    Thaw();
    server_->Stop();
  }
  void Freeze() {
    std::lock_guard<std::mutex> guard(mu_);
    frozen_ = true;
  }
  void Thaw() {
    {
      std::lock_guard<std::mutex> guard(mu_);
      frozen_ = false;
    }
    thawed_.notify_all();
  }
  uint16_t port() const { return server_->port(); }
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  TempDir dir_;
  std::string ca_pem_;
  std::mutex mu_;
  std::condition_variable thawed_;
  bool frozen_ = false;
  std::unique_ptr<HttpsServer> server_;
};

std::unique_ptr<HttpsClient> ClientFor(const FreezableServer& server, std::chrono::milliseconds timeout) {
  HttpsClientOptions options;
  options.origin = ParseOrigin("https://localhost:" + std::to_string(server.port())).value();
  options.ca_pem = server.ca_pem();
  options.timeout = timeout;
  return HttpsClient::Create(options).value();
}

TEST(ParseOriginTest, ReadsHostAndPortWithTheCheckedParser) {
  Origin plain = ParseOrigin("https://vault.example/keys/k").value();
  EXPECT_EQ(plain.host, "vault.example");
  EXPECT_EQ(plain.port, 443);
  Origin v6 = ParseOrigin("https://[::1]:8443").value();
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8443);
  for (const char* bad : {"https://v:abc", "https://v:70000", "https://v:0", "https://v:",
                          "https://:8443", "https://[::1", "https://[::1]x", "http://v",
                          "https://v:-1", "https://v:+1"}) {
    auto origin = ParseOrigin(bad);
    ASSERT_FALSE(origin.has_value()) << bad;
    EXPECT_EQ(origin.error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(HttpsClientTest, KeepsItsConnectionAliveBetweenRequests) {
  FreezableServer server;
  auto client = ClientFor(server, std::chrono::seconds(5));
  for (int i = 0; i < 3; ++i) {
    Result<HttpResponse> r = client->Send("GET", "/", {}, "");
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(r->body, "ok");
  }
}

// A server that stops answering on a kept-alive connection used to cost a timeout for the read
// and another for the retry's handshake: the whole request now has one deadline, and a timeout
// is not retried.
TEST(HttpsClientTest, ARequestToAServerThatStopsAnsweringEndsAtItsDeadline) {
  FreezableServer server;
  const auto timeout = std::chrono::milliseconds(400);
  auto client = ClientFor(server, timeout);
  ASSERT_TRUE(client->Send("GET", "/", {}, "").has_value());  // the connection is now kept alive
  server.Freeze();
  auto started = std::chrono::steady_clock::now();
  Result<HttpResponse> r = client->Send("GET", "/", {}, "");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_THAT(r.status(), StatusIs(StatusCode::kDeadlineExceeded));
  std::cout << "# a frozen server's request ended after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms (timeout "
            << timeout.count() << " ms)" << std::endl;
  // Two timeouts (the old behaviour) take 800 ms or more; the margin absorbs a loaded machine.
  EXPECT_LT(took, 2 * timeout - std::chrono::milliseconds(50));
  server.Thaw();
  Result<HttpResponse> again = client->Send("GET", "/", {}, "");
  ASSERT_TRUE(again.has_value()) << again.status();
  EXPECT_EQ(again->body, "ok");
}

}  // namespace
}  // namespace coffre::net
