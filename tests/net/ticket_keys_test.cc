// Session tickets under rotating keys, through real TLS 1.3 handshakes in memory (a BIO pair
// between an OpenSSL client and server): resumed with the current keys, still resumed (and the
// ticket renewed) one period later, refused (a full handshake, not an error) two periods later
// or under another server's keys.
#include "net/ticket_keys.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "net/certificates.h"
#include "net/ssl_ptrs.h"
#include "test_util.h"

namespace coffre::net {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

using Ctx = testing::SslCtxPtr;
using Session = testing::SslSessionPtr;

class TicketKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = EnsureStackCertificates(dir_.path(), ServerIdentity{});
    ASSERT_TRUE(certs.has_value()) << certs.error();
    certs_ = *certs;
    client_ = testing::ClientTrusting(certs_.ca_file);
    ASSERT_TRUE(client_);
  }

  Ctx Server() {
    Ctx ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), certs_.cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), certs_.key_file.c_str(), SSL_FILETYPE_PEM), 1);
    Status s = InstallTicketKeys(ctx.get(), clock_, hours(1));
    EXPECT_TRUE(s.ok()) << s;
    return ctx;
  }

  // One TLS 1.3 connection in memory, offering `offer` if given; the client reads once after
  // the handshake so that it takes the server's tickets. Returns the session to offer next.
  Session Connect(SSL_CTX* server, SSL_SESSION* offer, bool* resumed) {
    testing::SslPtr c(SSL_new(client_.get()));
    testing::SslPtr s(SSL_new(server));
    BIO *client_bio = nullptr, *server_bio = nullptr;
    EXPECT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
    SSL_set_bio(c.get(), client_bio, client_bio);
    SSL_set_bio(s.get(), server_bio, server_bio);
    SSL_set_connect_state(c.get());
    SSL_set_accept_state(s.get());
    SSL_set_tlsext_host_name(c.get(), "localhost");
    if (offer != nullptr) SSL_set_session(c.get(), offer);
    bool client_done = false, server_done = false;
    for (int i = 0; i < 20 && !(client_done && server_done); ++i) {
      if (!client_done) client_done = SSL_do_handshake(c.get()) == 1;
      if (!server_done) server_done = SSL_do_handshake(s.get()) == 1;
    }
    EXPECT_TRUE(client_done && server_done) << ERR_reason_error_string(ERR_get_error());
    char byte = 0;
    EXPECT_EQ(SSL_write(s.get(), "x", 1), 1);  // behind the tickets
    EXPECT_EQ(SSL_read(c.get(), &byte, 1), 1);
    *resumed = SSL_session_reused(c.get()) == 1;
    Session next(SSL_get1_session(c.get()));
    SSL_shutdown(c.get());  // freed without it, OpenSSL would mark the session not resumable
    return next;
  }

  testing::TempDir dir_;
  StackCertificates certs_;
  ManualClock clock_;
  Ctx client_;
};

TEST_F(TicketKeysTest, ATicketResumesWithinItsPeriodAndOneAfter) {
  Ctx server = Server();
  bool resumed = true;
  Session first = Connect(server.get(), nullptr, &resumed);
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(SSL_SESSION_has_ticket(first.get()));

  clock_.Advance(minutes(30));
  Connect(server.get(), first.get(), &resumed);
  EXPECT_TRUE(resumed) << "the current keys open it";

  clock_.Advance(minutes(40));  // new keys encrypt now; the first ticket's still open it
  Session renewed = Connect(server.get(), first.get(), &resumed);
  EXPECT_TRUE(resumed) << "the previous keys open it";
  ASSERT_TRUE(SSL_SESSION_has_ticket(renewed.get()));

  clock_.Advance(minutes(60));  // the first ticket's keys are wiped now
  Connect(server.get(), first.get(), &resumed);
  EXPECT_FALSE(resumed) << "two rotations later: a full handshake";
  Connect(server.get(), renewed.get(), &resumed);
  EXPECT_TRUE(resumed) << "the ticket renewed one rotation ago";
}

TEST_F(TicketKeysTest, AServerIdleForTwoPeriodsKeepsNoOldKeys) {
  Ctx server = Server();
  bool resumed = true;
  Session first = Connect(server.get(), nullptr, &resumed);
  clock_.Advance(hours(2));
  Connect(server.get(), first.get(), &resumed);
  EXPECT_FALSE(resumed);
}

TEST_F(TicketKeysTest, AnotherServersTicketMeansAFullHandshake) {
  Ctx a = Server();
  Ctx b = Server();
  bool resumed = true;
  Session from_a = Connect(a.get(), nullptr, &resumed);
  Connect(b.get(), from_a.get(), &resumed);
  EXPECT_FALSE(resumed);
}

TEST_F(TicketKeysTest, AContextTakesItsKeysOnceAndAPositivePeriod) {
  Ctx server = Server();
  EXPECT_EQ(InstallTicketKeys(server.get(), clock_).code(), StatusCode::kFailedPrecondition);
  Ctx other(SSL_CTX_new(TLS_server_method()));
  EXPECT_EQ(InstallTicketKeys(other.get(), clock_, std::chrono::seconds(0)).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace coffre::net
