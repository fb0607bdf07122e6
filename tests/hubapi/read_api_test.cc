// The read API called as the HTTPS server calls it (no sockets): a real sealed telemetry store,
// consumer groups and access policies behind it.
#include "hubapi/read_api.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/time_format.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1'800'000'000'000;

net::HttpResponse ServiceApiError() {
  net::HttpResponse r;
  r.status = 403;
  return r;
}

class ReadApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    api_.reset();
    groups_.reset();
    store_.reset();
    policies_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    policies_ = std::move(hub::AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    hub::TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.partitions = 2;
    options.log.segment_bytes = 64 * 1024;
    store_ = std::move(hub::TelemetryStore::Open(dir_.path() / "telemetry", *keys_, *kv_, options).value());
    groups_ = std::move(hub::ConsumerGroups::Open(*kv_, *keys_, 2, clock_).value());
    api_ = std::make_unique<ReadApi>(*store_, *groups_, *policies_);
  }
  // Messages n = from..to-1 of one device, enqueued at kT0 + n seconds.
  void Store(const std::string& device, int from, int to) {
    std::vector<hub::TelemetryMessage> batch;
    for (int n = from; n < to; ++n) {
      hub::TelemetryMessage m;
      m.device_id = device;
      m.enqueued_ms = kT0 + n * 1000;
      m.properties.system.message_id = "m" + std::to_string(n);
      m.body = ToBytes("{\"n\":" + std::to_string(n) + "}");
      batch.push_back(std::move(m));
    }
    int p = store_->PartitionOf(device);
    COFFRE_ASSERT_OK(store_->Append(p, batch).status());
    COFFRE_ASSERT_OK(store_->Commit(p));
  }
  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& policy = "service") {
    auto owner = policies_->Get(policy).value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(owner.primary_key)).value();
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.headers.emplace_back("Authorization",
                           *hub::MakeSasToken("localhost", key, kT0 / 1000 + 3600, policy));
    return Answer(r).get();
  }
  // The answer, as the HTTPS server would get it through the responder (later, for a long poll).
  std::future<net::HttpResponse> Answer(const net::HttpRequest& r) {
    auto answer = std::make_shared<std::promise<net::HttpResponse>>();
    auto future = answer->get_future();
    net::HttpResponder respond([answer](net::HttpResponse out) { answer->set_value(std::move(out)); });
    EXPECT_TRUE(api_->Handle(r, respond));
    return future;
  }
  net::HttpRequest Get(const std::string& target) {
    auto owner = policies_->Get("service").value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(owner.primary_key)).value();
    net::HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.headers.emplace_back("Authorization",
                           *hub::MakeSasToken("localhost", key, kT0 / 1000 + 3600, "service"));
    return r;
  }
  json CallJson(const std::string& method, const std::string& target, unsigned status = 200,
                const std::string& body = "") {
    net::HttpResponse r = Call(method, target, body);
    EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body;
    return r.body.empty() ? json() : json::parse(r.body, nullptr, false);
  }
  std::vector<std::string> Ids(const json& page) {
    std::vector<std::string> ids;
    for (const auto& m : page["messages"]) ids.push_back(m["systemProperties"]["messageId"]);
    return ids;
  }

  ManualClock clock_{ManualClock::WallTime(std::chrono::milliseconds(kT0))};
  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::TelemetryStore> store_;
  std::unique_ptr<hub::ConsumerGroups> groups_;
  std::unique_ptr<ReadApi> api_;
};

TEST_F(ReadApiTest, ReadsFromAnOffsetOrAnEnqueuedTime) {
  Store("dev-01", 0, 10);
  std::string base = "/telemetry/partitions/" + std::to_string(store_->PartitionOf("dev-01")) + "/messages";
  EXPECT_EQ(Ids(CallJson("GET", base + "?from=7")), (std::vector<std::string>{"m7", "m8", "m9"}));
  // The first message at or after the time, in any offset ISO 8601 allows.
  std::string t4 = PercentEncode(FormatIsoTime(kT0 + 4000));
  EXPECT_EQ(Ids(CallJson("GET", base + "?max=2&fromEnqueuedTime=" + t4)),
            (std::vector<std::string>{"m4", "m5"}));
  EXPECT_EQ(Ids(CallJson("GET", base + "?max=1&fromEnqueuedTime=2027-01-15T09:00:03.500%2B01:00")),
            (std::vector<std::string>{"m4"}));
  json after_all = CallJson("GET", base + "?fromEnqueuedTime=2030-01-01T00:00:00Z");
  EXPECT_TRUE(after_all["messages"].empty());
  EXPECT_EQ(after_all["nextOffset"], "10");
  CallJson("GET", base + "?fromEnqueuedTime=yesterday", 400);
  CallJson("GET", base + "?from=1&fromEnqueuedTime=2030-01-01T00:00:00Z", 400);
}

