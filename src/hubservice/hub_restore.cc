#include "hubservice/hub_restore.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"
#include "hub/backup_stream.h"
#include "hub/c2d_queues.h"
#include "hub/device_keys.h"
#include "hub/encryption_settings.h"
#include "hub/erase_device.h"
#include "hub/registry.h"
#include "hub/sealed_rows.h"
#include "hub/twin_store.h"
#include "storage/rocks_kv_store.h"
#include "storage/segment_log.h"

namespace coffre::hubservice {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStagingDir = "restore";
constexpr const char* kReadyFile = "READY";
constexpr const char* kDataDirs[] = {"meta", "telemetry"};
constexpr size_t kRowBatch = 512;
constexpr size_t kRecordBatch = 256;

// A store and the hub keys over it, as a restore opens them (not a running hub's parts).
struct OpenedKeys {
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<hub::EncryptionConfig> config;
  std::unique_ptr<hub::KeyCustody> custody;
  std::unique_ptr<hub::HubKeys> keys;
};

// Opens the store at `meta` and the hub keys over it. `settings`: what the keys are unwrapped
// with when the store has none stored (a new store: the staging one). `root_key_row`, if given,
// is put in first: the backup's wrapped root key, ahead of the stream it opens.
Result<OpenedKeys> OpenKeys(const fs::path& meta, const HubOptions& o,
                            const crypto::SecretBytes& service_key, storage::DiskReserve* reserve,
                            const hub::KeyCustody::ProviderFactory& customer_keys,
                            const hub::EncryptionSettings& settings,
                            const Bytes* root_key_row = nullptr) {
  OpenedKeys out;
  COFFRE_ASSIGN_OR_RETURN(out.kv, storage::RocksKvStore::Open(meta, {nullptr, &service_key, reserve}));
  if (root_key_row != nullptr) {
    COFFRE_RETURN_IF_ERROR(out.kv->Put(hub::kRootKeyRow, *root_key_row, /*sync=*/true));
  }
  COFFRE_ASSIGN_OR_RETURN(out.config, hub::EncryptionConfig::Load(*out.kv, settings));
  out.custody = std::make_unique<hub::KeyCustody>(*out.config, service_key, o.dir, customer_keys);
  Status locked;
  COFFRE_ASSIGN_OR_RETURN(out.keys, out.custody->Open(*out.kv, &locked));
  if (out.keys->locked()) {
    return FailedPrecondition("the hub root key cannot be unwrapped: " + locked.message());
  }
  return out;
}

// Writes one partition's records into its own segment log.
class PartitionWriter {
 public:
  PartitionWriter(fs::path dir, storage::SegmentLogOptions options)
      : dir_(std::move(dir)), options_(options) {}

  Status Begin(uint64_t first) {
    COFFRE_ASSIGN_OR_RETURN(log_, storage::SegmentLog::Open(dir_, options_));
    return log_->BeginAt(first);
  }

  Status Add(storage::StoredRecord record) {
    if (!log_) return DataLoss("the backup holds a record outside any partition");
    if (!record.linked) {
      // Segments of the format before chain links are read, not written: a restore cannot
      // put such records back where they would open.
      return FailedPrecondition("the backup holds records written before chain links existed "
                                "(record " + std::to_string(record.sequence) +
                                "); restoring them is not supported");
    }
    uint64_t next = log_->next_sequence() + pending_.size();
    if (record.sequence < next) return DataLoss("the backup's records go backwards");
    if (record.sequence > next) {
      // Records the hub was missing when it was backed up: the restored log misses them too, as
      // a gap the hub reports (its head says they were acknowledged).
      COFFRE_RETURN_IF_ERROR(Flush());
      COFFRE_RETURN_IF_ERROR(log_->Sync());
      log_.reset();
      COFFRE_ASSIGN_OR_RETURN(log_, storage::SegmentLog::Open(dir_, options_));
      COFFRE_RETURN_IF_ERROR(log_->ResumeAt(record.sequence));
    }
    pending_.push_back(std::move(record));
    return pending_.size() >= kRecordBatch ? Flush() : Status::Ok();
  }

