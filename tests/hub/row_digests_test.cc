// Metadata rows put back from older sealed copies of themselves (hub/row_digests.h), while the
// hub is stopped: each kind is found at the next start and names its table; putting the right
// row back clears it; other tables stay clean.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_key_provider.h"
#include "hub/registry.h"
#include "hub/sealed_rows.h"
#include "hub/twin_store.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using nlohmann::json;
using testing::FakeKeyProvider;

DeviceIdentity Device(const std::string& id) {
  DeviceIdentity d;
  d.device_id = id;
  return d;
}

class RowDigestsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  // A start of the hub: the metadata store and the keys opened again, the tables checked.
  std::vector<MetadataBreak> Open() {
    rows_.reset();
    registry_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<Registry>(*kv_, *keys_, clock_);
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    auto breaks = keys_->row_digests().Check();
    EXPECT_TRUE(breaks.has_value()) << breaks.status();
    return breaks.value_or(std::vector<MetadataBreak>{});
  }
  // Every row of the table as stored (sealed), by key.
  std::map<std::string, Bytes> Stored(const std::string& table) {
    std::map<std::string, Bytes> out;
    EXPECT_TRUE(kv_->Scan(table + "/", [&](std::string_view key, ByteSpan value) {
      out.emplace(std::string(key), Bytes(value.begin(), value.end()));
      return true;
    }).ok());
    return out;
  }
  static std::vector<std::string> Tables(const std::vector<MetadataBreak>& breaks) {
    std::vector<std::string> out;
    for (const auto& b : breaks) out.push_back(b.table);
    return out;
  }

  ::coffre::testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SealedRows> rows_;
};

TEST_F(RowDigestsTest, ACleanStoreHasNoBreakAcrossRestarts) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  COFFRE_ASSERT_OK(registry_->Delete("d2", "*"));
  EXPECT_TRUE(Open().empty());
  EXPECT_TRUE(Open().empty());
  EXPECT_FALSE(keys_->row_digests().reanchored());
}

// A disabled device put back as its older, enabled self: the registry serves it as the truth
// unless the digest says otherwise.
TEST_F(RowDigestsTest, ARegistryRowPutBackFromAnOlderCopyIsFound) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  auto before = Stored("dev");
  ASSERT_EQ(before.size(), 2u);
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d1, registry_->Get("d1"));
  d1.status = DeviceStatus::kDisabled;
  COFFRE_ASSERT_OK(registry_->Update(d1, "*").status());
  auto after = Stored("dev");
  std::string changed;
  for (const auto& [key, value] : after) {
    if (before.at(key) != value) changed = key;
  }
  ASSERT_FALSE(changed.empty());
  // The attacker, with the hub stopped, puts the older sealed copy back: it opens.
  COFFRE_ASSERT_OK(kv_->Put(changed, before.at(changed), true));
  std::vector<MetadataBreak> breaks = Open();
  EXPECT_EQ(Tables(breaks), std::vector<std::string>{"dev"});
  EXPECT_EQ(registry_->Get("d1")->status, DeviceStatus::kEnabled);  // it does open
  // Reported at every start, until the right copy is back.
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"dev"});
  COFFRE_ASSERT_OK(kv_->Put(changed, after.at(changed), true));
  EXPECT_TRUE(Open().empty());
}

TEST_F(RowDigestsTest, ARowRemovedOrAddedOutsideTheHubIsFound) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  auto rows = Stored("dev");
  auto first = *rows.begin();
  COFFRE_ASSERT_OK(kv_->Delete(first.first, true));
  std::vector<MetadataBreak> breaks = Open();
  ASSERT_EQ(Tables(breaks), std::vector<std::string>{"dev"});
  EXPECT_NE(breaks[0].what.find("1 rows; the digest counts 2"), std::string::npos) << breaks[0].what;
  // A deleted device put back as it was (after the hub deleted it).
  COFFRE_ASSERT_OK(kv_->Put(first.first, first.second, true));
  EXPECT_TRUE(Open().empty());
  COFFRE_ASSERT_OK(registry_->Delete("d2", "*"));
  COFFRE_ASSERT_OK(registry_->Delete("d1", "*"));
  COFFRE_ASSERT_OK(kv_->Put(first.first, first.second, true));
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"dev"});
}

