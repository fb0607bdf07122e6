#include "hub/telemetry_store.h"

#include <charconv>

#include "common/log.h"
#include "crypto/envelope.h"

namespace coffre::hub {

// A benchmark build (cmake -DCOFFRE_WITHOUT_CUSTOMER_LAYER=ON, bench/compare_mosquitto.sh) stores
// telemetry records unsealed, under the infrastructure file cipher only, to measure what the
// customer layer costs. A build flag on purpose: no runtime switch can turn the layer off.
#ifdef COFFRE_WITHOUT_CUSTOMER_LAYER
constexpr bool kCustomerLayer = false;
#else
constexpr bool kCustomerLayer = true;
#endif

struct TelemetryStore::Partition {
  std::unique_ptr<storage::SegmentLog> log;
  std::shared_ptr<crypto::EnvelopeWriter> writer;  // this incarnation's data key
  Bytes plain;                                     // reused encode buffer
  std::string aad;                                 // reused AAD buffer
  std::vector<Bytes> sealed;                       // reused envelope buffers
  int64_t last_enqueued_ms = 0;                    // times never decrease (SeekTime relies on it)
  std::chrono::steady_clock::time_point writer_started;
};

TelemetryStore::~TelemetryStore() = default;

TelemetryStore::TelemetryStore(HubKeys& keys, TelemetryStoreOptions options)
    : keys_(keys), options_(std::move(options)) {}

Result<std::unique_ptr<TelemetryStore>> TelemetryStore::Open(const std::filesystem::path& dir,
                                                             HubKeys& keys,
                                                             TelemetryStoreOptions options) {
  if (options.partitions < 1 || options.partitions > 32) {
    return InvalidArgument("a hub has 1 to 32 telemetry partitions");
  }
  if (!kCustomerLayer) {
    LogLine("telemetry", "BENCHMARK BUILD: the customer encryption layer is compiled out; "
                         "telemetry is stored without it. Never use this build for real data.");
  }
  std::unique_ptr<TelemetryStore> store(new TelemetryStore(keys, options));
  for (int p = 0; p < options.partitions; ++p) {
    auto part = std::make_unique<Partition>();
    COFFRE_ASSIGN_OR_RETURN(part->log,
                            storage::SegmentLog::Open(dir / std::to_string(p), options.log));
    // A fresh data key per partition and incarnation (nonce discipline, docs/FORMAT.md).
    // Started on the first append: a hub may open while its keys are inaccessible.
    part->last_enqueued_ms = part->log->last_time_ms();
    store->partitions_.push_back(std::move(part));
  }
  return store;
}

int TelemetryStore::PartitionOf(std::string_view device_id) const {
  uint32_t h = 2166136261u;
  for (char c : device_id) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return static_cast<int>(h % static_cast<uint32_t>(partitions_.size()));
}

std::string TelemetryStore::Aad(int partition, uint64_t sequence) const {
  std::string aad;
  AppendAad(aad, partition, sequence);
  return aad;
}

// Into a reused string: no allocation per record on the append path.
void TelemetryStore::AppendAad(std::string& out, int partition, uint64_t sequence) const {
  out.clear();
  out += "telemetry/";
  out += options_.hub_name;
  out += '/';
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, partition).ptr;
  out.append(digits, end);
  out += '/';
  end = std::to_chars(digits, digits + sizeof digits, sequence).ptr;
  out.append(digits, end);
}

