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

  Ctx Server(TicketKeyStore* store = nullptr) {
    Ctx ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), certs_.cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), certs_.key_file.c_str(), SSL_FILETYPE_PEM), 1);
    Status s = InstallTicketKeys(ctx.get(), clock_, hours(1), store);
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

// What a hub keeps sealed in its metadata store, kept here in memory.
class MemoryStore final : public TicketKeyStore {
 public:
  std::optional<crypto::SecretBytes> Load() override {
    ++loads;
    if (!saved) return std::nullopt;
    return std::move(crypto::SecretBytes::CopyOf(saved->Reveal()).value());
  }
  void Save(const crypto::SecretBytes& sets) override {
    ++saves;
    saved = std::move(crypto::SecretBytes::CopyOf(sets.Reveal()).value());
  }
  std::optional<crypto::SecretBytes> saved;
  int loads = 0, saves = 0;
};

TEST_F(TicketKeysTest, ARestartedServerWithTheStoreResumesTheTicketsOfTheOneBefore) {
  MemoryStore store;
  bool resumed = true;
  Session first;
  {
    Ctx before = Server(&store);
    EXPECT_EQ(store.saves, 1) << "new keys are saved at once";
    first = Connect(before.get(), nullptr, &resumed);
  }
  clock_.Advance(minutes(30));
  Ctx after = Server(&store);
  EXPECT_EQ(store.loads, 2);
  EXPECT_EQ(store.saves, 1) << "the stored keys were taken up, not replaced";
  Connect(after.get(), first.get(), &resumed);
  EXPECT_TRUE(resumed);

  Ctx without_store = Server();
  Connect(without_store.get(), first.get(), &resumed);
  EXPECT_FALSE(resumed) << "a server without the store has keys of its own";
}

TEST_F(TicketKeysTest, StoredKeysAPeriodOldOnlyOpenTicketsAndTwoPeriodsOldNothing) {
  MemoryStore store;
  bool resumed = true;
  Session first = Connect(Server(&store).get(), nullptr, &resumed);

  clock_.Advance(minutes(90));  // the stored set is the previous one now: new keys, saved
  Ctx later = Server(&store);
  EXPECT_EQ(store.saves, 2);
  Session renewed = Connect(later.get(), first.get(), &resumed);
  EXPECT_TRUE(resumed) << "the previous set opens it";
  ASSERT_TRUE(SSL_SESSION_has_ticket(renewed.get()));

  clock_.Advance(minutes(150));  // both stored sets are older than two periods
  Ctx much_later = Server(&store);
  Connect(much_later.get(), renewed.get(), &resumed);
  EXPECT_FALSE(resumed);
}

TEST_F(TicketKeysTest, EachRotationIsSavedAndDamagedOrFutureStoredKeysAreReplaced) {
  MemoryStore store;
  Ctx server = Server(&store);
  bool resumed = true;
  Connect(server.get(), nullptr, &resumed);
  clock_.Advance(minutes(61));
  Connect(server.get(), nullptr, &resumed);  // a handshake rotates
  EXPECT_EQ(store.saves, 2);
  ASSERT_TRUE(store.saved.has_value());
  EXPECT_EQ(store.saved->size(), 2u + 2 * 88) << "the current and the previous set";

  // A truncated blob, then sets made "in the future" (the wall clock stepped back since).
  store.saved = std::move(crypto::SecretBytes::CopyOf(store.saved->Reveal().first(100)).value());
  Ctx damaged = Server(&store);
  EXPECT_EQ(store.saves, 3) << "new keys replace what could not be read";
  Session from_damaged = Connect(damaged.get(), nullptr, &resumed);
  clock_.SetNow(clock_.Now() - hours(1));
  Ctx stepped_back = Server(&store);
  EXPECT_EQ(store.saves, 4);
  Connect(stepped_back.get(), from_damaged.get(), &resumed);
  EXPECT_FALSE(resumed) << "keys from the future are not trusted";
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
