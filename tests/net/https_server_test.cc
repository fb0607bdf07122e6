// HttpsServer over real TLS on loopback, driven by raw clients: a handler that throws, answers
// that come later from other threads, and the deadlines and caps that bound what a client that
// never completes a request can hold.
#include "net/https_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "net/certificates.h"
#include "net/tls_test_client.h"
#include "test_util.h"

namespace coffre::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::ClosedWithin;
using testing::ConnectFrom;
using testing::SecondsSince;
using testing::TlsClient;
using testing::WaitFor;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

HttpResponse ApiError(unsigned status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"Message\":\"ErrorCode:E" + std::to_string(status) + ";" + std::string(message) + "\"}";
  return r;
}

HttpResponse Text(std::string body) {
  HttpResponse r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(EnsureStackCertificates(dir_.path() / "tls", {}).value());
    options_.cert_file = certs_.cert_file;
    options_.key_file = certs_.key_file;
    options_.threads = 1;  // one io thread: anything that blocks it shows at once
    options_.error_response = ApiError;
  }
  void Start(AsyncHttpHandler handler) {
    server_ = std::move(HttpsServer::Start(options_, std::move(handler)).value());
  }
  void Start(HttpHandler handler) {
    server_ = std::move(HttpsServer::Start(options_, std::move(handler)).value());
  }
  std::unique_ptr<TlsClient> Client(const std::string& source = "127.0.0.1") {
    return std::make_unique<TlsClient>(server_->port(), certs_.ca_file, source);
  }

  testing::TempDir dir_;
  StackCertificates certs_;
  HttpsServerOptions options_;
  std::unique_ptr<HttpsServer> server_;
};

TEST_F(HttpsServerTest, AHandlerThatThrowsGetsA500AndTheServerCarriesOn) {
  Start([](const HttpRequest& r) -> HttpResponse {
    if (r.target == "/throw") throw std::runtime_error("echo of " + r.body);
    if (r.target.starts_with("/throw-int")) throw 42;
    return Text("ok");
  });
  ::testing::internal::CaptureStderr();
  auto c = Client();
  auto res = c->Call("POST", "/throw", "{\"status\":\"BODY-SECRET\"}",
                     "Authorization: SharedAccessSignature sig=TOKEN-SECRET\r\n");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_THAT(res.body(), HasSubstr("ErrorCode:E500;")) << "the API's error shape";
  EXPECT_EQ(c->Call("GET", "/fine").body(), "ok") << "the same connection goes on";
  EXPECT_EQ(Client()->Call("GET", "/throw-int?sig=QUERY-SECRET").result_int(), 500u);
  EXPECT_EQ(Client()->Call("GET", "/fine").body(), "ok") << "and so do new ones";
  std::string log = ::testing::internal::GetCapturedStderr();
  std::fprintf(stderr, "%s", log.c_str());
  // Each line names the request by the id its answer carried (x-ms-request-id).
  std::string id(res["x-ms-request-id"]);
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(log, HasSubstr("https: 127.0.0.1: request " + id +
                             " POST /throw failed: the handler threw std::runtime_error"));
  EXPECT_THAT(log, HasSubstr("https: 127.0.0.1: request " + id + " POST /throw answered 500"));
  EXPECT_THAT(log, HasSubstr("GET /throw-int failed: the handler threw an exception of unknown type"));
  for (const char* secret : {"BODY-SECRET", "TOKEN-SECRET", "QUERY-SECRET", "echo of"}) {
    EXPECT_THAT(log, Not(HasSubstr(secret)));
  }
}

TEST_F(HttpsServerTest, EveryAnswerCarriesTheRequestIdItsHandlerSaw) {
  Start([](const HttpRequest& r) -> HttpResponse { return Text(r.request_id); });
  auto c = Client();
  auto first = c->Call("GET", "/a");
  auto second = c->Call("GET", "/b");
  auto other = Client()->Call("GET", "/c");
  std::set<std::string> ids;
  for (auto* res : {&first, &second, &other}) {
    std::string id((*res)["x-ms-request-id"]);
    EXPECT_THAT(id, ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]+"));
    EXPECT_EQ(res->body(), id) << "the handler saw the id the client gets";
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 3u) << "one per request";
}

