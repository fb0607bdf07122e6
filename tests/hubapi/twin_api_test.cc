// The twin, method and query routes called as the HTTPS server calls them (no sockets): a real
// registry, sealed twin store and access policies behind them; a sessions double stands for the
// MQTT front end that delivers methods.
#include "hubapi/twin_api.h"

#include <gtest/gtest.h>

#include <future>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "hubapi/query_api.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;

class OnlineDevices : public hub::MethodSink {
 public:
  explicit OnlineDevices(hub::MethodCalls& calls) : calls_(calls) {}
  // Answers every method at once with its payload, as an echo handler would.
  bool DeliverMethod(const hub::TwinId& target, std::string_view name, std::string_view rid,
                     std::string_view payload) override {
    if (target.device_id != "online") return false;
    calls_.Respond(target, std::string(rid),
                   {200, json{{"method", name}, {"echo", json::parse(payload)}}.dump()});
    return true;
  }

 private:
  hub::MethodCalls& calls_;
};

class TwinApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    policies_ = std::move(hub::AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    registry_ = std::make_unique<hub::Registry>(*kv_, *keys_, clock_);
    rows_ = std::make_unique<hub::SealedRows>(*kv_, *keys_);
    store_ = std::make_unique<hub::TwinStore>(*rows_, clock_);
    twins_ = std::make_unique<hub::Twins>(*registry_, *store_, clock_);
    calls_.SetSink(online_);
    api_ = std::make_unique<TwinApi>(*twins_, calls_, *policies_);
    query_ = std::make_unique<QueryApi>(*registry_, *twins_, *policies_);
    for (const char* id : {"online", "offline"}) {
      hub::DeviceIdentity d;
      d.device_id = id;
      ASSERT_TRUE(registry_->Create(d).has_value());
    }
  }
  net::HttpRequest Request(const std::string& method, const std::string& target,
                           const std::string& body = "", const std::string& policy = "service") {
    auto p = policies_->Get(policy).value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(p.primary_key)).value();
    net::HttpRequest r;
    r.method = method;
    r.target = target + "?api-version=2021-04-12";
    r.body = body;
    r.headers.emplace_back("Authorization",
                           *hub::MakeSasToken("localhost", key, clock_.NowSeconds() + 3600, policy));
    return r;
  }
  net::HttpResponse Call(const net::HttpRequest& r) {
    auto answer = std::make_shared<std::promise<net::HttpResponse>>();
    auto future = answer->get_future();
    net::HttpResponder respond([answer](net::HttpResponse out) { answer->set_value(std::move(out)); });
    EXPECT_TRUE(api_->Handle(r, respond));
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  }
  static json Body(const net::HttpResponse& r) { return json::parse(r.body, nullptr, false); }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::Registry> registry_;
  std::unique_ptr<hub::SealedRows> rows_;
  std::unique_ptr<hub::TwinStore> store_;
  std::unique_ptr<hub::Twins> twins_;
  hub::MethodCalls calls_;
  OnlineDevices online_{calls_};
  std::unique_ptr<TwinApi> api_;
  std::unique_ptr<QueryApi> query_;
};

TEST_F(TwinApiTest, GetPatchAndIfMatchOnADeviceTwin) {
  net::HttpResponse got = Call(Request("GET", "/twins/online"));
  ASSERT_EQ(got.status, 200u) << got.body;
  std::string etag = Body(got)["etag"];
  net::HttpRequest patch = Request("PATCH", "/twins/online",
                                   R"({"tags":{"site":"paris"},"properties":{"desired":{"interval":5}}})");
  patch.headers.emplace_back("If-Match", "\"" + etag + "\"");
  EXPECT_TRUE(TwinApi::Writes(patch));
  net::HttpResponse patched = Call(patch);
  ASSERT_EQ(patched.status, 200u) << patched.body;
  EXPECT_EQ(Body(patched)["properties"]["desired"]["interval"], 5);
  net::HttpResponse stale = Call(patch);  // the same etag again
  EXPECT_EQ(stale.status, 412u);
  EXPECT_NE(stale.body.find("PreconditionFailed"), std::string::npos);
}

