#include "vault/rotation/rotation_scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "vault/rotation/vault_clock.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using testing::StatusIs;

constexpr int64_t kDay = 86400;

// The events a scheduler published, in order.
class RecordingSink : public KeyEventSink {
 public:
  void Publish(const KeyEvent& event) override {
    std::lock_guard lock(mu_);
    events_.push_back(event);
  }
  std::vector<KeyEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<KeyEvent> events_;
};

CreateKeyRequest Oct(std::optional<int64_t> exp = std::nullopt) {
  CreateKeyRequest r;
  r.kty = "oct-HSM";
  r.key_size = 256;
  if (exp) r.attributes.exp = exp;
  return r;
}

RotationPolicy Policy(const char* json_text) {
  return ParseRotationPolicyUpdate(json::parse(json_text)).value();
}

struct SchedulerTest : ::testing::Test {
  RotationScheduler Scheduler() {
    return RotationScheduler(
        f.vault(), &sink, f.clock(), std::chrono::milliseconds(10));
  }
  size_t Versions(const std::string& name) { return f.vault().ListVersions(name)->size(); }

  // Not a second early, and on the second: `in` seconds from now, `name` gets a new version.
  void ExpectRotationIn(RotationScheduler& scheduler, const std::string& name, int64_t in) {
    size_t before = Versions(name);
    f.Advance(in - 1);
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    EXPECT_EQ(Versions(name), before) << "rotated a second early";
    f.Advance(1);
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    EXPECT_EQ(Versions(name), before + 1) << "did not rotate when due";
  }

  VaultFixture f;
  RecordingSink sink;
};

TEST_F(SchedulerTest, RotatesByTimeAfterCreateOncePerDueVersionWithThePolicysExpiry) {
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Oct()));
  COFFRE_ASSERT_OK(f.vault()
                       .SetRotationPolicy("k", Policy(R"({"lifetimeActions":[{"trigger":
                           {"timeAfterCreate":"P7D"},"action":{"type":"Rotate"}}],
                           "attributes":{"expiryTime":"P28D"}})"))
                       .status());
  RotationScheduler scheduler = Scheduler();
  ExpectRotationIn(scheduler, "k", 7 * kDay);
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v2, f.vault().Get("k", ""));
  EXPECT_NE(v2.version, v1.version);
  EXPECT_EQ(v2.created, f.now());
  EXPECT_EQ(v2.exp, f.now() + 28 * kDay);
  EXPECT_FALSE(f.vault().Get("k", v1.version)->exp.has_value());  // never the current one
  COFFRE_ASSERT_OK(scheduler.RunOnce());
  ExpectRotationIn(scheduler, "k", 7 * kDay);  // from the new version's creation
}

TEST_F(SchedulerTest, RotatesBeforeExpiryOnlyWhenTheLatestVersionHasAnExp) {
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct(f.now() + 20 * kDay)).status());
  COFFRE_ASSERT_OK(f.vault().Create("no-exp", Oct()).status());
  RotationPolicy policy = Policy(R"({"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P10D"},
      "action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P30D"}})");
  COFFRE_ASSERT_OK(f.vault().SetRotationPolicy("k", policy).status());
  COFFRE_ASSERT_OK(f.vault().SetRotationPolicy("no-exp", policy).status());
  RotationScheduler scheduler = Scheduler();
  ExpectRotationIn(scheduler, "k", 10 * kDay);
  EXPECT_EQ(f.vault().Get("k", "")->exp, f.now() + 30 * kDay);
  f.Advance(365 * kDay);
  COFFRE_ASSERT_OK(scheduler.RunOnce());
  EXPECT_EQ(Versions("no-exp"), 1u);
}

TEST_F(SchedulerTest, NotifiesNearExpiryAndExpiryOncePerVersionAcrossRestarts) {
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Oct(f.now() + 40 * kDay)));
  int64_t exp = *v1.exp;
  {
    RotationScheduler scheduler = Scheduler();
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    EXPECT_TRUE(sink.events().empty());
    f.Advance(10 * kDay);  // the default policy: Notify 30 days before expiry
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    COFFRE_ASSERT_OK(scheduler.RunOnce());
  }
  ASSERT_EQ(sink.events().size(), 1u);
  KeyEvent near = sink.events()[0];
  EXPECT_EQ(near.type, event_type::kKeyNearExpiry);
  EXPECT_EQ(near.object_name, "k");
  EXPECT_EQ(near.version, v1.version);
  EXPECT_EQ(near.exp, exp);
  EXPECT_EQ(near.time, f.now());

  f.Open();  // a restarted vault remembers what it published
  {
    RotationScheduler scheduler = Scheduler();
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    EXPECT_EQ(sink.events().size(), 1u);
    f.Advance(30 * kDay);
    COFFRE_ASSERT_OK(scheduler.RunOnce());
    COFFRE_ASSERT_OK(scheduler.RunOnce());
  }
  f.Open();
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  ASSERT_EQ(sink.events().size(), 2u);
  EXPECT_EQ(sink.events()[1].type, event_type::kKeyExpired);
  EXPECT_EQ(sink.events()[1].version, v1.version);

  // A new version is a new subject for both events.
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct(f.now() + kDay)).status());
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  f.Advance(kDay);
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  ASSERT_EQ(sink.events().size(), 4u);
  EXPECT_EQ(sink.events()[2].type, event_type::kKeyNearExpiry);
  EXPECT_EQ(sink.events()[3].type, event_type::kKeyExpired);
}