// Twins and C2D go through the same rows: a twin put back is found in its own table.
TEST_F(RowDigestsTest, ATwinPutBackIsFoundInItsTableOnly) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  TwinStore twins(*rows_, clock_);
  auto patch = [&](int v) {
    return twins.Update({"d1", std::nullopt}, "g", "*", [v](TwinDocument& t) {
      return t.PatchTags(json{{"v", v}});
    });
  };
  COFFRE_ASSERT_OK(patch(1).status());
  auto old = Stored("twin");
  COFFRE_ASSERT_OK(patch(2).status());
  ASSERT_EQ(old.size(), 1u);
  COFFRE_ASSERT_OK(kv_->Put(old.begin()->first, old.begin()->second, true));
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"twin"});
}

// A row's sealed bytes copied under another row's key does not open there, and the digest
// sees it too.
TEST_F(RowDigestsTest, ARowCopiedOverAnotherIsFound) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  auto rows = Stored("dev");
  auto a = rows.begin(), b = std::next(rows.begin());
  COFFRE_ASSERT_OK(kv_->Put(b->first, a->second, true));
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"dev"});
}

TEST_F(RowDigestsTest, TheDigestRowPutBackWithItsRowsIsConsistentButAloneIsFound) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes digest_then, kv_->Get("row-digests"));
  auto rows_then = Stored("dev");
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  // The digest row alone, put back: it no longer matches the rows.
  COFFRE_ASSERT_OK(kv_->Put("row-digests", digest_then, true));
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"dev"});
  // The digest row put back with every row of that time: consistent (a known limit).
  for (const auto& [key, value] : Stored("dev")) {
    if (!rows_then.count(key)) COFFRE_ASSERT_OK(kv_->Delete(key, true));
  }
  EXPECT_TRUE(Open().empty());
}

TEST_F(RowDigestsTest, AMissingDigestRowIsMadeAgainAndSaidSo) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK(kv_->Delete("row-digests", true));
  EXPECT_TRUE(Open().empty());
  EXPECT_TRUE(keys_->row_digests().reanchored());
  COFFRE_ASSERT_OK(registry_->Create(Device("d2")).status());
  EXPECT_TRUE(Open().empty());
}

TEST_F(RowDigestsTest, ADamagedDigestRowIsABreak) {
  COFFRE_ASSERT_OK(registry_->Create(Device("d1")).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes digest, kv_->Get("row-digests"));
  digest[digest.size() - 1] ^= std::byte{1};
  COFFRE_ASSERT_OK(kv_->Put("row-digests", digest, true));
  EXPECT_EQ(Tables(Open()), std::vector<std::string>{"row-digests"});
}

TEST_F(RowDigestsTest, ARowOutsideTheDigestedTablesIsRefused) {
  EXPECT_EQ(rows_->Store("no-such-table/x", json{{"a", 1}}).code(), StatusCode::kInvalidArgument);
}

// A lock row ending in '/' covers the rows under it, and only those.
TEST_F(RowDigestsTest, APrefixLockCoversTheRowsUnderIt) {
  auto write = [&](const std::string& lock, const std::string& row) {
    return rows_->Transact({lock}, [&](SealedTxn& txn) { return txn.Store(row, json{{"a", 1}}); });
  };
  COFFRE_EXPECT_OK(write("twin/q/", "twin/q/1"));
  COFFRE_EXPECT_OK(write("twin/q/", "twin/q/1/2"));
  EXPECT_EQ(write("twin/q/", "twin/q").code(), StatusCode::kInternal);
  EXPECT_EQ(write("twin/q/", "twin/qq/1").code(), StatusCode::kInternal);
  EXPECT_EQ(write("twin/q", "twin/q/1").code(), StatusCode::kInternal);  // not a prefix lock
  // The rows under it as the transaction sees them, read with the listing.
  COFFRE_EXPECT_OK(rows_->Transact({"twin/q/"}, [&](SealedTxn& txn) -> Status {
    txn.Erase("twin/q/1");
    COFFRE_RETURN_IF_ERROR(txn.Store("twin/q/3", json{{"a", 3}}));
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, txn.Rows("twin/q/"));
    EXPECT_EQ(rows, (std::vector<std::string>{"twin/q/1/2", "twin/q/3"}));
    EXPECT_EQ(txn.Load("twin/q/3").value()["a"], 3);
    EXPECT_EQ(txn.Load("twin/q/1/2").value()["a"], 1);
    return Status::Ok();
  }));
  EXPECT_TRUE(Open().empty());
}

}  // namespace
}  // namespace coffre::hub
