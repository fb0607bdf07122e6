#include "hub/telemetry_store.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "crypto/envelope.h"
#include "hub/telemetry_store_partition.h"

namespace coffre::hub {

// A benchmark build (cmake -DCOFFRE_WITHOUT_CUSTOMER_LAYER=ON, bench/compare_mosquitto.sh) stores
// telemetry records unsealed, under the infrastructure file cipher only, to measure what the
// customer layer costs. A build flag on purpose: no runtime switch can turn the layer off.
#ifdef COFFRE_WITHOUT_CUSTOMER_LAYER
constexpr bool kCustomerLayer = false;
#else
constexpr bool kCustomerLayer = true;
#endif

// How many devices' keys one Append remembers while it seals its batch.
constexpr size_t kBatchDeviceKeys = 16;

namespace {

// The sequence numbers of a batch of `count` records from `first`.
std::vector<uint64_t> Consecutive(uint64_t first, size_t count) {
  std::vector<uint64_t> sequences(count);
  for (size_t i = 0; i < count; ++i) sequences[i] = first + i;
  return sequences;
}

}  // namespace

// How often a node reads the ends other hub nodes reached (cluster mode).
constexpr auto kRefreshEvery = std::chrono::milliseconds(100);

TelemetryStore::~TelemetryStore() {
  {
    std::lock_guard<std::mutex> guard(follow_mu_);
    follow_stop_ = true;
  }
  follow_stop_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
}

void TelemetryStore::FollowOtherWriters() {
  std::unique_lock<std::mutex> lock(follow_mu_);
  while (!follow_stop_cv_.wait_for(lock, kRefreshEvery, [this] { return follow_stop_; })) {
    lock.unlock();
    for (int p = 0; p < partitions(); ++p) {
      const uint64_t before = end_sequence(p);
      // A failed read is tried again next time (the store may be failing over).
      if (!partitions_[static_cast<size_t>(p)]->log->Refresh().ok()) continue;
      if (end_sequence(p) > before) waiters_.Notify(p, end_sequence(p));
    }
    lock.lock();
  }
}

TelemetryStore::TelemetryStore(HubKeys& keys, storage::KvStore& kv, TelemetryStoreOptions options)
    : keys_(keys), heads_(kv, keys, options.hub_name), options_(std::move(options)) {}

Result<std::unique_ptr<TelemetryStore>> TelemetryStore::Open(const std::filesystem::path& dir,
                                                             HubKeys& keys, storage::KvStore& kv,
                                                             TelemetryStoreOptions options) {
  if (options.partitions < 1 || options.partitions > 32) {
    return InvalidArgument("a hub has 1 to 32 telemetry partitions");
  }
  if (!kCustomerLayer) {
    LogLine("telemetry", "BENCHMARK BUILD: the customer encryption layer is compiled out; "
                         "telemetry is stored without it. Never use this build for real data.");
  }
  std::unique_ptr<TelemetryStore> store(new TelemetryStore(keys, kv, options));
  for (int p = 0; p < options.partitions; ++p) {
    auto part = std::make_unique<Partition>();
    if (options.open_log) {
      COFFRE_ASSIGN_OR_RETURN(part->log, options.open_log(p));
    } else {
      COFFRE_ASSIGN_OR_RETURN(part->log,
                              storage::SegmentLog::Open(dir / std::to_string(p), options.log));
    }
    // A fresh data key per partition and incarnation (nonce discipline, docs/FORMAT.md).
    // Started on the first append: a hub may open while its keys are inaccessible.
    part->last_enqueued_ms = part->log->last_time_ms();
    store->partitions_.push_back(std::move(part));
  }
  if (store->partitions_.front()->log->shared_writers()) {
    store->follower_ = std::thread([s = store.get()] { s->FollowOtherWriters(); });
  }
  if (!keys.locked()) {
    // Report what is missing or replaced now; a locked hub does it once its keys are back.
    for (int p = 0; p < options.partitions; ++p) (void)store->Check(p);
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

Result<std::vector<storage::LogRecord>> TelemetryStore::SealRecords(
    int partition, Partition& part, std::span<const TelemetryMessage> messages, uint64_t next,
    storage::ChainLink& link, int64_t& last_enqueued_ms) {
  std::vector<storage::LogRecord> records;
  part.sealed.resize(messages.size());
  // Rotation by age is decided once per batch (one clock read), by volume per record.
  auto now = std::chrono::steady_clock::now();
  bool too_old = now - part.writer_started > options_.data_key_max_age;
  // The device keys this batch used, looked up once per device and batch (a batch holds a few
  // devices' messages); dropped with the batch, so an erasure reaches every copy.
  std::vector<std::shared_ptr<const crypto::DeviceKey>> batch_keys;
  std::vector<std::string_view> batch_devices;
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
    int64_t enqueued_ms = std::max(messages[i].enqueued_ms, last_enqueued_ms);
    last_enqueued_ms = enqueued_ms;
    EncodeTelemetryRecord(messages[i], enqueued_ms, part.plain);
    Bytes& sealed = part.sealed[i];
    if constexpr (kCustomerLayer) {
      AppendAad(part.aad, partition, seq);
      part.aad.append(reinterpret_cast<const char*>(link.data()), link.size());
      if (options_.device_keys != nullptr) {
        std::string_view id = messages[i].device_id;
        size_t k = 0;
        while (k < batch_devices.size() && batch_devices[k] != id) ++k;
        std::shared_ptr<const crypto::DeviceKey> looked_up;
        if (k == batch_devices.size()) {
          COFFRE_ASSIGN_OR_RETURN(looked_up, options_.device_keys->For(
                                                 id, messages[i].auth_generation_id.value_or("")));
          if (k < kBatchDeviceKeys) {  // the search stays short
            batch_devices.push_back(id);
            batch_keys.push_back(looked_up);
          }
        }
        const crypto::DeviceKey* device = looked_up ? looked_up.get() : batch_keys[k].get();
        sealed.resize(crypto::SealedEnvelopeSize(part.plain.size()) + crypto::kDeviceKeyFieldSize);
        COFFRE_RETURN_IF_ERROR(
            part.writer->SealForDevice(*device, AsBytes(part.aad), part.plain, sealed));
      } else {
        sealed.resize(crypto::SealedEnvelopeSize(part.plain.size()));
        COFFRE_RETURN_IF_ERROR(part.writer->Seal(AsBytes(part.aad), part.plain, sealed));
      }
    } else {
      sealed = part.plain;
    }
    records.push_back({seq, enqueued_ms, sealed, link});
    link = storage::NextLink(link, seq, enqueued_ms, sealed);
  }
  crypto::Cleanse(part.plain);
  return records;
}

Result<std::vector<uint64_t>> TelemetryStore::Append(int partition,
                                                     std::span<const TelemetryMessage> messages) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  COFFRE_RETURN_IF_ERROR(PrepareToWrite(partition));
  if (part.log->shared_writers()) return AppendShared(partition, part, messages);
  uint64_t next = part.log->next_sequence();
  storage::ChainLink link = part.link;
  COFFRE_ASSIGN_OR_RETURN(std::vector<storage::LogRecord> records,
                          SealRecords(partition, part, messages, next, link, part.last_enqueued_ms));
  Status appended = part.log->Append(records);
  // A batch that fails halfway (a new segment that cannot be made) keeps what was written: the
  // next record follows the last one written, whichever that is.
  size_t written = static_cast<size_t>(part.log->next_sequence() - next);
  part.link = written < records.size() ? records[written].link : link;
  COFFRE_RETURN_IF_ERROR(appended);
  return Consecutive(next, records.size());
}

// Sealed for the place the batch gets under the partition's lock, committed there: durable
// (and readable) on return already.
Result<std::vector<uint64_t>> TelemetryStore::AppendShared(int partition, Partition& part,
                                                           std::span<const TelemetryMessage> messages) {
  storage::ChainLink link_after{};
  int64_t last_ms = 0;
  auto seal = [&](const storage::AppendPosition& at) -> Result<std::vector<storage::LogRecord>> {
    storage::ChainLink link{};
    if (at.link) {
      link = *at.link;
    } else {
      // No writer has continued since this node's check: the link it found (after the last
      // record, or the head's past records found missing).
      std::lock_guard<std::mutex> guard(part.check_mu);
      if (at.next != part.resume_at) {
        return FailedPrecondition("telemetry partition " + std::to_string(partition) +
                                  ": the chain link after record " + std::to_string(at.next - 1) +
                                  " is not known (its record is missing)");
      }
      link = part.resume_link;
    }
    int64_t floor = std::max(at.last_time_ms, part.last_enqueued_ms);
    COFFRE_ASSIGN_OR_RETURN(std::vector<storage::LogRecord> records,
                            SealRecords(partition, part, messages, at.next, link, floor));
    link_after = link;
    last_ms = floor;
    return records;
  };
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, part.log->AppendShared(seal));
  part.link = link_after;
  part.last_enqueued_ms = last_ms;
  part.written_end = first + messages.size();
  return Consecutive(first, messages.size());
}