  Status Finish() {
    if (!log_) return Status::Ok();
    COFFRE_RETURN_IF_ERROR(Flush());
    COFFRE_RETURN_IF_ERROR(log_->Sync());
    log_.reset();
    return Status::Ok();
  }

 private:
  Status Flush() {
    if (pending_.empty()) return Status::Ok();
    std::vector<storage::LogRecord> records;
    records.reserve(pending_.size());
    for (const storage::StoredRecord& r : pending_) {
      records.push_back({r.sequence, r.time_ms, r.payload, r.link});
    }
    COFFRE_RETURN_IF_ERROR(log_->Append(records));
    pending_.clear();
    return Status::Ok();
  }

  fs::path dir_;
  storage::SegmentLogOptions options_;
  std::unique_ptr<storage::SegmentLog> log_;
  std::vector<storage::StoredRecord> pending_;
};

// Step 2: every row and record of the backup into the staging store and logs.
Status WriteContents(hub::BackupReader& reader, storage::KvStore& kv, const fs::path& telemetry,
                     storage::SegmentLogOptions log_options) {
  const hub::BackupHeader& h = reader.header();
  std::vector<storage::KvWrite> rows;
  std::optional<PartitionWriter> partition;
  uint64_t records = 0, reported = 0;
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(hub::BackupEntry e, reader.Next());
    switch (e.kind) {
      case hub::BackupEntry::Kind::kRow:
        rows.push_back({std::move(e.key), std::move(e.value)});
        if (rows.size() >= kRowBatch) {
          COFFRE_RETURN_IF_ERROR(kv.Write(rows, /*sync=*/false));
          rows.clear();
        }
        break;
      case hub::BackupEntry::Kind::kPartition:
        if (e.partition >= h.partitions) return DataLoss("the backup names a partition it lacks");
        if (partition) COFFRE_RETURN_IF_ERROR(partition->Finish());
        partition.emplace(telemetry / std::to_string(e.partition), log_options);
        COFFRE_RETURN_IF_ERROR(partition->Begin(e.first));
        break;
      case hub::BackupEntry::Kind::kRecord:
        if (!partition) return DataLoss("the backup holds a record outside any partition");
        COFFRE_RETURN_IF_ERROR(partition->Add(std::move(e.record)));
        // Progress, for the operator (coffre hub restore shows these lines).
        if (++records - reported >= std::max<uint64_t>(h.records / 10, 10000)) {
          reported = records;
          LogLine("restore", std::to_string(records) + " of " + std::to_string(h.records) +
                                 " records restored");
        }
        break;
      case hub::BackupEntry::Kind::kEnd:
        if (partition) COFFRE_RETURN_IF_ERROR(partition->Finish());
        COFFRE_RETURN_IF_ERROR(kv.Write(rows, /*sync=*/false));
        LogLine("restore", std::to_string(e.rows) + " rows and " + std::to_string(e.records) +
                               " records restored, all of the backup");
        return kv.Sync();
    }
  }
}

bool SameErasure(const hub::DeviceErasure& a, const hub::DeviceErasure& b) {
  return a.device_id == b.device_id && a.erased_ms == b.erased_ms;
}

// Step 3: `current` (this hub's data in DIR, the same root key) into `staged`.
Status CarryErasures(OpenedKeys& current, OpenedKeys& staged) {
  hub::SealedRows current_rows(*current.kv, *current.keys);
  hub::DeviceKeys current_device_keys(*current.keys, current_rows, SystemClock());
  COFFRE_ASSIGN_OR_RETURN(std::vector<hub::DeviceErasure> erased, current_device_keys.Erasures());

  hub::SealedRows rows(*staged.kv, *staged.keys);
  hub::DeviceKeys device_keys(*staged.keys, rows, SystemClock(),
                              [kv = staged.kv.get()] { return kv->DestroyDeletedData(); });
  COFFRE_ASSIGN_OR_RETURN(std::vector<hub::DeviceErasure> restored, device_keys.Erasures());
  hub::Registry registry(*staged.kv, *staged.keys, SystemClock());
  hub::TwinStore twins(rows, SystemClock());
  hub::C2dQueues c2d(rows, SystemClock());
  for (const hub::DeviceErasure& e : erased) {
    bool known = std::any_of(restored.begin(), restored.end(),
                             [&](const hub::DeviceErasure& r) { return SameErasure(r, e); });
    if (known) continue;
    COFFRE_RETURN_IF_ERROR(
        hub::EraseDevice(registry, twins, c2d, device_keys, e.device_id, e.erased_by, e.erased_ms)
            .status());
    LogLine("restore", "device " + e.device_id + " was erased after the backup (" +
                           FormatIsoTime(e.erased_ms) + ", by " + e.erased_by +
                           "): erased in the restored data too");
  }
  return Status::Ok();
}