TEST_F(TwinApiTest, BadRequestsGetAzuresStatusCodes) {
  EXPECT_EQ(Call(Request("GET", "/twins/nobody")).status, 404u);
  EXPECT_EQ(Call(Request("GET", "/twins/online/modules/nomodule")).status, 404u);
  EXPECT_EQ(Call(Request("PATCH", "/twins/online", "{not json")).status, 400u);
  EXPECT_EQ(Call(Request("PATCH", "/twins/online", R"({"tags":{"a.b":1}})")).status, 400u);
  EXPECT_EQ(Call(Request("PATCH", "/twins/online", R"({"properties":{"reported":{"x":1}}})")).status, 400u);
  EXPECT_EQ(Call(Request("PATCH", "/twins/online",
                         R"({"tags":{"big":")" + std::string(9000, 'x') + R"("}})")).status,
            400u);
  EXPECT_EQ(Call(Request("DELETE", "/twins/online")).status, 405u);
  // A registry-only policy may not touch twins (ServiceConnect is needed).
  EXPECT_EQ(Call(Request("GET", "/twins/online", "", "registryRead")).status, 401u);
  net::HttpRequest anonymous = Request("GET", "/twins/online");
  anonymous.headers.clear();
  EXPECT_EQ(Call(anonymous).status, 401u);
}

TEST_F(TwinApiTest, AMethodRoundTripAndAnOfflineDevice) {
  net::HttpResponse ok = Call(Request("POST", "/twins/online/methods",
                                      R"({"methodName":"echo","payload":{"n":42},"responseTimeoutInSeconds":15})"));
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(Body(ok), json::parse(R"({"status":200,"payload":{"method":"echo","echo":{"n":42}}})"));
  net::HttpResponse offline = Call(Request("POST", "/twins/offline/methods", R"({"methodName":"echo"})"));
  EXPECT_EQ(offline.status, 404u);
  EXPECT_NE(offline.body.find("DeviceNotOnline"), std::string::npos);
  EXPECT_EQ(Call(Request("POST", "/twins/nobody/methods", R"({"methodName":"echo"})")).status, 404u);
  for (const char* bad : {R"({})", R"({"methodName":null})", R"({"methodName":"a/b"})",
                          R"({"methodName":"m","responseTimeoutInSeconds":4})",
                          R"({"methodName":"m","responseTimeoutInSeconds":301})",
                          R"({"methodName":"m","responseTimeoutInSeconds":"4"})",
                          R"({"methodName":"m","responseTimeoutInSeconds":"thirty"})",
                          R"({"methodName":"m","responseTimeoutInSeconds":"30.5"})",
                          R"({"methodName":"m","responseTimeoutInSeconds":30.5})",
                          R"({"methodName":"m","responseTimeoutInSeconds":true})",
                          R"({"methodName":"m","responseTimeoutInSeconds":1e300})",
                          R"({"methodName":"m","connectTimeoutInSeconds":"301"})",
                          R"({"methodName":"m","connectTimeoutInSeconds":-1})", R"([1])"}) {
    EXPECT_EQ(Call(Request("POST", "/twins/online/methods", bad)).status, 400u) << bad;
  }
  // Azure's message for a timeout out of its bounds.
  net::HttpResponse short_timeout =
      Call(Request("POST", "/twins/online/methods", R"({"methodName":"m","responseTimeoutInSeconds":0})"));
  EXPECT_EQ(short_timeout.status, 400u);
  EXPECT_NE(short_timeout.body.find("ErrorCode:ArgumentInvalid;responseTimeoutInSeconds must be within [5; 300]."),
            std::string::npos) << short_timeout.body;
  // Azure reads its int32 fields leniently: a string of digits, or a number with no fraction.
  for (const char* lenient : {R"({"methodName":"echo","responseTimeoutInSeconds":"10","connectTimeoutInSeconds":"0"})",
                              R"({"methodName":"echo","responseTimeoutInSeconds":10.0})"}) {
    EXPECT_EQ(Call(Request("POST", "/twins/online/methods", lenient)).status, 200u) << lenient;
  }
  // 128 KiB of payload (as JSON text) is the limit: one byte over is 400 ArgumentInvalid.
  std::string at_limit(hub::kMaxMethodPayloadBytes - 2, 'p');  // with its quotes: the limit
  EXPECT_EQ(Call(Request("POST", "/twins/online/methods",
                         R"({"methodName":"echo","payload":")" + at_limit + R"("})")).status, 200u);
  net::HttpResponse over = Call(Request("POST", "/twins/online/methods",
                                        R"({"methodName":"m","payload":")" + at_limit + R"(p"})"));
  EXPECT_EQ(over.status, 400u);
  EXPECT_NE(over.body.find("ErrorCode:ArgumentInvalid"), std::string::npos) << over.body;
}

