// Per-device keys and erasure (hub/device_keys.h): two devices share a partition; erasing one
// leaves its records in place, unreadable and served as erasure markers, while the other's read
// back whole and in order, and the chain still verifies. The erased key is gone from the
// metadata store's files and from this process's memory; a key removed without an erasure is a
// break, not an erasure.

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "hub/device_keys.h"
#include "hub/telemetry_messages.h"
#include "hub/telemetry_store.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;
using testing::StatusIs;

TelemetryMessage Message(const std::string& device, int n) {
  return ::coffre::testing::NumberedMessage(device, n);
}

// What the test keeps of a key to look for it: its first 8 bytes and the SHA-256 of all 32, so
// that the test's own memory never holds the key it searches for.
struct KeyFingerprint {
  char prefix[8];
  unsigned char digest[32];
};

void Sha256(const void* data, size_t n, unsigned char out[32]) {
  unsigned int len = 0;
  EVP_Digest(data, n, out, &len, EVP_sha256(), nullptr);
}

KeyFingerprint FingerprintOf(const crypto::SecretBytes& key) {
  KeyFingerprint f;
  std::memcpy(f.prefix, key.Reveal().data(), sizeof f.prefix);
  Sha256(key.Reveal().data(), key.size(), f.digest);
  return f;
}

// Whether any readable page of this process holds the key, read through /proc/self/mem in
// chunks through one buffer (cleansed after), so that the scan leaves no copy behind.
bool ProcessHolds(const KeyFingerprint& key) {
  std::ifstream maps("/proc/self/maps");
  int mem = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(mem, 0);
  constexpr size_t kChunk = size_t{1} << 20;
  static std::vector<char> buffer(kChunk + 32);
  bool found = false;
  std::string line;
  while (!found && std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.empty() || perms[0] != 'r' || line.find("[vvar]") != std::string::npos) continue;
    uint64_t start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    uint64_t end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    for (uint64_t at = start; at < end && !found; at += kChunk) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk + 31, end - at));
      ssize_t got = ::pread(mem, buffer.data(), want, static_cast<off_t>(at));
      if (got < 32) break;
      const char* p = buffer.data();
      const char* stop = buffer.data() + got - 31;
      while (!found && p < stop) {
        const void* hit = ::memmem(p, static_cast<size_t>(stop - p) + 7, key.prefix, 8);
        if (hit == nullptr || static_cast<const char*>(hit) >= stop) break;
        unsigned char digest[32];
        Sha256(hit, 32, digest);
        found = std::memcmp(digest, key.digest, 32) == 0;
        p = static_cast<const char*>(hit) + 1;
      }
    }
  }
  OPENSSL_cleanse(buffer.data(), buffer.size());
  ::close(mem);
  return found;
}

class DeviceErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open();
    // A second device on dev-a's partition: erasure inside a shared partition is the point.
    p_ = store_->PartitionOf("dev-a");
    for (int i = 0; other_.empty(); ++i) {
      std::string id = "dev-b" + std::to_string(i);
      if (store_->PartitionOf(id) == p_) other_ = id;
    }
  }
  // The metadata store's files in the clear (no service key): the scans below see what an
  // attacker holding the service key would.
  void Open() {
    store_.reset();
    device_keys_.reset();
    rows_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    device_keys_ = std::make_unique<DeviceKeys>(*keys_, *rows_, clock_,
                                                [this] { return kv_->DestroyDeletedData(); });
    COFFRE_ASSERT_OK(device_keys_->FinishErasures());
    TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.device_keys = device_keys_.get();
    store_ = std::move(TelemetryStore::Open(dir_.path() / "telemetry", *keys_, *kv_, options).value());
  }
  // Both devices, interleaved, in batches of 10 (one commit each).
  void SendBoth(int from, int to) {
    for (int n = from; n < to; n += 5) {
      std::vector<TelemetryMessage> batch;
      for (int k = n; k < std::min(to, n + 5); ++k) {
        batch.push_back(Message("dev-a", k));
        batch.push_back(Message(other_, k));
      }
      COFFRE_ASSERT_OK(store_->Append(p_, batch).status());
      COFFRE_ASSERT_OK(store_->Commit(p_));
    }
  }
  std::vector<StoredMessage> ReadAll(Status* error = nullptr) {
    std::vector<StoredMessage> got;
    uint64_t from = store_->begin_sequence(p_);
    while (from < store_->end_sequence(p_)) {
      auto page = store_->Read(p_, from, 13, SIZE_MAX);
      if (!page.has_value()) {
        if (error) *error = page.error();
        break;
      }
      if (page->empty()) break;
      from = page->back().sequence + 1;
      for (auto& m : *page) got.push_back(std::move(m));
    }
    return got;
  }
  std::string WrappedKeyRow(uint64_t number) {
    return "dek/key/" + std::to_string(crypto::kDeviceKeyScope) + "/" + std::to_string(number);
  }

  ::coffre::testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<SealedRows> rows_;
  std::unique_ptr<DeviceKeys> device_keys_;
  std::unique_ptr<TelemetryStore> store_;
  int p_ = 0;
  std::string other_;
};

