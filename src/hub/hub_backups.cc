#include "hub/hub_backups.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/encoding.h"
#include "common/files.h"
#include "common/log.h"
#include "crypto/random.h"
#include "hub/backup_stream.h"
#include "hub/encryption_settings.h"
#include "hub/telemetry_heads.h"

namespace coffre::hub {
namespace {

constexpr size_t kReadBatchRecords = 1024;
constexpr size_t kReadBatchBytes = 4u << 20;

Status Cancelled(bool stopping) {
  return Unavailable(stopping ? "the hub is stopping" : "the backup was deleted while it ran");
}

}  // namespace

struct HubBackups::Job {
  BackupStatus status;  // guarded by HubBackups::mu_
  std::atomic<bool> cancel{false};
};

HubBackups::HubBackups(storage::KvStore& kv, HubKeys& keys, TelemetryStore& store,
                       std::string hub_name, std::filesystem::path dir,
                       storage::DiskReserve* reserve, Clock& clock,
                       std::function<Status()> destroy_deleted)
    : kv_(kv),
      keys_(keys),
      store_(store),
      hub_name_(std::move(hub_name)),
      dir_(std::move(dir)),
      reserve_(reserve),
      clock_(clock),
      destroy_deleted_(std::move(destroy_deleted)) {
  // An earlier run's backups: nobody can name them any more.
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

HubBackups::~HubBackups() { Stop(); }

std::filesystem::path HubBackups::PathOf(std::string_view id) const {
  return dir_ / (std::string(id) + ".cbak");
}

HubBackups::Job* HubBackups::Find(std::string_view id) const {
  for (const auto& job : jobs_) {
    if (job->status.id == id) return job.get();
  }
  return nullptr;
}

Result<BackupStatus> HubBackups::Start(std::string_view requested_by) {
  std::lock_guard<std::mutex> workers(worker_mu_);
  if (stopping_) return Unavailable("the hub is stopping");
  std::lock_guard<std::mutex> guard(mu_);
  size_t kept = 0;
  for (const auto& job : jobs_) {
    if (job->status.state == "running") {
      return FailedPrecondition("backup " + job->status.id + " is running; one runs at a time");
    }
    if (job->status.state == "succeeded") ++kept;
  }
  if (kept >= kMaxKeptBackups) {
    return FailedPrecondition(std::to_string(kept) +
                              " backups are kept on the hub; download and delete one first");
  }
  if (worker_.joinable()) worker_.join();  // the last one, finished
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir_));
  std::byte random[4];
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(random));
  auto job = std::make_unique<Job>();
  job->status.started_ms = clock_.NowMillis();
  job->status.id = std::to_string(job->status.started_ms) + "-" + HexEncode(random);
  job->status.state = "running";
  job->status.requested_by = std::string(requested_by);
  Job& started = *job;
  jobs_.push_back(std::move(job));
  worker_ = std::thread([this, &started] { Run(started); });
  return started.status;
}

void HubBackups::Run(Job& job) {
  Status made = Write(job);
  // The snapshot kept what an erasure deleted meanwhile in the store's files: scrubbed now.
  if (destroy_deleted_) {
    if (Status scrubbed = destroy_deleted_(); !scrubbed.ok()) {
      LogLine(LogLevel::kWarning, "backup",
              "could not scrub the metadata store after the backup: " + scrubbed.message());
    }
  }
  std::filesystem::path partial = PathOf(job.status.id);
  partial += ".partial";
  if (made.ok()) {
    std::error_code ec;
    std::filesystem::rename(partial, PathOf(job.status.id), ec);
    if (ec) made = Internal("naming the backup: " + ec.message());
  }
  if (!made.ok()) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
  }
  std::lock_guard<std::mutex> guard(mu_);
  job.status.finished_ms = clock_.NowMillis();
  job.status.state = made.ok() ? "succeeded" : "failed";
  job.status.error = made.ok() ? "" : made.message();
  LogLine("backup", "backup " + job.status.id + " " + job.status.state +
                        (made.ok() ? ": " + std::to_string(job.status.rows) + " rows, " +
                                         std::to_string(job.status.records) + " records, " +
                                         std::to_string(job.status.bytes) + " bytes"
                                   : ": " + made.message()));
}