Status RefuseCurrent(const HubOptions& o, const std::string& why) {
  return FailedPrecondition(
      o.dir.string() + " holds data " + why +
      ", so its erasures cannot be carried into the restored data; move it away, or restore "
      "with --discard-current-data to replace it anyway");
}

// Every data key epoch of the restored store moves past what this hub may have used since the
// backup: device records are sealed under a subkey named by (device key, scope, epoch), with a
// nonce counting from 0, so an epoch used again would repeat nonces under a restored device
// key. Past the current data's epochs, and 2^20 writer incarnations past the backup's.
Status AdvanceEpochs(storage::KvStore& staged, storage::KvStore* current) {
  constexpr std::string_view kEpochPrefix = "dek/epoch/";
  constexpr uint64_t kMargin = uint64_t{1} << 20;
  std::map<std::string, uint64_t> epochs;
  auto collect = [&](storage::KvStore& kv) {
    return kv.Scan(kEpochPrefix, [&](std::string_view row, ByteSpan value) {
      if (value.size() == 8) {
        uint64_t& e = epochs[std::string(row)];
        e = std::max(e, GetU64(value.data()));
      }
      return true;
    });
  };
  COFFRE_RETURN_IF_ERROR(collect(staged));
  if (current != nullptr) COFFRE_RETURN_IF_ERROR(collect(*current));
  std::vector<storage::KvWrite> writes;
  for (const auto& [row, epoch] : epochs) {
    Bytes value(8);
    PutU64(value.data(), epoch + kMargin);
    writes.push_back({row, std::move(value)});
  }
  return staged.Write(writes, /*sync=*/true);
}

}  // namespace