TEST_F(DeviceErasureTest, ErasedRecordsReadAsMarkersAndTheOtherDeviceReadsWhole) {
  SendBoth(0, 50);
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceErasure e, device_keys_->Erase("dev-a", "registryWrite-policy"));
  EXPECT_EQ(e.device_id, "dev-a");
  EXPECT_NE(e.key_number, 0u);
  for (int restart = 0; restart < 2; ++restart) {
    std::vector<StoredMessage> got = ReadAll();
    ASSERT_EQ(got.size(), 100u);
    int next_b = 0, erased = 0;
    for (const StoredMessage& m : got) {
      if (m.erased) {
        ++erased;
        EXPECT_EQ(m.message.device_id, "dev-a");
        EXPECT_TRUE(m.message.body.empty());
        EXPECT_EQ(m.erased->erased_by, "registryWrite-policy");
        EXPECT_EQ(m.erased->key_number, e.key_number);
        continue;
      }
      ASSERT_EQ(m.message.device_id, other_);
      EXPECT_EQ(AsChars(m.message.body), "{\"n\":" + std::to_string(next_b) + "}");
      ++next_b;
    }
    EXPECT_EQ(next_b, 50);
    EXPECT_EQ(erased, 50);
    COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p_));
    EXPECT_TRUE(v.breaks.empty()) << v.breaks.front().what;
    EXPECT_EQ(v.records_checked, 100u);
    EXPECT_EQ(v.records_erased, 50u);
    Open();
  }
  COFFRE_ASSERT_OK_AND_ASSIGN(auto all, device_keys_->Erasures());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].device_id, "dev-a");
}

// A message of the erased incarnation that arrives after the erasure (authenticated just before
// it) is erased on arrival; the device created again (a new generation) gets a new key.
TEST_F(DeviceErasureTest, LateMessagesOfTheErasedIncarnationAreErasedOnArrivalANewOneGetsANewKey) {
  auto send = [&](const std::string& generation, int from, int to) {
    std::vector<TelemetryMessage> batch;
    for (int n = from; n < to; ++n) {
      batch.push_back(Message("dev-a", n));
      batch.back().auth_generation_id = generation;
      batch.push_back(Message(other_, n));
    }
    COFFRE_ASSERT_OK(store_->Append(p_, batch).status());
    COFFRE_ASSERT_OK(store_->Commit(p_));
  };
  send("g1", 0, 10);
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceErasure e, device_keys_->Erase("dev-a", "owner"));
  send("g1", 10, 20);  // in flight during the erasure
  send("g2", 20, 30);  // dev-a created again
  COFFRE_ASSERT_OK_AND_ASSIGN(auto key, device_keys_->For("dev-a", "g2"));
  EXPECT_NE(key->number, e.key_number);  // a new key (numbers are random)
  std::vector<StoredMessage> got = ReadAll();
  ASSERT_EQ(got.size(), 60u);
  for (size_t i = 0; i < got.size(); ++i) {
    bool is_a = got[i].message.device_id == "dev-a";
    EXPECT_EQ(got[i].erased.has_value(), is_a && i < 40) << i;
  }
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p_));
  EXPECT_TRUE(v.breaks.empty());
  EXPECT_EQ(v.records_erased, 20u);
}

TEST_F(DeviceErasureTest, TheErasedKeyIsGoneFromTheStoreFilesAndFromMemory) {
  SendBoth(0, 10);
  KeyFingerprint fingerprint;
  uint64_t number = 0;
  {
    COFFRE_ASSERT_OK_AND_ASSIGN(auto key, device_keys_->For("dev-a"));
    fingerprint = FingerprintOf(key->key);
    number = key->number;
  }
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes wrapped, kv_->Get(WrappedKeyRow(number)));
  // Controls: before the erasure both scans find the key, or they prove nothing.
  COFFRE_ASSERT_OK(kv_->DestroyDeletedData());  // into table files, where an attacker would look
  EXPECT_FALSE(::coffre::testing::FilesContaining(dir_.path() / "meta", wrapped).empty());
  ASSERT_TRUE(ProcessHolds(fingerprint)) << "the scan did not find the key while it was in use";

  COFFRE_ASSERT_OK(device_keys_->Erase("dev-a", "owner").status());
  EXPECT_THAT(kv_->Get(WrappedKeyRow(number)).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(::coffre::testing::FilesContaining(dir_.path() / "meta", wrapped), ::testing::IsEmpty());
  EXPECT_FALSE(ProcessHolds(fingerprint));
  EXPECT_EQ(keys_->remembered_device_keys(), 1u);  // the other device's
  // Reading the erased records again loads nothing back.
  EXPECT_EQ(ReadAll().size(), 20u);
  EXPECT_FALSE(ProcessHolds(fingerprint));
}