Status HubBackups::Write(Job& job) {
  auto stop = [&]() -> Status {
    if (job.cancel || stopping_) return Cancelled(stopping_);
    // The customer's key became inaccessible: no more of the hub goes out.
    if (keys_.locked()) return Unavailable("the hub's keys became inaccessible during the backup");
    return Status::Ok();
  };
  // No segment expires from here on, so the records the snapshot's heads count stay readable.
  TelemetryStore::RetentionHold hold(store_);
  // A partition without a head (written before heads existed, or whose head does not open) is
  // taken as its log holds it before the snapshot: what its rows need is in the snapshot then.
  std::vector<uint64_t> live_begin, live_end;
  for (int p = 0; p < store_.partitions(); ++p) {
    live_begin.push_back(store_.begin_sequence(p));
    live_end.push_back(store_.end_sequence(p));
  }
  COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<storage::KvStore> snapshot, kv_.Snapshot());

  BackupHeader header;
  header.hub_name = hub_name_;
  header.created_ms = clock_.NowMillis();
  header.salt.resize(16);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(header.salt));
  COFFRE_ASSIGN_OR_RETURN(header.settings_row, snapshot->Get(kEncryptionSettingsRow));
  COFFRE_ASSIGN_OR_RETURN(header.root_key_row, snapshot->Get(kRootKeyRow));
  header.partitions = store_.partitions();

  // Each partition's records as its head in the snapshot counts them; a partition without a
  // head (written before heads existed) as its log holds them now.
  struct Range {
    uint64_t first = 0, end = 0;
  };
  std::vector<Range> ranges;
  TelemetryHeads heads(*snapshot, keys_, hub_name_);
  for (int p = 0; p < store_.partitions(); ++p) {
    Result<std::optional<TelemetryHead>> loaded = heads.Load(p);
    if (!loaded.has_value() && loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
    std::optional<TelemetryHead> head = loaded.has_value() ? *loaded : std::nullopt;
    size_t i = static_cast<size_t>(p);
    Range r = head ? Range{head->first, head->end} : Range{live_begin[i], live_end[i]};
    ranges.push_back(r);
    header.records += r.end - r.first;
  }
  {
    std::lock_guard<std::mutex> guard(mu_);
    job.status.records_total = header.records;
  }

  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, keys_.DeriveKey(header.KeyLabel()));
  std::filesystem::path partial = PathOf(job.status.id);
  partial += ".partial";
  UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus("creating " + partial.string(), errno);
  std::function<Status(size_t)> room;
  if (reserve_ != nullptr) room = [this](size_t bytes) { return reserve_->Check(bytes); };
  COFFRE_ASSIGN_OR_RETURN(auto writer, BackupWriter::Start(std::move(fd), header, key, room));
  auto progress = [&](uint64_t rows) {
    std::lock_guard<std::mutex> guard(mu_);
    job.status.rows = rows;
    job.status.records = writer->records();
    job.status.bytes = writer->bytes_written();
  };

  uint64_t rows = 0;
  Status failed;
  COFFRE_RETURN_IF_ERROR(snapshot->Scan("", [&](std::string_view row, ByteSpan value) {
    failed = writer->AddRow(row, value);
    if (failed.ok() && ++rows % 1024 == 0) {
      progress(rows);
      failed = stop();
    }
    return failed.ok();
  }));
  COFFRE_RETURN_IF_ERROR(failed);
  progress(rows);

  for (int p = 0; p < store_.partitions(); ++p) {
    const Range& r = ranges[static_cast<size_t>(p)];
    COFFRE_RETURN_IF_ERROR(writer->BeginPartition(p, r.first, r.end));
    // Records the log lost below the head's first (a break the head keeps) are not there to read.
    uint64_t from = std::max(r.first, store_.begin_sequence(p));
    while (from < r.end) {
      COFFRE_RETURN_IF_ERROR(stop());
      Result<std::vector<storage::StoredRecord>> batch =
          store_.ReadSealed(p, from, kReadBatchRecords, kReadBatchBytes);
      if (!batch.has_value()) {
        return batch.error().WithContext("reading partition " + std::to_string(p) + " at " +
                                         std::to_string(from));
      }
      if (batch->empty()) break;  // the rest is missing (a known break; the head says so)
      for (const storage::StoredRecord& record : *batch) {
        if (record.sequence >= r.end) break;
        COFFRE_RETURN_IF_ERROR(writer->AddRecord(record));
        from = record.sequence + 1;
      }
      if (batch->back().sequence >= r.end) break;
      progress(rows);
    }
  }
  COFFRE_RETURN_IF_ERROR(stop());
  COFFRE_RETURN_IF_ERROR(writer->Finish());
  progress(rows);
  return Status::Ok();
}

Result<BackupStatus> HubBackups::Get(std::string_view id) const {
  std::lock_guard<std::mutex> guard(mu_);
  const Job* job = Find(id);
  if (job == nullptr) return NotFound("no backup " + std::string(id));
  return job->status;
}

std::vector<BackupStatus> HubBackups::List() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<BackupStatus> out;
  for (const auto& job : jobs_) out.push_back(job->status);
  return out;
}

Result<Bytes> HubBackups::Read(std::string_view id, uint64_t offset, size_t max_bytes) const {
  {
    std::lock_guard<std::mutex> guard(mu_);
    const Job* job = Find(id);
    if (job == nullptr) return NotFound("no backup " + std::string(id));
    if (job->status.state != "succeeded") {
      return FailedPrecondition("backup " + std::string(id) + " is " + job->status.state);
    }
  }
  std::filesystem::path path = PathOf(id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("opening backup " + std::string(id), errno);
  Bytes out(max_bytes);
  size_t done = 0;
  while (done < max_bytes) {
    ssize_t n = ::pread(fd.get(), out.data() + done, max_bytes - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("reading backup " + std::string(id), errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Status HubBackups::Delete(std::string_view id) {
  std::lock_guard<std::mutex> workers(worker_mu_);
  bool running = false;
  {
    std::lock_guard<std::mutex> guard(mu_);
    Job* job = Find(id);
    if (job == nullptr) return NotFound("no backup " + std::string(id));
    running = job->status.state == "running";
    if (running) job->cancel = true;
  }
  if (running && worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> guard(mu_);
  std::error_code ec;
  std::filesystem::remove(PathOf(id), ec);
  if (ec) return Internal("deleting backup " + std::string(id) + ": " + ec.message());
  std::erase_if(jobs_, [&](const auto& job) { return job->status.id == id; });
  return Status::Ok();
}

void HubBackups::Stop() {
  std::lock_guard<std::mutex> workers(worker_mu_);
  stopping_ = true;
  if (worker_.joinable()) worker_.join();
}

}  // namespace coffre::hub
