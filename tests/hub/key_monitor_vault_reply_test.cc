// Issue 12, finding 1: a malformed vault reply must not end the key monitor (it read replies
// with nlohmann's throwing value(), and an exception out of its thread ends the hub). A fake
// vault on a loopback HTTPS port answers the hub's real vault client with bodies of the wrong
// shape and types; the monitor keeps checking, and reports the vault as unusable.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "fakes/fake_key_provider.h"
#include "hub/key_monitor.h"
#include "keys/vault_key_provider.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::StatusIs;

struct Canned {
  unsigned status;
  std::string body;
};

// Answers every request with the next canned reply (the last one repeats), counting them.
class FakeVault {
 public:
  FakeVault(const std::filesystem::path& dir, std::vector<Canned> replies) : replies_(std::move(replies)) {
    auto certs = net::EnsureStackCertificates(dir / "tls", {});
    EXPECT_TRUE(certs.has_value()) << certs.status();
    ca_file_ = certs->ca_file;
    net::HttpsServerOptions o;
    o.cert_file = certs->cert_file;
    o.key_file = certs->key_file;
    o.threads = 1;
    auto server = net::HttpsServer::Start(o, [this](const net::HttpRequest&) {
      std::lock_guard<std::mutex> guard(mu_);
      const Canned& c = replies_[std::min(served_, replies_.size() - 1)];
      ++served_;
      served_cv_.notify_all();
      net::HttpResponse r;
      r.status = c.status;
      r.body = c.body;
      return r;
    });
    EXPECT_TRUE(server.has_value()) << server.status();
    server_ = std::move(*server);
  }
  std::string url() const { return "https://localhost:" + std::to_string(server_->port()); }
  const std::filesystem::path& ca_file() const { return ca_file_; }
  // Waits (bounded) until `n` requests were answered.
  bool WaitServed(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return served_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return served_ >= n; });
  }

 private:
  std::vector<Canned> replies_;
  std::filesystem::path ca_file_;
  std::mutex mu_;
  std::condition_variable served_cv_;
  size_t served_ = 0;
  std::unique_ptr<net::HttpsServer> server_;
};

std::unique_ptr<keys::VaultKeyProvider> Provider(const FakeVault& vault) {
  keys::VaultKeyProviderOptions o;
  o.key_uri = vault.url() + "/keys/cmk";
  o.ca_file = vault.ca_file();
  o.token = "a token";
  return std::move(keys::VaultKeyProvider::Create(std::move(o)).value());
}

const char kKid[] = "https://localhost/keys/cmk/0123456789abcdef";

// Key replies (GET /keys/cmk/) of every wrong shape, then Azure error bodies of wrong shapes.
std::vector<Canned> MalformedKeyReplies() {
  std::string kid = std::string("\"") + kKid + "\"";
  return {
      {200, "[1,2]"},
      {200, "\"a string\""},
      {200, "null"},
      {200, "not json"},
      {200, R"({"key":"x","attributes":[]})"},
      {200, R"({"key":{"kid":5},"attributes":{}})"},
      {200, R"({"key":{"kid":)" + kid + R"(,"kty":7},"attributes":{"enabled":true}})"},
      {200, R"({"key":{"kid":)" + kid + R"(},"attributes":{"enabled":"yes"}})"},
      {200, R"({"key":{"kid":)" + kid + R"(},"attributes":{"enabled":true,"exp":1e300}})"},
      {200, R"({"key":{"kid":)" + kid + R"(},"attributes":{"enabled":true,"nbf":"soon"}})"},
      {200, R"({"key":{"kid":)" + kid + R"(},"attributes":{"enabled":true,"recoveryLevel":5}})"},
      {500, R"({"error":{"code":5,"message":["x"],"innererror":"y"}})"},
      {403, R"({"error":"denied"})"},
      {401, R"({"error":{"code":null,"innererror":{"code":7}}})"},
  };
}

TEST(KeyMonitorVaultReplyTest, MalformedVaultRepliesNeverEndTheMonitor) {
  testing::TempDir dir;
  std::vector<Canned> replies = MalformedKeyReplies();
  FakeVault vault(dir.path(), replies);
  auto provider = Provider(vault);
  testing::FakeKeyProvider opener;  // the hub's keys were opened earlier, by another provider
  auto kv = std::move(storage::RocksKvStore::Open(dir.path() / "meta").value());
  auto keys = std::move(HubKeys::Open(*kv, opener).value());
  KeyMonitorOptions o;
  o.key_uri = vault.url() + "/keys/cmk";
  o.interval = std::chrono::milliseconds(50);
  o.grace = std::chrono::milliseconds(0);
  KeyMonitor monitor(*keys, *provider, o, nullptr);
  monitor.Start();
  // Every canned reply served, and the monitor still checking afterwards.
  ASSERT_TRUE(vault.WaitServed(replies.size() + 3));
  uint64_t checks = monitor.checks();
  EXPECT_GE(checks, replies.size());
  ASSERT_TRUE(vault.WaitServed(replies.size() + 6)) << "the monitor stopped checking";
  monitor.Stop();
  EncryptionStatus s = monitor.status();
  EXPECT_FALSE(s.accessible);
  EXPECT_TRUE(keys->locked());
  std::cout << "after " << monitor.checks() << " checks: " << s.reason << " (" << s.detail << ")\n";
}

TEST(KeyMonitorVaultReplyTest, EachMalformedKeyReplyIsUnavailableNamingTheField) {
  testing::TempDir dir;
  std::vector<Canned> replies = MalformedKeyReplies();
  FakeVault vault(dir.path(), replies);
  auto provider = Provider(vault);
  for (const Canned& c : replies) {
    Result<crypto::KeyDescription> d = provider->Describe();
    EXPECT_FALSE(d.has_value()) << c.body;
    if (c.status == 200) {
      EXPECT_THAT(d.status(), StatusIs(StatusCode::kUnavailable,
                                       ::testing::HasSubstr("the vault's key reply is malformed")))
          << c.body;
    }
  }
}

TEST(KeyMonitorVaultReplyTest, MalformedWrapAndUnwrapRepliesAreUnavailable) {
  testing::TempDir dir;
  std::string key = std::string(R"({"key":{"kid":")") + kKid +
                    R"(","kty":"RSA"},"attributes":{"enabled":true}})";
  FakeVault vault(dir.path(), {{200, key},
                               {200, R"({"kid":5,"value":"AAAA"})"},
                               {200, R"({"kid":"x","value":["AAAA"]})"},
                               {200, R"({"value":7})"},
                               {200, "[]"}});
  auto provider = Provider(vault);
  auto secret = std::move(crypto::SecretBytes::Random(32).value());
  EXPECT_THAT(provider->Wrap(secret).status(), StatusIs(StatusCode::kUnavailable));  // GET + POST
  EXPECT_THAT(provider->Wrap(secret).status(), StatusIs(StatusCode::kUnavailable));
  crypto::WrappedKey wrapped{vault.url() + "/keys/cmk/0123456789abcdef", "RSA-OAEP-256", Bytes(256)};
  EXPECT_THAT(provider->Unwrap(wrapped).status(),
              StatusIs(StatusCode::kUnavailable, "the vault's unwrapKey reply is malformed: "
                                                 "field 'value' must be a string"));
  EXPECT_THAT(provider->Unwrap(wrapped).status(), StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace coffre::hub