TEST_F(HttpsServerTest, AnAsynchronousAnswerComesLaterWithoutHoldingTheIoThread) {
  std::mutex mu;
  std::vector<HttpResponder> waiting;
  Start([&](HttpRequest r, HttpResponder respond) {
    if (r.target == "/wait") {
      std::lock_guard<std::mutex> guard(mu);
      waiting.push_back(std::move(respond));
      return;
    }
    respond.Send(Text("fast"));
  });
  std::vector<std::unique_ptr<TlsClient>> pollers;
  for (int i = 0; i < 8; ++i) {
    pollers.push_back(Client());
    ASSERT_FALSE(pollers.back()->Write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> guard(mu);
    return waiting.size() == 8;
  }));
  // One io thread, eight requests waiting: another request is still answered at once.
  auto start = Clock::now();
  EXPECT_EQ(Client()->Call("GET", "/other").body(), "fast");
  double latency = SecondsSince(start);
  std::printf("with 8 requests waiting on 1 io thread, another request took %.1f ms\n",
              latency * 1000);
  EXPECT_LT(latency, 1.5);
  // The answers come from other threads, once each.
  std::thread answerer([&] {
    std::lock_guard<std::mutex> guard(mu);
    for (size_t i = 0; i < waiting.size(); ++i) {
      if (i % 2 == 0) {
        waiting[i].Send(Text("late " + std::to_string(i)));
      } else {
        waiting[i].SendLater([i] { return Text("built " + std::to_string(i)); });
      }
      waiting[i].Send(Text("twice"));
      EXPECT_TRUE(waiting[i].answered());
    }
  });
  answerer.join();
  for (size_t i = 0; i < pollers.size(); ++i) {
    auto res = pollers[i]->Read();
    EXPECT_EQ(res.body(), (i % 2 == 0 ? "late " : "built ") + std::to_string(i));
    EXPECT_EQ(pollers[i]->Call("GET", "/again").body(), "fast") << "keep-alive goes on";
  }
}

TEST_F(HttpsServerTest, ATappedResponderShowsTheAnswerBeforeItIsSent) {
  std::mutex mu;
  std::vector<unsigned> seen;
  std::thread later;
  Start([&](HttpRequest r, HttpResponder respond) {
    HttpResponder tapped = respond.Tapped([&](const HttpResponse& out) {
      std::lock_guard<std::mutex> guard(mu);
      seen.push_back(out.status);
    });
    if (r.target == "/later") {
      later = std::thread([tapped] { tapped.SendLater([] { return Text("built"); }); });
      return;
    }
    HttpResponse refused = Text("no");
    refused.status = 401;
    tapped.Send(refused);
    EXPECT_TRUE(respond.answered()) << "one answer for both";
  });
  EXPECT_EQ(Client()->Call("GET", "/now").result_int(), 401u);
  EXPECT_EQ(Client()->Call("GET", "/later").body(), "built");
  later.join();
  std::lock_guard<std::mutex> guard(mu);
  EXPECT_EQ(seen, (std::vector<unsigned>{401, 200}));
}

TEST_F(HttpsServerTest, UnansweredRequestsGetAnErrorInsteadOfWaitingForever) {
  options_.response_timeout = std::chrono::milliseconds(300);
  std::mutex mu;
  std::vector<HttpResponder> kept;
  Start([&](HttpRequest r, HttpResponder respond) {
    if (r.target == "/keep") {
      std::lock_guard<std::mutex> guard(mu);
      kept.push_back(respond);  // and never answered
    }
    if (r.target == "/build-throws") {
      respond.SendLater([]() -> HttpResponse { throw std::logic_error("no"); });
    }
    // "/drop": every copy of the responder dropped unanswered
  });
  auto start = Clock::now();
  EXPECT_EQ(Client()->Call("GET", "/keep").result_int(), 503u);
  EXPECT_LT(SecondsSince(start), 5.0);
  auto dropped = Client()->Call("GET", "/drop");
  EXPECT_EQ(dropped.result_int(), 500u);
  EXPECT_THAT(dropped.body(), HasSubstr("ErrorCode:E500;")) << "the API's error shape";
  EXPECT_EQ(Client()->Call("GET", "/build-throws").result_int(), 500u);
  std::lock_guard<std::mutex> guard(mu);
  kept.front().Send(Text("too late"));  // does nothing, harmlessly
}

// Sends `start`, then one byte every 100 ms (an idle timer would never fire; a deadline for the
// whole phase does) until the server cuts the connection: how long that took, or -1 if never.
double TrickleUntilCut(TlsClient& c, const std::string& start_bytes, const char* what) {
  auto start = Clock::now();
  EXPECT_FALSE(c.Write(start_bytes));
  boost::system::error_code ec;
  while (!ec && SecondsSince(start) < 8) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ec = c.Write("a");
  }
  double cut = SecondsSince(start);
  std::printf("a %s trickled at 10 bytes/s was cut after %.2f s (deadline 1 s)\n", what, cut);
  return ec ? cut : -1;
}

TEST_F(HttpsServerTest, AHeaderSentOneByteAtATimeIsCutAtTheHeaderDeadline) {
  options_.header_timeout = std::chrono::seconds(1);
  Start([](const HttpRequest&) { return Text("ok"); });
  double cut = TrickleUntilCut(*Client(), "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", "header");
  EXPECT_GT(cut, 0) << "the connection was never cut";
  EXPECT_LT(cut, 5.0);
}

