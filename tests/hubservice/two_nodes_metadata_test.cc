// Two hub nodes' metadata on one PostgreSQL database, as cluster mode will run them: each node
// its own pool, row cipher, keys and digest shard. Both start at once on a new store and share
// one root key; sealed rows written by both (the same rows and their own) keep the digests
// exact, as a third node's check finds; a row put back from an older copy is still found.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "fakes/fake_key_provider.h"
#include "hub/consumer_groups.h"
#include "hub/device_keys.h"
#include "hub/hub_keys.h"
#include "hub/registry.h"
#include "hub/sealed_rows.h"
#include "hub/twin_store.h"
#include "hub_store_node.h"
#include "pg_server.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using nlohmann::json;

// One node's view of the store (pool, infrastructure layer, metadata store), with its keys
// and the hub's tables over them.
struct Node : testing::HubStoreNode {
  Node(const std::string& conninfo, const crypto::SecretBytes& service_key,
       crypto::KeyProvider& provider, const std::string& node_id)
      : HubStoreNode(conninfo, service_key, provider, node_id) {
    registry = std::make_unique<Registry>(*kv, *keys, SystemClock());
    twins = std::make_unique<TwinStore>(*rows, SystemClock());
    device_keys = std::make_unique<DeviceKeys>(*keys, *rows, SystemClock(), nullptr);
  }
  std::unique_ptr<Registry> registry;
  std::unique_ptr<TwinStore> twins;
  std::unique_ptr<DeviceKeys> device_keys;
};

class TwoNodesMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
  }
  std::unique_ptr<Node> Start(const std::string& node_id) {
    return std::make_unique<Node>(server_.conninfo(), service_key_, provider_, node_id);
  }

  testing::PgServer server_;
  crypto::SecretBytes service_key_ = crypto::SecretBytes::Random(32).value();
  testing::FakeKeyProvider provider_;
};

TEST_F(TwoNodesMetadataTest, NodesStartingAtOnceShareOneRootKeyAndKeepExactDigests) {
  std::unique_ptr<Node> a, b;
  {
    std::thread starting_b([&] { b = Start("00000000000000bb"); });
    a = Start("00000000000000aa");
    starting_b.join();
  }
  // Each node writes the shared rows and rows of its own, 4 threads each, at once.
  std::vector<std::thread> threads;
  for (Node* node : {a.get(), b.get()}) {
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([node, t, mine = node == a.get() ? "a" : "b"] {
        for (int i = 0; i < 10; ++i) {
          std::string shared = "dev/shared-" + std::to_string((t + i) % 5);
          COFFRE_EXPECT_OK(node->rows->Store(shared, json{{"by", mine}, {"i", i}}, i % 3 == 0));
          std::string own = "twin/" + std::string(mine) + std::to_string(t) + "-" + std::to_string(i);
          COFFRE_EXPECT_OK(node->rows->Store(own, json{{"i", i}}, false));
          if (i % 4 == 3) COFFRE_EXPECT_OK(node->rows->Erase(own));
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  // What one node wrote the other reads (one root key, whichever node made it).
  EXPECT_TRUE(b->rows->Load("twin/a0-0").has_value());
  EXPECT_TRUE(a->rows->Load("twin/b3-9").has_value());

  auto c = Start("00000000000000cc");
  auto breaks = c->keys->row_digests().Recheck();
  ASSERT_TRUE(breaks.has_value()) << breaks.error().message();
  EXPECT_TRUE(breaks->empty()) << breaks->front().table << ": " << breaks->front().what;

  // A row put back from an older sealed copy of itself: found, naming its table.
  Bytes older = c->kv->Get("dev/shared-0").value();
  COFFRE_ASSERT_OK(b->rows->Store("dev/shared-0", json{{"by", "b"}, {"i", 99}}));
  COFFRE_ASSERT_OK(c->kv->Put("dev/shared-0", older, true));
  breaks = c->keys->row_digests().Recheck();
  ASSERT_TRUE(breaks.has_value());
  ASSERT_EQ(breaks->size(), 1u);
  EXPECT_EQ(breaks->front().table, "dev");
}

// A device's connection state written on one node while the other disables it, and twin
// patches from both sides: nothing written over, nothing repeated.
TEST_F(TwoNodesMetadataTest, RegistryAndTwinChangesOnBothNodesAreAllKept) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  DeviceIdentity d;
  d.device_id = "dev-1";
  const DeviceIdentity created = a->registry->Create(d).value();
  EXPECT_THAT(b->registry->Create(d).status(), testing::StatusIs(StatusCode::kAlreadyExists));

  constexpr int kRounds = 30;
  std::thread connecting([&] {
    for (int i = 0; i < kRounds; ++i) COFFRE_EXPECT_OK(b->registry->SetConnected("dev-1", i % 2 == 0));
  });
  for (int i = 0; i < kRounds; ++i) {
    DeviceIdentity change = a->registry->Get("dev-1").value();
    change.status = i % 2 == 0 ? DeviceStatus::kDisabled : DeviceStatus::kEnabled;
    change.status_reason = "round " + std::to_string(i);
    COFFRE_EXPECT_OK(a->registry->Update(change, change.etag).status());
  }
  connecting.join();
  DeviceIdentity now = b->registry->Get("dev-1").value();
  EXPECT_EQ(now.status_reason, "round " + std::to_string(kRounds - 1));  // the last update
  EXPECT_EQ(now.status, DeviceStatus::kEnabled);
  EXPECT_EQ(now.primary_key, created.primary_key);
  // An update with an etag another node has replaced meanwhile is refused.
  DeviceIdentity stale = now;
  COFFRE_ASSERT_OK(b->registry->Update(now, now.etag).status());
  EXPECT_THAT(a->registry->Update(stale, stale.etag).status(),
              testing::StatusIs(StatusCode::kFailedPrecondition));

  const TwinId twin{"dev-1", std::nullopt};
  std::vector<std::thread> patching;
  for (Node* node : {a.get(), b.get()}) {
    patching.emplace_back([&, node] {
      TwinSection section = node == a.get() ? TwinSection::kDesired : TwinSection::kReported;
      for (int i = 0; i < kRounds; ++i) {
        json patch{{"p" + std::to_string(i), i}};
        COFFRE_EXPECT_OK(node->twins->Update(twin, created.generation_id, "", [&](TwinDocument& t) {
          return t.PatchProperties(section, patch, SystemClock().Now());
        }).status());
      }
    });
  }
  for (auto& t : patching) t.join();
  TwinDocument stored = a->twins->Get(twin, created.generation_id).value();
  EXPECT_EQ(stored.SectionVersion(TwinSection::kDesired), kRounds + 1);
  EXPECT_EQ(stored.SectionVersion(TwinSection::kReported), kRounds + 1);
  // Every property, with $metadata and $version.
  EXPECT_EQ(stored.PropertiesView(TwinSection::kDesired).size(), kRounds + 2u);
  EXPECT_EQ(stored.PropertiesView(TwinSection::kReported).size(), kRounds + 2u);
}

// A device's first messages arriving on both nodes at once: one key, the one its row names, so
// that erasing the device destroys every key its records were sealed under.
TEST_F(TwoNodesMetadataTest, ADevicesFirstKeyMadeOnTwoNodesAtOnceIsOneKey) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  for (int round = 0; round < 5; ++round) {
    const std::string device = "dev-" + std::to_string(round);
    std::mutex mu;
    std::set<uint64_t> numbers;
    std::vector<std::thread> threads;
    for (Node* node : {a.get(), b.get()}) {
      for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, node] {
          auto key = node->device_keys->For(device, "gen-1");
          ASSERT_TRUE(key.has_value()) << key.error().message();
          std::lock_guard<std::mutex> lock(mu);
          numbers.insert((*key)->number);
        });
      }
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(numbers.size(), 1u) << device;
    COFFRE_ASSERT_OK_AND_ASSIGN(DeviceErasure erased, a->device_keys->Erase(device, "test", 0));
    EXPECT_EQ(erased.key_number, *numbers.begin());
  }
  // Every key made by a losing node is gone: no device key is stored any more.
  int stored = 0;
  COFFRE_ASSERT_OK(a->kv->Scan("dek/key/" + std::to_string(crypto::kDeviceKeyScope) + "/",
                               [&](std::string_view, ByteSpan) { return ++stored > 0; }));
  EXPECT_EQ(stored, 0);
}