Status RestoreBackup(const HubOptions& o, const crypto::SecretBytes& service_key,
                     storage::DiskReserve* reserve,
                     const hub::KeyCustody::ProviderFactory& customer_keys) {
  fs::path staging = o.dir / kStagingDir;
  std::error_code ec;
  fs::remove_all(staging, ec);
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(staging));
  COFFRE_ASSIGN_OR_RETURN(auto reader, hub::BackupReader::Open(o.restore_from));
  const hub::BackupHeader& h = reader->header();
  if (h.partitions != o.telemetry.partitions) {
    return FailedPrecondition("the backup's hub has " + std::to_string(h.partitions) +
                              " telemetry partitions and this one " +
                              std::to_string(o.telemetry.partitions) +
                              ": start it with as many as the backup");
  }
  // Records and heads are sealed for the hub's name: under another they would not open.
  if (h.hub_name != o.host_names.front()) {
    return FailedPrecondition("the backup is of hub " + h.hub_name + " and this one is named " +
                              o.host_names.front() + ": start it with --host-name " + h.hub_name);
  }
  LogLine("restore", "restoring the backup of " + h.hub_name + " made " +
                         FormatIsoTime(h.created_ms) + " (" + std::to_string(h.records) +
                         " records) from " + o.restore_from.string());
  {
    // This hub's data in DIR, if any: its settings say which key and vault to trust (never the
    // backup's header, which nothing has authenticated yet), and its erasures are carried over.
    std::optional<OpenedKeys> current;
    if (fs::exists(o.dir / "meta")) {
      Result<OpenedKeys> opened =
          OpenKeys(o.dir / "meta", o, service_key, reserve, customer_keys, o.encryption);
      if (opened.has_value()) {
        current = std::move(*opened);
      } else if (!o.restore_discard_current) {
        return RefuseCurrent(o, "that cannot be opened (" + opened.error().message() + ")");
      }
    }
    const hub::EncryptionSettings trusted = current ? current->config->Get() : o.encryption;
    COFFRE_ASSIGN_OR_RETURN(OpenedKeys staged,
                            OpenKeys(staging / "meta", o, service_key, reserve, customer_keys,
                                     trusted, &h.root_key_row));
    // One hub has one root key for life (rotations rewrap it): equal derived MACs, same hub.
    if (current) {
      Result<Bytes> ours = staged.keys->Hmac("restore/same-hub", "");
      Result<Bytes> theirs = current->keys->Hmac("restore/same-hub", "");
      if (!ours.has_value()) return ours.error();
      if (!theirs.has_value() || *ours != *theirs) {
        if (!o.restore_discard_current) return RefuseCurrent(o, "of another hub");
        current.reset();
      }
    }
    if (!current && fs::exists(o.dir / "meta")) {
      LogLine(LogLevel::kWarning, "restore",
              "discarding the data in " + o.dir.string() +
                  " (--discard-current-data): erasures made there are not carried over");
    }
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, staged.keys->DeriveKey(h.KeyLabel()));
    COFFRE_RETURN_IF_ERROR(reader->Unlock(key));
    storage::SegmentLogOptions log_options = o.telemetry.log;
    log_options.service_key = &service_key;
    log_options.reserve = reserve;
    COFFRE_RETURN_IF_ERROR(WriteContents(*reader, *staged.kv, staging / "telemetry", log_options));
    // The settings stay this hub's (the backup's name paths and a vault of the machine it was
    // made on), and no data key epoch is used twice.
    COFFRE_RETURN_IF_ERROR(staged.config->Set(trusted));
    COFFRE_RETURN_IF_ERROR(AdvanceEpochs(*staged.kv, current ? current->kv.get() : nullptr));
    // The rows are the hub's as they were: their digests must agree.
    COFFRE_ASSIGN_OR_RETURN(std::vector<hub::MetadataBreak> breaks,
                            staged.keys->row_digests().Check());
    if (!breaks.empty()) {
      LogLine(LogLevel::kWarning, "restore",
              "the backup's metadata carries " + std::to_string(breaks.size()) +
                  " integrity break(s) the hub had when it was backed up");
    }
    if (current) COFFRE_RETURN_IF_ERROR(CarryErasures(*current, staged));
    COFFRE_RETURN_IF_ERROR(staged.kv->Sync());
  }
  // The new directories' entries are durable before READY lets the old data go.
  if (fs::exists(staging / "telemetry")) COFFRE_RETURN_IF_ERROR(SyncDirectory(staging / "telemetry"));
  COFFRE_RETURN_IF_ERROR(SyncDirectory(staging));
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(staging / kReadyFile, {}));
  return FinishRestore(o.dir);
}

Status FinishRestore(const fs::path& dir) {
  fs::path staging = dir / kStagingDir;
  std::error_code ec;
  if (!fs::exists(staging)) return Status::Ok();
  if (!fs::exists(staging / kReadyFile)) {
    fs::remove_all(staging, ec);
    if (ec) return Internal("removing an unfinished restore: " + ec.message());
    LogLine("restore", "an unfinished restore was discarded; the data is as it was before it");
    return Status::Ok();
  }
  // Each step can be done again: a crash in the middle is finished by the next start.
  for (const char* name : kDataDirs) {
    if (!fs::exists(staging / name)) continue;
    fs::remove_all(dir / name, ec);
    if (ec) return Internal("replacing " + (dir / name).string() + ": " + ec.message());
    fs::rename(staging / name, dir / name, ec);
    if (ec) return Internal("replacing " + (dir / name).string() + ": " + ec.message());
    COFFRE_RETURN_IF_ERROR(SyncDirectory(dir));
  }
  fs::remove_all(staging, ec);
  if (ec) return Internal("removing " + staging.string() + ": " + ec.message());
  COFFRE_RETURN_IF_ERROR(SyncDirectory(dir));
  LogLine("restore", "the restored data is in place in " + dir.string());
  return Status::Ok();
}

}  // namespace coffre::hubservice