TEST_F(HttpsServerTest, ABodySentOneByteAtATimeIsCutAtTheBodyDeadline) {
  options_.body_timeout = std::chrono::seconds(1);
  Start([](const HttpRequest&) { return Text("ok"); });
  double cut = TrickleUntilCut(
      *Client(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "body");
  EXPECT_GT(cut, 0) << "the connection was never cut";
  EXPECT_LT(cut, 5.0);
}

TEST_F(HttpsServerTest, AnOversizeHeaderIsAnswered431) {
  options_.max_header_bytes = 4096;
  std::vector<unsigned> refused;
  options_.on_refused = [&](const HttpRequest&, const HttpResponse& r) { refused.push_back(r.status); };
  bool called = false;
  Start([&](const HttpRequest&) {
    called = true;
    return Text("ok");
  });
  auto c = Client();
  auto res = c->Call("GET", "/", "", "X-Pad: " + std::string(20000, 'p') + "\r\n");
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_THAT(res.body(), HasSubstr("ErrorCode:E431;"));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c->ClosedByServer());
  EXPECT_FALSE(called);
  EXPECT_EQ(refused, std::vector<unsigned>{431});
  // Just under the limit is fine.
  EXPECT_EQ(Client()->Call("GET", "/", "", "X-Pad: " + std::string(3000, 'p') + "\r\n").body(), "ok");
}

TEST_F(HttpsServerTest, AnIdleKeepAliveConnectionIsClosed) {
  options_.idle_timeout = std::chrono::milliseconds(500);
  Start([](const HttpRequest&) { return Text("ok"); });
  auto c = Client();
  EXPECT_EQ(c->Call("GET", "/").body(), "ok");
  auto start = Clock::now();
  EXPECT_TRUE(c->ClosedByServer());
  double closed = SecondsSince(start);
  std::printf("an idle keep-alive connection was closed after %.2f s (limit 0.5 s)\n", closed);
  EXPECT_LT(closed, 5.0);
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpsServerTest, AConnectionThatNeverStartsTlsIsCutAtTheHandshakeDeadline) {
  options_.handshake_timeout = std::chrono::milliseconds(500);
  Start([](const HttpRequest&) { return Text("ok"); });
  asio::io_context ioc;
  tcp::socket raw(ioc);
  ConnectFrom(raw, server_->port(), "127.0.0.1");
  auto start = Clock::now();
  EXPECT_TRUE(ClosedWithin(raw, std::chrono::seconds(5)));
  std::printf("a silent connection was closed after %.2f s (handshake deadline 0.5 s)\n",
              SecondsSince(start));
  EXPECT_TRUE(WaitFor([&] { return server_->unproven_connections() == 0; }));
}

TEST_F(HttpsServerTest, UnprovenConnectionsAreCappedPerSourceAndInAll) {
  options_.max_unproven_per_source = 3;
  options_.max_unproven_connections = 5;
  Start([](const HttpRequest&) { return Text("ok"); });
  asio::io_context ioc;
  std::vector<std::unique_ptr<tcp::socket>> held;
  auto hold = [&](const std::string& source) {
    held.push_back(std::make_unique<tcp::socket>(ioc));
    ConnectFrom(*held.back(), server_->port(), source);
    return held.back().get();
  };
  for (int i = 0; i < 3; ++i) hold("127.0.0.1");
  ASSERT_TRUE(WaitFor([&] { return server_->unproven_connections() == 3; }));
  // The fourth from the same source is closed at once (the handshake deadline is 10 s).
  tcp::socket* fourth = hold("127.0.0.1");
  auto start = Clock::now();
  EXPECT_TRUE(ClosedWithin(*fourth, std::chrono::seconds(5)));
  std::printf("the 4th unproven connection from one source was refused after %.3f s\n",
              SecondsSince(start));
  // Another source still gets in, and a completed request leaves the count.
  auto other = Client("127.0.0.2");
  EXPECT_EQ(other->Call("GET", "/").body(), "ok");
  EXPECT_EQ(server_->unproven_connections(), 3u);
  // The total cap: two more unproven from elsewhere fill it; the next is refused.
  hold("127.0.0.3");
  hold("127.0.0.3");
  ASSERT_TRUE(WaitFor([&] { return server_->unproven_connections() == 5; }));
  EXPECT_TRUE(ClosedWithin(*hold("127.0.0.4"), std::chrono::seconds(5)));
  // Once one of them goes, a new client from the first source gets in again.
  held.front()->close();
  held.erase(held.begin());
  ASSERT_TRUE(WaitFor([&] { return server_->unproven_connections() == 4; }));
  EXPECT_EQ(Client("127.0.0.1")->Call("GET", "/").body(), "ok");
}

TEST_F(HttpsServerTest, ADeclaredOversizeBodyIsStillAnswered413) {
  options_.max_body_bytes = 1000;
  Start([](const HttpRequest&) { return Text("ok"); });
  auto c = Client();
  auto res = c->Call("POST", "/", std::string(5000, 'x'));
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_THAT(res.body(), HasSubstr("ErrorCode:E413;"));
}

}  // namespace
}  // namespace coffre::net