// Consumer groups made on both nodes at once stay within the hub's limit; a group deleted on
// one node while the other checkpoints it leaves no checkpoint for a group made again.
TEST_F(TwoNodesMetadataTest, ConsumerGroupRulesHoldAcrossNodes) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  auto groups_a = std::move(ConsumerGroups::Open(*a->kv, *a->keys, 2, SystemClock()).value());
  auto groups_b = std::move(ConsumerGroups::Open(*b->kv, *b->keys, 2, SystemClock()).value());
  std::atomic<int> made{0};
  std::vector<std::thread> threads;
  for (ConsumerGroups* groups : {groups_a.get(), groups_b.get()}) {
    threads.emplace_back([&, groups] {
      for (int i = 0; i < 15; ++i) {
        std::string name = (groups == groups_a.get() ? "a" : "b") + std::to_string(i);
        auto created = groups->Create(name);
        if (created.has_value()) {
          ++made;
        } else {
          EXPECT_EQ(created.error().code(), StatusCode::kResourceExhausted) << created.error().message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load() + 1, static_cast<int>(kMaxConsumerGroups));  // and $Default
  EXPECT_EQ(groups_b->List().value().size(), kMaxConsumerGroups);

  std::atomic<bool> deleted{false};
  std::thread checkpointing([&] {
    for (int i = 0; i < 200 && !deleted; ++i) {
      Status set = groups_b->SetCheckpoint("a0", i % 2, 100 + i);
      if (!set.ok()) {
        EXPECT_EQ(set.code(), StatusCode::kNotFound) << set.message();
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  COFFRE_EXPECT_OK(groups_a->Delete("a0"));
  deleted = true;
  checkpointing.join();
  COFFRE_ASSERT_OK(groups_a->Create("a0").status());
  for (int p = 0; p < 2; ++p) EXPECT_FALSE(groups_b->GetCheckpoint("a0", p).value().has_value());
}

}  // namespace
}  // namespace coffre::hub
