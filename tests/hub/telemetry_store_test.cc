#include "hub/telemetry_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "crypto/envelope.h"

#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;
using testing::FilesContaining;
using testing::StatusIs;

TelemetryMessage Message(const std::string& device, int n) {
  TelemetryMessage m;
  m.device_id = device;
  m.enqueued_ms = 1'800'000'000'000 + n;
  m.properties.system.message_id = device + "-" + std::to_string(n);
  m.properties.system.content_type = "application/json";
  m.properties.application = {{"seq", std::to_string(n)}, {"tricky key", "a&b=c"}};
  m.body = ToBytes("{\"temperature\":" + std::to_string(20 + n % 10) + ",\"n\":" + std::to_string(n) + "}");
  return m;
}

TEST(TelemetryRecordTest, RoundTripsEveryFieldAndRefusesGarbage) {
  TelemetryMessage m = Message("dev-01", 7);
  m.module_id = "mod";
  m.properties.system.output_name = "out";
  m.properties.system.to = "/x";
  Bytes rec;
  EncodeTelemetryRecord(m, m.enqueued_ms, rec);
  COFFRE_ASSERT_OK_AND_ASSIGN(TelemetryMessage back, DecodeTelemetryRecord(rec));
  EXPECT_EQ(back.device_id, m.device_id);
  EXPECT_EQ(back.module_id, m.module_id);
  EXPECT_EQ(back.enqueued_ms, m.enqueued_ms);
  EXPECT_EQ(back.properties.system.message_id, m.properties.system.message_id);
  EXPECT_EQ(back.properties.system.output_name, m.properties.system.output_name);
  EXPECT_EQ(back.properties.system.to, m.properties.system.to);
  EXPECT_EQ(back.properties.application, m.properties.application);
  EXPECT_EQ(back.body, m.body);
  for (size_t n = 0; n < rec.size(); ++n) {
    EXPECT_FALSE(DecodeTelemetryRecord(ByteSpan(rec).first(n)).has_value()) << n;
  }
  Bytes extra = rec;
  extra.push_back(std::byte{0});
  EXPECT_THAT(DecodeTelemetryRecord(extra).status(), StatusIs(StatusCode::kDataLoss));
}

// The connection's authentication rides in tags 11 and 12 after the system properties; a record
// written before they were kept (hand-built here as the first encoder wrote it) still reads.
TEST(TelemetryRecordTest, KeepsTheAuthTypeAndGenerationAndReadsOlderRecords) {
  TelemetryMessage m = Message("dev-01", 3);
  m.auth_type = "x509Certificate";
  m.auth_generation_id = "638912345678901234";
  Bytes rec;
  EncodeTelemetryRecord(m, m.enqueued_ms, rec);
  COFFRE_ASSERT_OK_AND_ASSIGN(TelemetryMessage back, DecodeTelemetryRecord(rec));
  EXPECT_EQ(back.auth_type, "x509Certificate");
  EXPECT_EQ(back.auth_generation_id, "638912345678901234");
  EXPECT_EQ(back.properties.system.message_id, m.properties.system.message_id);
  EXPECT_EQ(back.body, m.body);

  auto str = [](Bytes& out, std::string_view v) {
    for (int shift : {24, 16, 8, 0}) out.push_back(std::byte((v.size() >> shift) & 0xff));
    for (char c : v) out.push_back(std::byte(c));
  };
  Bytes old = {std::byte{1}};
  for (int i = 0; i < 8; ++i) old.push_back(std::byte{0});
  str(old, "dev-01");
  old.push_back(std::byte{0});  // no module
  old.push_back(std::byte{1});  // one system property: content-type
  old.push_back(std::byte{5});
  str(old, "text/plain");
  for (int i = 0; i < 4; ++i) old.push_back(std::byte{0});  // no application properties
  str(old, "hi");
  COFFRE_ASSERT_OK_AND_ASSIGN(TelemetryMessage older, DecodeTelemetryRecord(old));
  EXPECT_EQ(older.device_id, "dev-01");
  EXPECT_EQ(older.properties.system.content_type, "text/plain");
  EXPECT_FALSE(older.auth_type.has_value());
  EXPECT_FALSE(older.auth_generation_id.has_value());

  Bytes unknown = old;  // tag 13: not a field
  unknown[1 + 8 + 4 + 6 + 1 + 1] = std::byte{13};
  EXPECT_THAT(DecodeTelemetryRecord(unknown).status(), StatusIs(StatusCode::kDataLoss));
}

class TelemetryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_key_ = std::move(crypto::SecretBytes::Random(32).value());
    Open();
  }
  void Open() {
    store_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta", {nullptr, &service_key_}).value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.log.segment_bytes = 64 * 1024;
    options.log.service_key = &service_key_;
    auto store = TelemetryStore::Open(dir_.path() / "telemetry", *keys_, *kv_, options);
    ASSERT_TRUE(store.has_value()) << store.status();
    store_ = std::move(*store);
  }
  void AppendAndCommit(const std::string& device, int from, int to) {
    std::vector<TelemetryMessage> batch;
    for (int n = from; n < to; ++n) batch.push_back(Message(device, n));
    int p = store_->PartitionOf(device);
    COFFRE_ASSERT_OK(store_->Append(p, batch).status());
    COFFRE_ASSERT_OK(store_->Commit(p));
  }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  crypto::SecretBytes service_key_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<TelemetryStore> store_;
};

TEST_F(TelemetryStoreTest, MessagesReadBackInOrderPerDevice) {
  AppendAndCommit("dev-01", 0, 300);
  int p = store_->PartitionOf("dev-01");
  EXPECT_EQ(store_->end_sequence(p), 300u);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto got, store_->Read(p, 0, 1000, SIZE_MAX));
  ASSERT_EQ(got.size(), 300u);
  for (int n = 0; n < 300; ++n) {
    EXPECT_EQ(got[n].sequence, static_cast<uint64_t>(n));
    EXPECT_EQ(got[n].message.body, Message("dev-01", n).body);
    EXPECT_EQ(*got[n].message.properties.system.message_id, "dev-01-" + std::to_string(n));
  }
}

TEST_F(TelemetryStoreTest, PartitionsAreStableAndSpread) {
  std::vector<int> counts(4);
  for (int i = 0; i < 400; ++i) counts[store_->PartitionOf("device-" + std::to_string(i))]++;
  for (int c : counts) EXPECT_GT(c, 50);
  EXPECT_EQ(store_->PartitionOf("dev-01"), store_->PartitionOf("dev-01"));
}

TEST_F(TelemetryStoreTest, RestartKeepsEverythingAndContinuesUnderANewDataKey) {
  AppendAndCommit("dev-01", 0, 50);
  Open();
  AppendAndCommit("dev-01", 50, 80);
  int p = store_->PartitionOf("dev-01");
  COFFRE_ASSERT_OK_AND_ASSIGN(auto got, store_->Read(p, 0, 1000, SIZE_MAX));
  ASSERT_EQ(got.size(), 80u);
  EXPECT_EQ(got[79].message.body, Message("dev-01", 79).body);
}