Result<std::vector<uint64_t>> TelemetryStore::Append(int partition,
                                                     std::span<const TelemetryMessage> messages) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  uint64_t next = part.log->next_sequence();
  std::vector<uint64_t> sequences;
  std::vector<storage::LogRecord> records;
  part.sealed.resize(messages.size());
  // Rotation by age is decided once per batch (one clock read), by volume per record.
  auto now = std::chrono::steady_clock::now();
  bool too_old = now - part.writer_started > options_.data_key_max_age;
  for (size_t i = 0; i < messages.size(); ++i) {
    uint64_t seq = next + i;
    // Rotation by volume (the writer's budget), by age, or after the keys were locked.
    if (kCustomerLayer && (!part.writer || part.writer->exhausted() || too_old)) {
      COFFRE_ASSIGN_OR_RETURN(part.writer, keys_.StartWriter(static_cast<uint32_t>(partition),
                                                             options_.data_key_max_records));
      part.writer_started = now;
      too_old = false;
    }
    part.plain.clear();
    int64_t enqueued_ms = std::max(messages[i].enqueued_ms, part.last_enqueued_ms);
    part.last_enqueued_ms = enqueued_ms;
    EncodeTelemetryRecord(messages[i], enqueued_ms, part.plain);
    Bytes& sealed = part.sealed[i];
    if constexpr (kCustomerLayer) {
      sealed.resize(crypto::SealedEnvelopeSize(part.plain.size()));
      AppendAad(part.aad, partition, seq);
      COFFRE_RETURN_IF_ERROR(part.writer->Seal(AsBytes(part.aad), part.plain, sealed));
    } else {
      sealed = part.plain;
    }
    records.push_back({seq, enqueued_ms, sealed});
    sequences.push_back(seq);
  }
  crypto::Cleanse(part.plain);
  COFFRE_RETURN_IF_ERROR(part.log->Append(records));
  return sequences;
}

Status TelemetryStore::Commit(int partition) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  COFFRE_RETURN_IF_ERROR(partitions_[static_cast<size_t>(partition)]->log->Sync());
  waiters_.Notify(partition, end_sequence(partition));  // after the new end is visible
  return Status::Ok();
}

void TelemetryStore::AwaitMessages(int partition, uint64_t from,
                                   std::chrono::steady_clock::time_point deadline,
                                   SequenceWaiters::Callback ready) {
  waiters_.Wait(partition, from, deadline, [this, partition] { return end_sequence(partition); },
                std::move(ready));
}

void TelemetryStore::WakeWaiters() { waiters_.WakeAll(); }

Result<uint64_t> TelemetryStore::SeekTime(int partition, int64_t time_ms) const {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  return partitions_[static_cast<size_t>(partition)]->log->SeekTime(time_ms);
}

Result<size_t> TelemetryStore::ExpireBefore(int partition, int64_t time_ms) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  return partitions_[static_cast<size_t>(partition)]->log->ExpireBefore(time_ms);
}

uint64_t TelemetryStore::end_sequence(int partition) const {
  return partitions_[static_cast<size_t>(partition)]->log->durable_sequence();
}

uint64_t TelemetryStore::begin_sequence(int partition) const {
  return partitions_[static_cast<size_t>(partition)]->log->first_sequence();
}

Result<std::vector<StoredMessage>> TelemetryStore::Read(int partition, uint64_t from,
                                                        size_t max_messages,
                                                        size_t max_bytes) const {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  const Partition& part = *partitions_[static_cast<size_t>(partition)];
  COFFRE_ASSIGN_OR_RETURN(auto records, part.log->Read(from, max_messages, max_bytes));
  std::vector<StoredMessage> out;
  for (const auto& r : records) {
    if constexpr (!kCustomerLayer) {
      COFFRE_ASSIGN_OR_RETURN(TelemetryMessage m, DecodeTelemetryRecord(r.payload));
      out.push_back({r.sequence, std::move(m)});
      continue;
    }
    std::string aad = Aad(partition, r.sequence);
    Result<Bytes> plain = keys_.Open(r.payload, AsBytes(aad));
    if (!plain.has_value()) {
      if (plain.error().code() == StatusCode::kUnavailable) return plain.error();  // locked
      return DataLoss("telemetry record " + std::to_string(partition) + "/" +
                      std::to_string(r.sequence) + " could not be opened");
    }
    Result<TelemetryMessage> m = DecodeTelemetryRecord(*plain);
    crypto::Cleanse(*plain);
    if (!m.has_value()) return m.error();
    out.push_back({r.sequence, std::move(*m)});
  }
  return out;
}

}  // namespace coffre::hub