TEST_F(TwinApiTest, QueriesPageWithAContinuationUntilTheLastPage) {
  for (int i = 0; i < 23; ++i) {
    hub::DeviceIdentity d;
    d.device_id = "fleet-" + std::to_string(i);
    ASSERT_TRUE(registry_->Create(d).has_value());
    std::string site = i % 2 == 0 ? "paris" : "lyon";
    ASSERT_TRUE(twins_->Patch({d.device_id, std::nullopt}, json{{"tags", {{"site", site}}}}, "*").has_value());
  }
  std::set<std::string> seen;
  std::string continuation;
  int pages = 0;
  do {
    net::HttpRequest r = Request("POST", "/devices/query",
                                 R"({"query":"SELECT * FROM devices WHERE tags.site = 'paris'"})");
    r.headers.emplace_back("x-ms-max-item-count", "5");
    if (!continuation.empty()) r.headers.emplace_back("x-ms-continuation", continuation);
    auto answer = query_->Handle(r);
    ASSERT_TRUE(answer.has_value());
    ASSERT_EQ(answer->status, 200u) << answer->body;
    json page = Body(*answer);
    EXPECT_LE(page.size(), 5u);
    for (const auto& twin : page) {
      EXPECT_EQ(twin["tags"]["site"], "paris");
      EXPECT_TRUE(seen.insert(twin["deviceId"]).second) << "seen twice: " << twin["deviceId"];
    }
    continuation = std::string(answer->Header("x-ms-continuation"));
    ASSERT_LT(++pages, 20);
  } while (!continuation.empty());
  EXPECT_EQ(seen.size(), 12u);
}

TEST_F(TwinApiTest, CountsAndMalformedQueries) {
  auto run = [&](const std::string& body, const char* max = nullptr) {
    net::HttpRequest r = Request("POST", "/devices/query", body);
    if (max) r.headers.emplace_back("x-ms-max-item-count", max);
    return *query_->Handle(r);
  };
  net::HttpResponse count = run(R"({"query":"SELECT COUNT() AS n FROM devices"})");
  ASSERT_EQ(count.status, 200u) << count.body;
  EXPECT_EQ(Body(count), json::parse(R"([{"n":2}])"));
  EXPECT_TRUE(count.Header("x-ms-continuation").empty());
  net::HttpResponse bad = run(R"({"query":"SELECT * FROM devices WHERE"})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("expected a condition"), std::string::npos);
  EXPECT_EQ(run(R"({"query":null})").status, 400u);
  EXPECT_EQ(run(R"({"query":5})").status, 400u);
  EXPECT_EQ(run("not json").status, 400u);
  EXPECT_EQ(run(R"({"query":"SELECT * FROM devices"})", "0").status, 400u);
  EXPECT_EQ(run(R"({"query":"SELECT * FROM devices"})", "99999999999999999999").status, 400u);
  net::HttpRequest forged = Request("POST", "/devices/query", R"({"query":"SELECT * FROM devices"})");
  forged.headers.emplace_back("x-ms-continuation", "not-a-token");
  EXPECT_EQ(query_->Handle(forged)->status, 400u);
}

}  // namespace
}  // namespace coffre::hubapi