// Enqueued times are the hub's: a message stamped earlier than the one stored before it (two
// connections racing) is moved forward, across restarts too, so SeekTime can binary-search.
TEST_F(TelemetryStoreTest, EnqueuedTimesNeverDecreaseAndSeekTimeFindsThem) {
  AppendAndCommit("dev-01", 0, 10);  // times T+0 .. T+9
  int p = store_->PartitionOf("dev-01");
  TelemetryMessage late = Message("dev-01", 3);  // stamped T+3
  COFFRE_ASSERT_OK(store_->Append(p, std::span(&late, 1)).status());
  COFFRE_ASSERT_OK(store_->Commit(p));
  Open();
  TelemetryMessage later = Message("dev-01", 5);
  COFFRE_ASSERT_OK(store_->Append(p, std::span(&later, 1)).status());
  COFFRE_ASSERT_OK(store_->Commit(p));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto all, store_->Read(p, 0, 100, SIZE_MAX));
  ASSERT_EQ(all.size(), 12u);
  EXPECT_EQ(all[10].message.enqueued_ms, 1'800'000'000'009);
  EXPECT_EQ(all[11].message.enqueued_ms, 1'800'000'000'009);
  EXPECT_EQ(store_->SeekTime(p, 1'800'000'000'004).value(), 4u);
  EXPECT_EQ(store_->SeekTime(p, 1'800'000'000'009).value(), 9u);
  EXPECT_EQ(store_->SeekTime(p, 1'800'000'000'010).value(), 12u);
  EXPECT_EQ(store_->SeekTime(p, 0).value(), 0u);
}

// Data keys rotate by volume and by age; every record still opens.
TEST(TelemetryStoreRotationTest, DataKeysRotateByVolumeAndByAge) {
  testing::TempDir dir;
  FakeKeyProvider provider;
  auto kv = std::move(storage::RocksKvStore::Open(dir.path() / "meta").value());
  auto keys = std::move(HubKeys::Open(*kv, provider).value());
  TelemetryStoreOptions options;
  options.hub_name = "localhost";
  options.partitions = 1;
  options.data_key_max_records = 10;
  options.data_key_max_age = std::chrono::milliseconds(200);
  auto store = std::move(TelemetryStore::Open(dir.path() / "telemetry", *keys, *kv, options).value());
  auto append = [&](int from, int to) {
    for (int n = from; n < to; ++n) {
      TelemetryMessage m = Message("dev-01", n);
      COFFRE_ASSERT_OK(store->Append(0, std::span(&m, 1)).status());
    }
    COFFRE_ASSERT_OK(store->Commit(0));
  };
  append(0, 25);  // by volume: records 0-9, 10-19, 20-24
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  append(25, 27);  // by age: a fresh key although the last one sealed only 5
  auto log = std::move(storage::SegmentLog::Open(dir.path() / "telemetry" / "0").value());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto records, log->Read(0, 100, SIZE_MAX));
  ASSERT_EQ(records.size(), 27u);
  std::vector<uint64_t> epochs;
  for (const auto& r : records) epochs.push_back(crypto::ReadEnvelopeHeader(r.payload)->epoch);
  EXPECT_EQ(epochs[0], epochs[9]);
  EXPECT_NE(epochs[9], epochs[10]);
  EXPECT_NE(epochs[19], epochs[20]);
  EXPECT_EQ(epochs[20], epochs[24]);
  EXPECT_NE(epochs[24], epochs[25]) << "rotated by age";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto back, store->Read(0, 0, 100, SIZE_MAX));
  EXPECT_EQ(back.size(), 27u);
}

// Both layers, shown: the raw files reveal nothing; with the service key alone (the
// infrastructure layer removed, as an operator holding it could) every record is still a sealed
// envelope that reveals nothing; only with the customer's key too do the records read back.
TEST_F(TelemetryStoreTest, DoubleEncryptionEachLayerHoldsOnItsOwn) {
  AppendAndCommit("dev-07", 0, 30);
  int p = store_->PartitionOf("dev-07");
  const std::string marker = "\"temperature\":";
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes(marker)), ::testing::IsEmpty()) << "raw files";

  storage::SegmentLogOptions infrastructure_only;
  infrastructure_only.segment_bytes = 64 * 1024;
  infrastructure_only.service_key = &service_key_;
  auto log = std::move(
      storage::SegmentLog::Open(dir_.path() / "telemetry" / std::to_string(p), infrastructure_only).value());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto records, log->Read(0, 100, SIZE_MAX));
  ASSERT_EQ(records.size(), 30u);
  for (const auto& r : records) {
    COFFRE_ASSERT_OK_AND_ASSIGN(crypto::EnvelopeHeader header, crypto::ReadEnvelopeHeader(r.payload));
    EXPECT_EQ(header.key_id, static_cast<uint32_t>(p)) << "a sealed envelope of the partition";
    std::string_view payload = AsChars(r.payload);
    EXPECT_EQ(payload.find(marker), std::string_view::npos) << "the service key alone reveals nothing";
    EXPECT_FALSE(DecodeTelemetryRecord(r.payload).has_value());
  }
  log.reset();

  COFFRE_ASSERT_OK_AND_ASSIGN(auto back, store_->Read(p, 0, 100, SIZE_MAX));
  ASSERT_EQ(back.size(), 30u);
  EXPECT_NE(AsChars(back[0].message.body).find(marker), std::string_view::npos) << "both keys: it reads";
}

