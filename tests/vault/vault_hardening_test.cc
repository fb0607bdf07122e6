// Issue 12 against a running coffre-vault (in process, HTTPS on a loopback port): an
// unauthenticated flood is throttled (429) and sampled, not one audit line each; a principal
// scoped to one key gets 403 on the others; key names are case-insensitive.
#include <gtest/gtest.h>

#include <chrono>

#include "common/encoding.h"
#include "common/files.h"
#include "net/certificates.h"
#include "net/https_client.h"
#include "test_util.h"
#include "vault/service/vault_service.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

class VaultHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = net::EnsureStackCertificates(dir_.path() / "tls", {});
    ASSERT_TRUE(certs.has_value()) << certs.status();
    ca_file_ = certs->ca_file;
    options_.dir = dir_.path() / "vault";
    options_.port = 0;
    options_.tls_cert = certs->cert_file;
    options_.tls_key = certs->key_file;
    options_.passphrase = "a passphrase for tests";
    options_.owner_token_file = dir_.path() / "owner-token";
    options_.threads = 2;
  }

  void Start() {
    auto service = VaultService::Start(options_);
    ASSERT_TRUE(service.has_value()) << service.status();
    service_ = std::move(*service);
    owner_ = *ReadTextFile(options_.owner_token_file);
    owner_.pop_back();
    client_ = Client();
  }

  std::unique_ptr<net::HttpsClient> Client() {
    net::HttpsClientOptions o;
    o.origin = net::ParseOrigin(service_->public_url()).value();
    o.ca_file = ca_file_;
    return std::move(net::HttpsClient::Create(o).value());
  }

  net::HttpResponse Send(const std::string& method, const std::string& path,
                         const std::string& token, const json& body = nullptr,
                         net::HttpsClient* client = nullptr) {
    net::HttpHeaders headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") +
                         "api-version=7.5";
    auto r = (client ? client : client_.get())->Send(method, target, headers, text);
    EXPECT_TRUE(r.has_value()) << r.status();
    return r.has_value() ? *r : net::HttpResponse{};
  }

  static json Body(const net::HttpResponse& r) { return json::parse(r.body, nullptr, false); }
  static std::string ErrorCode(const net::HttpResponse& r) {
    json b = Body(r);
    if (!b.is_object() || !b["error"].is_object()) return "";
    json& e = b["error"];
    if (e["innererror"].is_object() && e["innererror"]["code"].is_string()) {
      return e["innererror"]["code"].get<std::string>();
    }
    return e["code"].is_string() ? e["code"].get<std::string>() : "";
  }

  uint64_t AuditBytes() const {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(options_.dir)) {
      if (e.path().filename().string().rfind("audit.log", 0) == 0) total += e.file_size();
    }
    return total;
  }

  testing::TempDir dir_;
  std::filesystem::path ca_file_;
  VaultServiceOptions options_;
  std::unique_ptr<VaultService> service_;
  std::string owner_;
  std::unique_ptr<net::HttpsClient> client_;
};

// Issue 12, finding 5: one client without a valid token, hammering for a few seconds. Before,
// every refusal was an audit line (~355 B) and nothing slowed it.
TEST_F(VaultHardeningTest, AnUnauthenticatedFloodIsThrottledAndSampledNotLoggedLineByLine) {
  options_.auth_failure_limit = RateLimit{10, 50};
  Start();
  uint64_t before = AuditBytes();
  int unauthorized = 0, throttled = 0, requests = 0;
  std::string retry_after, throttle_code;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  // A few seconds, and on a slow machine until the limit is reached (bounded either way).
  while (requests < 3000 && (elapsed() < std::chrono::seconds(3) ||
                             (throttled == 0 && elapsed() < std::chrono::seconds(20)))) {
    net::HttpResponse r = Send("GET", "/keys", requests % 2 ? "cvt1.not-a-token" : "");
    ++requests;
    if (r.status == 401) ++unauthorized;
    if (r.status == 429) {
      ++throttled;
      retry_after = std::string(r.Header("Retry-After"));
      throttle_code = ErrorCode(r);
    }
  }
  // The owner, from the same address, is never throttled by others' failures.
  EXPECT_EQ(Send("GET", "/keys", owner_).status, 200u);
  service_->Stop();
  uint64_t grown = AuditBytes() - before;
  std::printf("%d unauthenticated requests: %d x 401, %d x 429; audit log grew %llu bytes "
              "(one line each would be ~%d)\n",
              requests, unauthorized, throttled, static_cast<unsigned long long>(grown),
              requests * 300);
  EXPECT_GT(requests, 60);
  EXPECT_GT(throttled, 0);
  double seconds = std::chrono::duration<double>(elapsed()).count();
  EXPECT_LE(unauthorized, 50 + 10 * (seconds + 2));  // the burst and the refill meanwhile
  EXPECT_EQ(throttle_code, "Throttled");
  EXPECT_FALSE(retry_after.empty());
  EXPECT_GE(std::atoi(retry_after.c_str()), 1);
  // Sampled: the first 10 from the address are written one by one, then one summary, plus
  // the owner's request; far from one line each.
  EXPECT_LT(grown, 16u * 1024) << "grew " << grown << " bytes for " << requests << " requests";
}