TEST_F(ReadApiTest, ALongPollIsAnsweredByTheCommitThatBringsItsMessage) {
  int p = store_->PartitionOf("dev-01");
  std::string base = "/telemetry/partitions/" + std::to_string(p) + "/messages";
  auto start = std::chrono::steady_clock::now();
  std::future<net::HttpResponse> poll = Answer(Get(base + "?from=0&waitMs=10000"));
  ASSERT_EQ(store_->awaiting(), 1u) << "waiting, with no thread held";
  EXPECT_EQ(poll.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  Store("dev-01", 0, 2);
  ASSERT_EQ(poll.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("a long poll was answered %.0f ms after it began (by the commit)\n", seconds * 1000);
  EXPECT_LT(seconds, 5.0);
  json page = json::parse(poll.get().body);
  EXPECT_EQ(Ids(page), (std::vector<std::string>{"m0", "m1"}));
  EXPECT_EQ(store_->awaiting(), 0u);
}

TEST_F(ReadApiTest, ALongPollEndsEmptyAtItsDeadlineOrWhenWoken) {
  std::string base = "/telemetry/partitions/0/messages";
  auto start = std::chrono::steady_clock::now();
  json page = json::parse(Answer(Get(base + "?from=0&waitMs=300")).get().body);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(page["messages"].empty());
  EXPECT_EQ(page["nextOffset"], "0");
  EXPECT_GE(seconds, 0.29);
  // WakeWaiters (the hub became Inaccessible) answers a waiting poll at once, with the refusal
  // when one applies.
  std::future<net::HttpResponse> poll = Answer(Get(base + "?from=0&waitMs=10000"));
  EXPECT_EQ(poll.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  store_->WakeWaiters();
  ASSERT_EQ(poll.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(poll.get().status, 200u);
  api_ = std::make_unique<ReadApi>(*store_, *groups_, *policies_, [] {
    return std::optional<net::HttpResponse>(ServiceApiError());
  });
  poll = Answer(Get(base + "?from=0&waitMs=10000"));
  store_->WakeWaiters();
  EXPECT_EQ(poll.get().status, 403u);
}

TEST_F(ReadApiTest, ConsumerGroupsAreCreatedListedAndDeleted) {
  json list = CallJson("GET", "/telemetry/consumergroups");
  ASSERT_EQ(list["value"].size(), 1u);
  EXPECT_EQ(list["value"][0]["name"], "$Default");
  EXPECT_EQ(CallJson("PUT", "/telemetry/consumergroups/alerts", 201)["name"], "alerts");
  CallJson("PUT", "/telemetry/consumergroups/alerts", 409);
  CallJson("PUT", "/telemetry/consumergroups/bad%20name", 400);
  EXPECT_EQ(CallJson("GET", "/telemetry/consumergroups")["value"].size(), 2u);
  CallJson("GET", "/telemetry/consumergroups/alerts");
  CallJson("DELETE", "/telemetry/consumergroups/%24Default", 400);
  CallJson("DELETE", "/telemetry/consumergroups/alerts", 204);
  CallJson("GET", "/telemetry/consumergroups/alerts", 404);
  EXPECT_EQ(Call("GET", "/telemetry/consumergroups", "", "registryRead").status, 401u)
      << "reading the stream needs ServiceConnect";
}

TEST_F(ReadApiTest, AReaderResumesFromItsCheckpointAfterARestart) {
  Store("dev-01", 0, 10);
  std::string p = std::to_string(store_->PartitionOf("dev-01"));
  std::string checkpoint = "/telemetry/consumergroups/alerts/partitions/" + p + "/checkpoint";
  std::string messages = "/telemetry/partitions/" + p + "/messages";
  CallJson("PUT", "/telemetry/consumergroups/alerts", 201);
  CallJson("GET", checkpoint, 404);
  // Without a checkpoint a group starts at the oldest retained message.
  json first = CallJson("GET", messages + "?consumerGroup=alerts&max=4");
  EXPECT_EQ(Ids(first).front(), "m0");
  CallJson("PUT", checkpoint, 200, json{{"offset", first["nextOffset"]}}.dump());
  Open();
  EXPECT_EQ(CallJson("GET", checkpoint)["offset"], "4");
  EXPECT_EQ(Ids(CallJson("GET", messages + "?consumerGroup=alerts&max=2")),
            (std::vector<std::string>{"m4", "m5"}));
  EXPECT_EQ(Ids(CallJson("GET", messages + "?consumerGroup=%24Default&max=1")),
            (std::vector<std::string>{"m0"}));
  CallJson("GET", messages + "?consumerGroup=nobody", 404);
  CallJson("PUT", checkpoint, 400, R"({"offset":"11"})");  // beyond the end
  CallJson("PUT", checkpoint, 400, R"({"offset":"-1"})");
  CallJson("PUT", checkpoint, 400, "not json");
  CallJson("PUT", "/telemetry/consumergroups/alerts/partitions/9/checkpoint", 404, R"({"offset":"1"})");
  // Numbers as text are read by one checked parser: no sign, space, hex or overflow gets in.
  for (const char* bad : {R"({"offset":"+1"})", R"({"offset":" 1"})", R"({"offset":"0x1"})",
                          R"({"offset":""})", R"({"offset":"99999999999999999999"})",
                          R"({"offset":"1e3"})"}) {
    CallJson("PUT", checkpoint, 400, bad);
  }
  for (const char* bad_partition : {"-1", "+0", "00x", "999", "4294967296", "%20"}) {
    CallJson("GET", "/telemetry/partitions/" + std::string(bad_partition) + "/messages", 404);
  }
}

}  // namespace
}  // namespace coffre::hubapi
