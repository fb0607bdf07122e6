#include "hubservice/hub_restore.h"

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

Result<OpenedKeys> OpenKeys(const fs::path& meta, const HubOptions& o,
                            const crypto::SecretBytes& service_key, storage::DiskReserve* reserve,
                            const hub::KeyCustody::ProviderFactory& customer_keys,
                            const hub::BackupHeader* seed) {
  OpenedKeys out;
  COFFRE_ASSIGN_OR_RETURN(out.kv, storage::RocksKvStore::Open(meta, {nullptr, &service_key, reserve}));
  if (seed != nullptr) {
    // The two rows the keys open from, ahead of the stream they open.
    COFFRE_RETURN_IF_ERROR(out.kv->Write({{hub::kEncryptionSettingsRow, seed->settings_row},
                                          {hub::kRootKeyRow, seed->root_key_row}},
                                         /*sync=*/true));
  }
  COFFRE_ASSIGN_OR_RETURN(out.config, hub::EncryptionConfig::Load(*out.kv, o.encryption));
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

// Step 3. `staged`: the restored data's store and keys.
Status CarryErasures(const HubOptions& o, const crypto::SecretBytes& service_key,
                     storage::DiskReserve* reserve,
                     const hub::KeyCustody::ProviderFactory& customer_keys, OpenedKeys& staged) {
  fs::path current_meta = o.dir / "meta";
  if (!fs::exists(current_meta)) return Status::Ok();  // nothing here yet
  auto refuse = [&](const std::string& why) -> Status {
    if (o.restore_discard_current) {
      LogLine("restore", "discarding the data in " + o.dir.string() + " (" + why +
                             "): erasures made there are not carried over");
      return Status::Ok();
    }
    return FailedPrecondition(
        o.dir.string() + " holds data " + why +
        ", so its erasures cannot be carried into the restored data; move it away, or restore "
        "with --discard-current-data to replace it anyway");
  };
  Result<OpenedKeys> current = OpenKeys(current_meta, o, service_key, reserve, customer_keys, nullptr);
  if (!current.has_value()) return refuse("that cannot be opened (" + current.error().message() + ")");
  // One hub has one root key for life (rotations rewrap it): equal derived MACs, same hub.
  Result<Bytes> ours = staged.keys->Hmac("restore/same-hub", "");
  Result<Bytes> theirs = current->keys->Hmac("restore/same-hub", "");
  if (!ours.has_value()) return ours.error();
  if (!theirs.has_value() || *ours != *theirs) return refuse("of another hub");

  hub::SealedRows current_rows(*current->kv, *current->keys);
  hub::DeviceKeys current_device_keys(*current->keys, current_rows, SystemClock());
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
  LogLine("restore", "restoring the backup of " + h.hub_name + " made " +
                         FormatIsoTime(h.created_ms) + " (" + std::to_string(h.records) +
                         " records) from " + o.restore_from.string());
  {
    COFFRE_ASSIGN_OR_RETURN(OpenedKeys staged,
                            OpenKeys(staging / "meta", o, service_key, reserve, customer_keys, &h));
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, staged.keys->DeriveKey(h.KeyLabel()));
    COFFRE_RETURN_IF_ERROR(reader->Unlock(key));
    storage::SegmentLogOptions log_options = o.telemetry.log;
    log_options.service_key = &service_key;
    log_options.reserve = reserve;
    COFFRE_RETURN_IF_ERROR(WriteContents(*reader, *staged.kv, staging / "telemetry", log_options));
    // The rows are the hub's as they were: their digests must agree.
    COFFRE_ASSIGN_OR_RETURN(std::vector<hub::MetadataBreak> breaks,
                            staged.keys->row_digests().Check());
    if (!breaks.empty()) {
      LogLine("restore", "warning: the backup's metadata carries " + std::to_string(breaks.size()) +
                             " integrity break(s) the hub had when it was backed up");
    }
    COFFRE_RETURN_IF_ERROR(CarryErasures(o, service_key, reserve, customer_keys, staged));
  }
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