TEST_F(VaultHardeningTest, ThrottledBodyIsAzureShaped) {
  options_.auth_failure_limit = RateLimit{0.01, 2};
  Start();
  EXPECT_EQ(Send("GET", "/keys", "").status, 401u);
  EXPECT_EQ(Send("GET", "/keys", "cvt1.x").status, 401u);
  net::HttpResponse r = Send("GET", "/keys", "");
  EXPECT_EQ(r.status, 429u);
  json body = Body(r);
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body["error"]["code"], "Throttled");
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_GE(std::atoi(std::string(r.Header("Retry-After")).c_str()), 1);
}

// Issue 12, finding 7: the owner wraps under app-cmk; the hub principal's token, scoped to
// hub-cmk, cannot unwrap it (it could: 200, before).
TEST_F(VaultHardeningTest, APrincipalScopedToOneKeyIsRefusedTheOthers) {
  Start();
  ASSERT_EQ(Send("POST", "/keys/app-cmk/create", owner_, {{"kty", "RSA"}, {"key_size", 2048}}).status, 200u);
  ASSERT_EQ(Send("POST", "/keys/hub-cmk/create", owner_,
                 {{"kty", "RSA"}, {"key_size", 2048}, {"key_ops", {"wrapKey", "unwrapKey"}}})
                .status,
            200u);
  net::HttpResponse hub = Send("PUT", "/coffre/principals/hub", owner_,
                               {{"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}},
                                {"scope", {{"keys", {"hub-cmk"}}}}});
  ASSERT_EQ(hub.status, 200u) << hub.body;
  json principal = Body(hub);
  EXPECT_EQ(principal["scope"]["keys"], json({"hub-cmk"}));
  std::string token = principal["token"].get<std::string>();

  std::string secret = Base64UrlEncode(Bytes(32, std::byte{7}));
  net::HttpResponse wrapped =
      Send("POST", "/keys/app-cmk/wrapkey", owner_, {{"alg", "RSA-OAEP-256"}, {"value", secret}});
  ASSERT_EQ(wrapped.status, 200u);
  std::string kid = Body(wrapped)["kid"].get<std::string>();
  std::string version = kid.substr(kid.rfind('/') + 1);
  json unwrap = {{"alg", "RSA-OAEP-256"}, {"value", Body(wrapped)["value"]}};
  net::HttpResponse stolen = Send("POST", "/keys/app-cmk/" + version + "/unwrapkey", token, unwrap);
  EXPECT_EQ(stolen.status, 403u) << stolen.body;
  EXPECT_EQ(ErrorCode(stolen), "ForbiddenByRbac");
  EXPECT_EQ(stolen.body.find(secret), std::string::npos);
  // Nothing of other keys, not even whether they exist; no listing.
  EXPECT_EQ(Send("GET", "/keys/app-cmk", token).status, 403u);
  EXPECT_EQ(Send("GET", "/keys/no-such-key", token).status, 403u);
  EXPECT_EQ(Send("GET", "/keys", token).status, 403u);
  EXPECT_EQ(Send("GET", "/deletedkeys", token).status, 403u);
  EXPECT_EQ(Send("POST", "/keys/other/create", token, {{"kty", "oct"}}).status, 403u);
  // Its own key works, in any spelling.
  net::HttpResponse own = Send("POST", "/keys/HUB-CMK/wrapkey", token,
                               {{"alg", "RSA-OAEP-256"}, {"value", secret}});
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_NE(Body(own)["kid"].get<std::string>().find("/keys/hub-cmk/"), std::string::npos);
  EXPECT_EQ(Send("GET", "/keys/hub-cmk", token).status, 200u);
  // The key has only the operations the hub needs.
  net::HttpResponse encrypt = Send("POST", "/keys/hub-cmk/encrypt", owner_,
                                   {{"alg", "RSA-OAEP-256"}, {"value", secret}});
  EXPECT_EQ(encrypt.status, 403u);
  EXPECT_EQ(ErrorCode(encrypt), "KeyOperationForbidden");

  // The grant widened again: the old scope is gone.
  net::HttpResponse widened = Send("PUT", "/coffre/principals/hub", owner_,
                                   {{"permissions", {{"keys", {"get", "unwrapKey"}}}}});
  ASSERT_EQ(widened.status, 200u);
  EXPECT_TRUE(Body(widened)["scope"].is_null());
  EXPECT_EQ(Send("POST", "/keys/app-cmk/" + version + "/unwrapkey", token, unwrap).status, 200u);
}

// Issue 13: the route table (vault/api/routes.h) answers odd paths as the old if-chain did:
// name (400) and scope (403) before the method (405), the owner check before the method on the
// owner's routes (but not on seal-status), 404 for routes the vault has not configured.
TEST_F(VaultHardeningTest, TheRouteTableKeepsTheOrderOfChecks) {
  Start();
  ASSERT_EQ(Send("POST", "/keys/k/create", owner_, {{"kty", "oct"}}).status, 200u);
  net::HttpResponse p = Send("PUT", "/coffre/principals/scoped", owner_,
                             {{"permissions", {{"keys", {"get"}}}}, {"scope", {{"keys", {"k"}}}}});
  ASSERT_EQ(p.status, 200u) << p.body;
  std::string scoped = Body(p)["token"].get<std::string>();
  struct Case {
    const char* method;
    const char* path;
    bool owner;
    unsigned status;
    const char* code;
  };
  const Case cases[] = {
      {"DELETE", "/keys", true, 405, "MethodNotAllowed"},
      {"GET", "/keys/bad!name/a/b/c", true, 400, "BadParameter"},  // the name, before 404
      {"GET", "/keys/k/v/wrapkey/x", true, 404, "NotFound"},
      {"GET", "/keys/k/v/wrapkey", true, 404, "NotFound"},
      {"DELETE", "/keys/k/v", true, 405, "MethodNotAllowed"},
      {"PUT", "/keys/k/", true, 405, "MethodNotAllowed"},
      {"POST", "/keys/k/rotationpolicy", true, 405, "MethodNotAllowed"},
      {"POST", "/keys/k/versions", true, 400, "BadParameter"},  // an unknown key operation
      {"POST", "/keys/k/sign", true, 400, "BadParameter"},
      {"GET", "/keys/k/", true, 200, ""},  // the latest version
      {"DELETE", "/keys/other/v", false, 403, "ForbiddenByRbac"},  // scope before 405
      {"POST", "/keys/k/encrypt", false, 403, "AccessDenied"},
      {"GET", "/deletedkeys/k/x/y", true, 405, "MethodNotAllowed"},
      {"DELETE", "/coffre/principals", false, 403, "AccessDenied"},  // owner before 405
      {"DELETE", "/coffre/principals", true, 405, "MethodNotAllowed"},
      {"POST", "/coffre/seal-status", false, 405, "MethodNotAllowed"},  // 405 before owner
      {"GET", "/coffre/seal-status", false, 403, "AccessDenied"},
      {"GET", "/coffre/clock", false, 404, "NotFound"},  // no --test-clock: no route
      {"GET", "/coffre/audit/nothing", false, 403, "AccessDenied"},
      {"GET", "/coffre/audit/nothing", true, 404, "NotFound"},
      {"GET", "/coffre/audit/verify", true, 405, "MethodNotAllowed"},
      {"GET", "/nothing", true, 404, "NotFound"},
  };
  for (const Case& c : cases) {
    net::HttpResponse r = Send(c.method, c.path, c.owner ? owner_ : scoped);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " " << r.body;
    EXPECT_EQ(ErrorCode(r), c.code) << c.method << " " << c.path;
  }
}

TEST_F(VaultHardeningTest, ABadScopeIsRefused) {
  Start();
  for (json scope : {json{{"keys", "hub-cmk"}}, json{{"keys", {1}}}, json{{"keys", {"a/b"}}},
                     json("hub-cmk"), json::object()}) {
    net::HttpResponse r = Send("PUT", "/coffre/principals/p", owner_,
                               {{"permissions", {{"keys", {"get"}}}}, {"scope", scope}});
    EXPECT_EQ(r.status, 400u) << scope.dump() << " " << r.body;
  }
}

// Issue 12, finding 9: HUB-CMK and hub-cmk are one key; the kid keeps the name as created.
TEST_F(VaultHardeningTest, KeyNamesAreCaseInsensitive) {
  Start();
  net::HttpResponse created = Send("POST", "/keys/Mixed-Key/create", owner_, {{"kty", "oct"}});
  ASSERT_EQ(created.status, 200u) << created.body;
  net::HttpResponse got = Send("GET", "/keys/MIXED-KEY", owner_);
  ASSERT_EQ(got.status, 200u);
  EXPECT_NE(Body(got)["key"]["kid"].get<std::string>().find("/keys/Mixed-Key/"), std::string::npos);
  net::HttpResponse clash = Send("POST", "/keys/mixed-key/create", owner_, {{"kty", "oct"}});
  EXPECT_EQ(clash.status, 409u) << clash.body;
  // The same spelling adds a version, as before.
  EXPECT_EQ(Send("POST", "/keys/Mixed-Key/create", owner_, {{"kty", "oct"}}).status, 200u);
  json list = Body(Send("GET", "/keys", owner_));
  ASSERT_EQ(list["value"].size(), 1u) << list.dump();
  EXPECT_EQ(Body(Send("GET", "/keys/mixed-key/versions", owner_))["value"].size(), 2u);
  EXPECT_EQ(Send("DELETE", "/keys/MIXED-key", owner_).status, 200u);
  EXPECT_EQ(Send("GET", "/deletedkeys/mixed-KEY", owner_).status, 200u);
  EXPECT_EQ(Send("POST", "/keys/mixed-key/create", owner_, {{"kty", "oct"}}).status, 409u);
}

// Files the vault creates are private (coffre-vault also sets umask 077 at start).
TEST_F(VaultHardeningTest, AuditFilesArePrivate) {
  options_.audit.max_file_bytes = 4096;
  Start();
  for (int i = 0; i < 40; ++i) Send("GET", "/keys", owner_);
  service_->Stop();
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(options_.dir)) {
    if (e.path().filename().string().rfind("audit.log", 0) != 0) continue;
    ++files;
    auto perms = std::filesystem::status(e.path()).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << e.path();
  }
  EXPECT_GT(files, 1);
}

// Health probes need no token and are not audited: a load balancer asks every few seconds.
TEST_F(VaultHardeningTest, HealthProbesAnswerWithoutATokenAndAreNotAudited) {
  Start();
  uint64_t audit_before = AuditBytes();
  for (int i = 0; i < 50; ++i) {
    auto alive = client_->Send("GET", "/healthz", {}, "");
    ASSERT_TRUE(alive.has_value()) << alive.status();
    EXPECT_EQ(alive->status, 200u);
    EXPECT_EQ(Body(*alive)["status"], "alive");
    auto ready = client_->Send("GET", "/readyz?x=1", {}, "");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->status, 200u) << ready->body;
    EXPECT_EQ(Body(*ready)["status"], "ready");
  }
  auto posted = client_->Send("POST", "/healthz", {}, "");
  ASSERT_TRUE(posted.has_value());
  EXPECT_EQ(posted->status, 405u);
  EXPECT_EQ(AuditBytes(), audit_before);
  // Other paths still need a token.
  EXPECT_EQ(Send("GET", "/keys", "").status, 401u);
}

}  // namespace
}  // namespace coffre::vault