TEST_F(TelemetryStoreTest, UncommittedMessagesAreNotReadable) {
  int p = store_->PartitionOf("dev-02");
  std::vector<TelemetryMessage> batch = {Message("dev-02", 1)};
  COFFRE_ASSERT_OK(store_->Append(p, batch).status());
  EXPECT_TRUE(store_->Read(p, 0, 10, SIZE_MAX)->empty());
  COFFRE_ASSERT_OK(store_->Commit(p));
  EXPECT_EQ(store_->Read(p, 0, 10, SIZE_MAX)->size(), 1u);
}

// Double encryption, shown: the raw files hold neither the message text nor the customer
// layer's ciphertext of it (so the infrastructure layer really applies).
TEST_F(TelemetryStoreTest, NeitherPlaintextNorCustomerCiphertextIsOnDisk) {
  TelemetryMessage m = Message("dev-03", 1);
  m.body = ToBytes("A-VERY-RECOGNISABLE-TELEMETRY-BODY-0123456789");
  int p = store_->PartitionOf("dev-03");
  COFFRE_ASSERT_OK(store_->Append(p, {&m, 1}).status());
  COFFRE_ASSERT_OK(store_->Commit(p));
  COFFRE_ASSERT_OK(kv_->DestroyDeletedData());
  EXPECT_THAT(FilesContaining(dir_.path(), m.body), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes("dev-03")), ::testing::IsEmpty());
  // The customer-layer envelope as storage received it, read through the file cipher.
  store_.reset();
  auto log = std::move(storage::SegmentLog::Open(dir_.path() / "telemetry" / std::to_string(p),
                                                 {64 * 1024, &service_key_}).value());
  auto records = std::move(log->Read(0, 1, SIZE_MAX).value());
  ASSERT_EQ(records.size(), 1u);
  Bytes tail(records[0].payload.end() - 48, records[0].payload.end());
  EXPECT_THAT(FilesContaining(dir_.path(), tail), ::testing::IsEmpty());
}

TEST_F(TelemetryStoreTest, ARecordMovedToAnotherOffsetDoesNotOpen) {
  AppendAndCommit("dev-04", 0, 2);
  int p = store_->PartitionOf("dev-04");
  store_.reset();
  // Rewrite the log so record 1 carries record 0's sealed bytes.
  auto dir = dir_.path() / "telemetry" / std::to_string(p);
  Bytes first;
  {
    auto log = std::move(storage::SegmentLog::Open(dir, {64 * 1024, &service_key_}).value());
    first = std::move(log->Read(0, 1, SIZE_MAX).value()[0].payload);
  }
  std::filesystem::remove_all(dir);
  {
    auto log = std::move(storage::SegmentLog::Open(dir, {64 * 1024, &service_key_}).value());
    std::vector<storage::LogRecord> records = {{0, 1, first}, {1, 1, first}};
    COFFRE_ASSERT_OK(log->Append(records));
    COFFRE_ASSERT_OK(log->Sync());
  }
  Open();
  EXPECT_EQ(store_->Read(p, 0, 1, SIZE_MAX)->size(), 1u);
  EXPECT_THAT(store_->Read(p, 1, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace coffre::hub