TEST_F(SchedulerTest, NotifyFollowsThePolicysTriggerAndWorksWithoutASink) {
  RotationPolicy notify_7d = Policy(R"({"lifetimeActions":[{"trigger":
      {"timeBeforeExpiry":"P7D"},"action":{"type":"Notify"}}]})");
  for (const char* name : {"k", "unheard"}) {
    COFFRE_ASSERT_OK(f.vault().Create(name, Oct(f.now() + 20 * kDay)).status());
    COFFRE_ASSERT_OK(f.vault().SetRotationPolicy(name, notify_7d).status());
  }
  f.Advance(13 * kDay - 1);
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  EXPECT_TRUE(sink.events().empty());
  f.Advance(1);
  RotationScheduler without_sink(
      f.vault(), nullptr, f.clock(), std::chrono::milliseconds(10));
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  COFFRE_ASSERT_OK(without_sink.RunOnce());  // "unheard": marked, published nowhere
  COFFRE_ASSERT_OK(f.vault().Recover("k").status());
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  ASSERT_EQ(sink.events().size(), 1u);
  EXPECT_EQ(sink.events()[0].object_name, "k");
  EXPECT_EQ(sink.events()[0].type, event_type::kKeyNearExpiry);
}

TEST_F(SchedulerTest, AScheduledRotationNeverDoublesAManualOne) {
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Oct()));
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  EXPECT_THAT(f.vault().Rotate("k", v1.version).status(),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Versions("k"), 2u);
}

TEST_F(SchedulerTest, DeletedKeysAreLeftAlone) {
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct(f.now() + 5 * kDay)).status());
  COFFRE_ASSERT_OK(f.vault()
                       .SetRotationPolicy("k", Policy(R"({"lifetimeActions":[{"trigger":
                           {"timeAfterCreate":"P7D"},"action":{"type":"Rotate"}}]})"))
                       .status());
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  f.Advance(8 * kDay);
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  EXPECT_TRUE(sink.events().empty());
  COFFRE_ASSERT_OK(f.vault().Recover("k").status());
  COFFRE_ASSERT_OK(Scheduler().RunOnce());
  EXPECT_EQ(Versions("k"), 2u);  // the policy came back with the key
}

TEST_F(SchedulerTest, ItsThreadRotatesUntilStopped) {
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct()).status());
  COFFRE_ASSERT_OK(f.vault()
                       .SetRotationPolicy("k", Policy(R"({"lifetimeActions":[{"trigger":
                           {"timeAfterCreate":"P7D"},"action":{"type":"Rotate"}}]})"))
                       .status());
  RotationScheduler scheduler = Scheduler();
  scheduler.Start();
  f.Advance(7 * kDay);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Versions("k") < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  scheduler.Stop();
  EXPECT_EQ(Versions("k"), 2u);
  f.Advance(7 * kDay);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // would be 5 periods
  EXPECT_EQ(Versions("k"), 2u);
  scheduler.Stop();  // idempotent
}

TEST(VaultClockTest, AdvancesOnlyForwardAndKeepsItsOffsetAcrossRestarts) {
  VaultFixture f;
  ManualClock system;  // 1'800'000'000 s
  int64_t start = system.NowSeconds();
  COFFRE_ASSERT_OK_AND_ASSIGN(auto clock, VaultClock::Open(f.store(), system));
  EXPECT_EQ(clock->NowSeconds(), start);
  COFFRE_ASSERT_OK(clock->Advance(8 * kDay));
  EXPECT_EQ(clock->NowSeconds(), start + 8 * kDay);
  system.Advance(std::chrono::seconds(5));
  EXPECT_EQ(clock->NowSeconds(), start + 5 + 8 * kDay);
  EXPECT_EQ(clock->SteadyNow(), system.SteadyNow());  // steady time is never offset
  for (int64_t bad : {int64_t{0}, int64_t{-1}, int64_t{101} * 365 * kDay}) {
    EXPECT_THAT(clock->Advance(bad), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(clock->offset(), 8 * kDay);
  f.Open();
  COFFRE_ASSERT_OK_AND_ASSIGN(auto reopened, VaultClock::Open(f.store(), system));
  EXPECT_EQ(reopened->NowSeconds(), start + 5 + 8 * kDay);
}

}  // namespace
}  // namespace coffre::vault