Status TelemetryStore::Commit(int partition) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  COFFRE_RETURN_IF_ERROR(part.log->Sync());
  // The head follows the records, never leads them: a crash between the two leaves durable
  // records past the head, which the next start accepts. With other writers, this node's
  // head ends after its own last batch (the link it knows).
  uint64_t end = part.log->shared_writers() ? part.written_end : part.log->durable_sequence();
  Status headed;
  if (kCustomerLayer && part.prepared && end > part.head.end) {
    TelemetryHead next = part.head;
    next.end = end;
    next.link = part.link;
    headed = StoreHead(part, partition, next, /*sync=*/false);
  }
  // The records are durable either way: readers may have them, the batch is acknowledged only
  // with its head stored.
  waiters_.Notify(partition, end_sequence(partition));  // after the new end is visible
  return headed;
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
  std::lock_guard<std::mutex> hold(retention_mu_);
  if (retention_holds_ > 0) return size_t{0};  // a backup is reading; the next pass expires
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  if (kCustomerLayer) {
    // The head's new start is durable before any segment goes, so a crash between the two
    // leaves segments the head no longer counts, never a head that counts missing ones.
    COFFRE_RETURN_IF_ERROR(PrepareToWrite(partition));
    uint64_t first = part.log->FirstSequenceAfterExpiry(time_ms);
    if (first > part.head.first) {
      TelemetryHead next = part.head;
      next.first = first;
      std::erase_if(next.breaks, [first](const IntegrityBreak& b) { return b.to <= first; });
      COFFRE_RETURN_IF_ERROR(StoreHead(part, partition, next, /*sync=*/true));
    }
  }
  return part.log->ExpireBefore(time_ms);
}