TEST_F(DeviceErasureTest, LockForgetsEveryDeviceKey) {
  SendBoth(0, 10);
  EXPECT_EQ(keys_->remembered_device_keys(), 2u);
  keys_->Lock();
  EXPECT_EQ(keys_->remembered_device_keys(), 0u);
  EXPECT_THAT(device_keys_->For("dev-a").status(), StatusIs(StatusCode::kUnavailable));
}

// Someone deletes a device's key without an erasure: its records are a break, not erased.
TEST_F(DeviceErasureTest, AKeyRemovedWithoutAnErasureIsABreak) {
  SendBoth(0, 10);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto key, device_keys_->For("dev-a"));
  uint64_t number = key->number;
  key.reset();
  store_.reset();
  COFFRE_ASSERT_OK(kv_->Delete(WrappedKeyRow(number), true));
  Open();
  Status error;
  std::vector<StoredMessage> got = ReadAll(&error);
  EXPECT_TRUE(got.empty());
  EXPECT_THAT(error, StatusIs(StatusCode::kDataLoss));
  EXPECT_NE(error.message().find("no erasure destroyed it"), std::string::npos) << error;
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p_));
  ASSERT_FALSE(v.breaks.empty());
  EXPECT_EQ(v.breaks.front().from, 0u);
  EXPECT_NE(v.breaks.front().what.find("device's key"), std::string::npos) << v.breaks.front().what;
}

// And an erasure record removed after the fact turns the markers into a break too.
TEST_F(DeviceErasureTest, AnErasureRecordRemovedIsABreak) {
  SendBoth(0, 10);
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceErasure e, device_keys_->Erase("dev-a", "owner"));
  COFFRE_ASSERT_OK(kv_->Delete(ErasureRow(e.key_number), true));
  Status error;
  EXPECT_TRUE(ReadAll(&error).empty());
  EXPECT_THAT(error, StatusIs(StatusCode::kDataLoss));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p_));
  EXPECT_EQ(v.breaks.size(), 10u);  // each of dev-a's records
}

// An erased record swapped for the other device's still has to chain.
TEST_F(DeviceErasureTest, AnErasedRecordOutOfPlaceIsNotServed) {
  SendBoth(0, 10);
  COFFRE_ASSERT_OK(device_keys_->Erase("dev-a", "owner").status());
  store_.reset();
  storage::SegmentLogOptions log_options;
  std::filesystem::path partition = dir_.path() / "telemetry" / std::to_string(p_);
  std::vector<storage::StoredRecord> records;
  {
    auto log = std::move(storage::SegmentLog::Open(partition, log_options).value());
    records = std::move(log->Read(0, SIZE_MAX, SIZE_MAX).value());
  }
  std::swap(records[2].payload, records[4].payload);  // two of dev-a's, erased
  std::filesystem::remove_all(partition);
  {
    auto log = std::move(storage::SegmentLog::Open(partition, log_options).value());
    std::vector<storage::LogRecord> out;
    for (const auto& r : records) out.push_back({r.sequence, r.time_ms, r.payload, r.link});
    COFFRE_ASSERT_OK(log->Append(out));
    COFFRE_ASSERT_OK(log->Sync());
  }
  Open();
  Status error;
  std::vector<StoredMessage> got = ReadAll(&error);
  EXPECT_LT(got.size(), 20u);
  EXPECT_THAT(error, StatusIs(StatusCode::kDataLoss));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p_));
  EXPECT_FALSE(v.breaks.empty());
}

TEST_F(DeviceErasureTest, AnErasureInterruptedBeforeTheKeyWentIsFinishedAtStart) {
  SendBoth(0, 10);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto key, device_keys_->For("dev-a"));
  uint64_t number = key->number;
  key.reset();
  // What Erase stores first, as a crash right after it would leave it.
  nlohmann::json record = {{"deviceId", "dev-a"}, {"number", number}, {"erasedAt", 1}, {"erasedBy", "owner"}};
  COFFRE_ASSERT_OK(rows_->Store(ErasureRow(number), record));
  Open();
  EXPECT_THAT(kv_->Get(WrappedKeyRow(number)).status(), StatusIs(StatusCode::kNotFound));
  std::vector<StoredMessage> got = ReadAll();
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [](const auto& m) { return m.erased.has_value(); }), 10);
}

TEST_F(DeviceErasureTest, ErasingADeviceThatNeverSentIsRecorded) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceErasure e, device_keys_->Erase("never-sent", "owner"));
  EXPECT_EQ(e.key_number, 0u);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto all, device_keys_->Erasures());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].device_id, "never-sent");
}

}  // namespace
}  // namespace coffre::hub