TelemetryStore::RetentionHold::RetentionHold(TelemetryStore& store) : store_(store) {
  std::lock_guard<std::mutex> guard(store_.retention_mu_);
  ++store_.retention_holds_;
}

TelemetryStore::RetentionHold::~RetentionHold() {
  std::lock_guard<std::mutex> guard(store_.retention_mu_);
  --store_.retention_holds_;
}

Result<std::vector<storage::StoredRecord>> TelemetryStore::ReadSealed(int partition,
                                                                      uint64_t from,
                                                                      size_t max_records,
                                                                      size_t max_bytes) const {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  const storage::PartitionLog& log = *partitions_[static_cast<size_t>(partition)]->log;
  for (const storage::PartitionLog::Gap& g : log.gaps()) {
    if (from >= g.from && from < g.to) from = g.to;
  }
  return log.Read(from, max_records, max_bytes);
}

uint64_t TelemetryStore::end_sequence(int partition) const {
  return partitions_[static_cast<size_t>(partition)]->log->durable_sequence();
}

uint64_t TelemetryStore::begin_sequence(int partition) const {
  return partitions_[static_cast<size_t>(partition)]->log->first_sequence();
}

uint64_t TelemetryStore::disk_bytes(int partition) const {
  return partitions_[static_cast<size_t>(partition)]->log->disk_bytes();
}

Result<std::vector<StoredMessage>> TelemetryStore::Read(int partition, uint64_t from,
                                                        size_t max_messages, size_t max_bytes) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  const Partition& part = *partitions_[static_cast<size_t>(partition)];
  // At or past the end this node knows: other writers may have committed since (a reader
  // tailing the partition asks from the end, and must see what another node acknowledged
  // before its next poll).
  if (part.log->shared_writers() && from >= part.log->durable_sequence()) {
    COFFRE_RETURN_IF_ERROR(part.log->Refresh());
  }
  std::vector<IntegrityBreak> breaks;
  if constexpr (kCustomerLayer) {
    COFFRE_ASSIGN_OR_RETURN(breaks, Breaks(partition));
  }
  uint64_t stop = UINT64_MAX;  // the first break after `from`: not read past
  for (const IntegrityBreak& b : breaks) {
    if (from >= b.from && from < b.to) return DataLoss(Where(partition, b) + "; not served");
    if (b.from > from) stop = std::min(stop, b.from);
  }
  // One record more before `from`, to check that the first one follows it.
  bool with_previous = kCustomerLayer && from > part.log->first_sequence() &&
                       std::none_of(breaks.begin(), breaks.end(), [&](const IntegrityBreak& b) {
                         return from - 1 >= b.from && from - 1 < b.to;
                       });
  uint64_t start = with_previous ? from - 1 : from;
  size_t max = std::min(max_messages, SIZE_MAX - 1);
  COFFRE_ASSIGN_OR_RETURN(auto records,
                          part.log->Read(start, max + (with_previous ? 1 : 0), max_bytes));
  const size_t servable = records.size();
  // And the record after the last one: a record put back in place of another opens where it
  // stands, but the one after it does not follow it.
  if (kCustomerLayer && !records.empty()) {
    uint64_t after = records.back().sequence + 1;
    if (after < part.log->durable_sequence() && after < stop) {
      auto next = part.log->Read(after, 1, SIZE_MAX);
      if (next.has_value() && !next->empty()) records.push_back(std::move(next->front()));
    }
  }
  auto chained = [&](size_t a) {  // records[a] and records[a + 1], when both are there
    return a + 1 >= records.size() || records[a].sequence + 1 != records[a + 1].sequence ||
           Follows(records[a], records[a + 1]);
  };
  std::vector<StoredMessage> out;
  for (size_t i = 0; i < servable; ++i) {
    const storage::StoredRecord& r = records[i];
    if (r.sequence >= stop) break;
    if (r.sequence < from) continue;  // the record before: only to check the first one
    if constexpr (!kCustomerLayer) {
      COFFRE_ASSIGN_OR_RETURN(TelemetryMessage m, DecodeTelemetryRecord(r.payload));
      out.push_back({r.sequence, std::move(m), std::nullopt});
      continue;
    }
    NotOpened why;
    Result<Bytes> plain = OpenRecord(partition, r, &why);
    if (!plain.has_value() && plain.error().code() == StatusCode::kNotFound) {
      // Erased: nothing opens it, so the chain alone says it is the record stored here.
      if ((i > 0 && !chained(i - 1)) || !chained(i)) {
        if (!out.empty()) return out;
        return DataLoss(NotChained(partition, chained(i) ? r.sequence - 1 : r.sequence) +
                        "; not served");
      }
      TelemetryMessage marker;  // who sent it and when it arrived: no more
      marker.device_id = why.erasure.device_id;
      marker.enqueued_ms = r.time_ms;
      out.push_back({r.sequence, std::move(marker), std::move(why.erasure)});
      continue;
    }
    if (!plain.has_value()) {
      // What comes before a record that does not open is served; the next read from it fails.
      if (!out.empty() && plain.error().code() == StatusCode::kDataLoss) return out;
      return plain.error();
    }
    // Two records that both open where they stand but do not chain: one of them is an older
    // copy put back (sealed for the same place before a crash). Neither is served. A neighbour
    // that does not open is that record's own failure, not this one's.
    bool ambiguous = (i > 0 && !chained(i - 1)) ||
                     (!chained(i) && OpenRecord(partition, records[i + 1]).has_value());
    if (ambiguous) {
      crypto::Cleanse(*plain);
      if (!out.empty()) return out;  // what comes before the break is served
      return DataLoss(NotChained(partition, chained(i) ? r.sequence - 1 : r.sequence) +
                      "; not served");
    }
    Result<TelemetryMessage> m = DecodeTelemetryRecord(*plain);
    crypto::Cleanse(*plain);
    if (!m.has_value()) return m.error();
    out.push_back({r.sequence, std::move(*m), std::nullopt});
  }
  return out;
}

}  // namespace coffre::hub
