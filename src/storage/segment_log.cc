#include "storage/segment_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/files.h"
#include "storage/file_cipher.h"

namespace coffre::storage {
namespace {

constexpr char kMagic[8] = {'C', 'F', 'S', 'E', 'G', '0', '0', '1'};
constexpr uint64_t kHeaderBytes = 512;
constexpr uint32_t kFlagEncrypted = 1;
constexpr size_t kCipherHeaderAt = 24;  // the file cipher's header (wrapped per-segment key)
constexpr uint32_t kFormatUnchained = 1;     // records without a chain link (older segments)
constexpr uint32_t kFormatChained = 2;       // what this version writes
constexpr uint64_t kUnchainedHeaderBytes = 24;  // length, crc, sequence, time
constexpr uint64_t kChainedHeaderBytes = 40;    // ... and the record's chain link
constexpr uint64_t kMaxRecordHeaderBytes = kChainedHeaderBytes;
constexpr uint64_t kMaxSequence = uint64_t{1} << 62;  // far beyond any log; no sum near it wraps
constexpr uint64_t kIndexEvery = 64;         // a sparse index entry every 64 records
constexpr size_t kWipeChunk = 1 << 20;

std::string SegmentName(uint64_t first_sequence) {
  char name[40];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(first_sequence));
  return name;
}

uint32_t RecordCrc(const std::byte* header, uint64_t header_bytes, ByteSpan payload) {
  // Over the header from byte 8 on (sequence, time, link) and the payload.
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header + 8), static_cast<uInt>(header_bytes - 8));
  // Never with a null buffer: zlib then returns its initial value (0), whatever came before, so
  // a zeroed header would pass as an empty record.
  if (!payload.empty()) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

struct SegmentLog::Segment {
  std::filesystem::path path;
  UniqueFd fd;
  uint64_t first_sequence = 0;
  uint64_t end_sequence = 0;  // one past the last record
  uint64_t end_offset = kHeaderBytes;
  uint64_t record_header_bytes = kChainedHeaderBytes;  // by the segment's format version
  int64_t last_time_ms = 0;
  std::vector<std::pair<uint64_t, uint64_t>> index;  // (sequence, offset), sparse
  std::unique_ptr<FileCipher> cipher;                // null: records in the clear
  SegmentFiles* files = nullptr;

  // Reads or prepares bytes at `offset` as they are on disk <-> as records are.
  Status Transform(uint64_t offset, MutableByteSpan data) const {
    return cipher ? cipher->Apply(offset, data) : Status::Ok();
  }
  Status ReadAt(MutableByteSpan out, uint64_t offset) const {
    COFFRE_RETURN_IF_ERROR(files->Read(fd.get(), out, offset, path));
    return Transform(offset, out);
  }
};

namespace {

// Reads one segment forward in 64 KB chunks: one pread and one cipher pass per chunk, instead of
// two of each per record. Never past `end` (the segment's written end). A template only so that
// it can hold SegmentLog's private Segment.
template <class Segment>
class ChunkedSegmentReader {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;

  ChunkedSegmentReader(const Segment& segment, uint64_t end)
      : segment_(segment), end_(end) {}

  Status Read(MutableByteSpan out, uint64_t offset) {
    if (offset < at_ || offset + out.size() > at_ + chunk_.size()) {
      uint64_t n = std::min<uint64_t>(kChunkBytes, end_ > offset ? end_ - offset : 0);
      if (out.size() > n) return segment_.ReadAt(out, offset);  // a large record: read it alone
      chunk_.resize(static_cast<size_t>(n));
      COFFRE_RETURN_IF_ERROR(segment_.ReadAt(chunk_, offset));
      at_ = offset;
    }
    std::memcpy(out.data(), chunk_.data() + (offset - at_), out.size());
    return Status::Ok();
  }

 private:
  const Segment& segment_;
  uint64_t end_;
  uint64_t at_ = 0;
  Bytes chunk_;
};

}  // namespace

SegmentLog::SegmentLog(std::filesystem::path dir, SegmentLogOptions options)
    : dir_(std::move(dir)),
      options_(options),
      files_(options.files != nullptr ? *options.files : PosixSegmentFiles()) {}
SegmentLog::~SegmentLog() = default;

Result<std::unique_ptr<SegmentLog>> SegmentLog::Open(const std::filesystem::path& dir,
                                                     SegmentLogOptions options) {
  if (options.segment_bytes < kHeaderBytes + 4096) {
    return InvalidArgument("segments must hold at least 4 KiB of records");
  }
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::unique_ptr<SegmentLog> log(new SegmentLog(dir, options));
  COFFRE_RETURN_IF_ERROR(log->Recover());
  return log;
}

Status SegmentLog::Recover() {
  std::vector<uint64_t> firsts;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    uint64_t first = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + 20, first);
    if (ec != std::errc() || p != name.data() + 20) continue;
    firsts.push_back(first);
  }
  std::sort(firsts.begin(), firsts.end());
  for (size_t i = 0; i < firsts.size(); ++i) {
    auto seg = std::make_shared<Segment>();
    seg->path = dir_ / SegmentName(firsts[i]);
    seg->files = &files_;
    COFFRE_ASSIGN_OR_RETURN(seg->fd, files_.OpenExisting(seg->path));
    seg->first_sequence = firsts[i];
    if (firsts[i] >= kMaxSequence) {
      return DataLoss("segment " + seg->path.string() + " starts past the last sequence number");
    }
    COFFRE_RETURN_IF_ERROR(ScanSegment(*seg));
    bool last = i + 1 == firsts.size();
    if (!last && seg->end_sequence > firsts[i + 1]) {
      return DataLoss("segment " + seg->path.string() + " runs to record " +
                      std::to_string(seg->end_sequence) + " but the next starts at " +
                      std::to_string(firsts[i + 1]));
    }
    if (!last && seg->end_sequence < firsts[i + 1]) {
      // Records that were written once and are not there now (damaged, or removed): reported,
      // and refused to readers, never skipped silently.
      gaps_.push_back({seg->end_sequence, firsts[i + 1]});
    }
    segments_.push_back(std::move(seg));
  }
  if (segments_.empty()) {
    COFFRE_RETURN_IF_ERROR(StartSegment(0));
  }
  next_sequence_ = segments_.back()->end_sequence;
  durable_ = next_sequence_;
  return Status::Ok();
}

// Finds the longest run of intact records; the end is where a header is zero, torn, or out of
// sequence.
Status SegmentLog::ScanSegment(Segment& seg) {
  std::byte header[kHeaderBytes];
  COFFRE_RETURN_IF_ERROR(files_.Read(seg.fd.get(), header, 0, seg.path));
  if (std::memcmp(header, kMagic, sizeof kMagic) != 0 ||
      GetU64(header + 16) != seg.first_sequence) {
    return DataLoss(seg.path.string() + " is not a segment of this log");
  }
  uint32_t version = GetU32(header + 8);
  if (version != kFormatUnchained && version != kFormatChained) {
    return DataLoss(seg.path.string() + " has segment format " + std::to_string(version) +
                    ", which this version does not know");
  }
  seg.record_header_bytes = version == kFormatChained ? kChainedHeaderBytes : kUnchainedHeaderBytes;
  bool encrypted = GetU32(header + 12) & kFlagEncrypted;
  if (encrypted != (options_.service_key != nullptr)) {
    return FailedPrecondition(seg.path.string() + (encrypted ? " is encrypted: a service key is needed"
                                                             : " is not encrypted, but a service key is set"));
  }
  if (encrypted) {
    COFFRE_ASSIGN_OR_RETURN(seg.cipher,
                            FileCipher::FromHeader(*options_.service_key,
                                                   ByteSpan(header + kCipherHeaderAt, kFileCipherHeaderBytes)));
  }
  uint64_t file_size = static_cast<uint64_t>(std::filesystem::file_size(seg.path));
  uint64_t offset = kHeaderBytes;
  uint64_t sequence = seg.first_sequence;
  Bytes payload;
  const uint64_t hb = seg.record_header_bytes;
  for (;;) {
    std::byte rh[kMaxRecordHeaderBytes];
    if (offset + hb > file_size) break;
    COFFRE_RETURN_IF_ERROR(seg.ReadAt(MutableByteSpan(rh, hb), offset));
    uint32_t length = GetU32(rh);
    uint32_t crc = GetU32(rh + 4);
    if (GetU64(rh + 8) != sequence || offset + hb + length > file_size || sequence >= kMaxSequence) break;
    payload.resize(length);
    COFFRE_RETURN_IF_ERROR(seg.ReadAt(payload, offset + hb));
    if (RecordCrc(rh, hb, payload) != crc) break;
    if ((sequence - seg.first_sequence) % kIndexEvery == 0) seg.index.emplace_back(sequence, offset);
    seg.last_time_ms = static_cast<int64_t>(GetU64(rh + 16));
    offset += hb + length;
    ++sequence;
  }
  seg.end_offset = offset;
  seg.end_sequence = sequence;
  return Status::Ok();
}

// Zeroes the rest of the active segment after a crash, so a record written before the crash
// but never made durable cannot be read back later behind a shorter new one.
Status SegmentLog::WipeAfter(Segment& seg, uint64_t offset) {
  uint64_t file_size = static_cast<uint64_t>(std::filesystem::file_size(seg.path));
  Bytes zeros(kWipeChunk);
  Bytes probe(kWipeChunk);
  bool wrote = false;
  for (uint64_t at = offset; at < file_size; at += kWipeChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kWipeChunk, file_size - at));
    COFFRE_RETURN_IF_ERROR(files_.Read(seg.fd.get(), MutableByteSpan(probe).first(n), at, seg.path));
    if (std::all_of(probe.begin(), probe.begin() + static_cast<long>(n),
                    [](std::byte b) { return b == std::byte{0}; })) {
      continue;
    }
    COFFRE_RETURN_IF_ERROR(files_.Write(seg.fd.get(), ByteSpan(zeros).first(n), at, seg.path));
    wrote = true;
  }
  if (wrote) COFFRE_RETURN_IF_ERROR(files_.Sync(seg.fd.get(), seg.path));
  return Status::Ok();
}

Status SegmentLog::StartSegment(uint64_t first_sequence) {
  auto seg = std::make_shared<Segment>();
  seg->path = dir_ / SegmentName(first_sequence);
  seg->first_sequence = seg->end_sequence = first_sequence;
  seg->files = &files_;
  if (options_.reserve != nullptr) COFFRE_RETURN_IF_ERROR(options_.reserve->Check(options_.segment_bytes));
  // Preallocated, so fdatasync on append never has to write file-size metadata.
  COFFRE_ASSIGN_OR_RETURN(seg->fd, files_.Create(seg->path, options_.segment_bytes));
  std::byte header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  PutU32(header + 8, kFormatChained);
  PutU64(header + 16, first_sequence);
  Status made;
  if (options_.service_key != nullptr) {
    PutU32(header + 12, kFlagEncrypted);
    auto cipher = FileCipher::CreateNew(*options_.service_key,
                                        MutableByteSpan(header + kCipherHeaderAt, kFileCipherHeaderBytes));
    if (cipher.has_value()) {
      seg->cipher = std::move(*cipher);
    } else {
      made = cipher.error();
    }
  }
  if (made.ok()) made = files_.Write(seg->fd.get(), header, 0, seg->path);
  if (made.ok()) made = files_.Sync(seg->fd.get(), seg->path, /*metadata=*/true);
  if (made.ok()) made = files_.SyncDirectory(dir_);
  if (!made.ok()) {
    (void)files_.Remove(seg->path);  // a retry makes it again; a header-less file would stop Open
    return made;
  }
  std::lock_guard<std::mutex> guard(mu_);
  segments_.push_back(std::move(seg));
  return Status::Ok();
}

uint64_t SegmentLog::durable_sequence() const {
  std::lock_guard<std::mutex> guard(mu_);
  return durable_;
}

uint64_t SegmentLog::first_sequence() const {
  std::lock_guard<std::mutex> guard(mu_);
  return segments_.front()->first_sequence;
}

size_t SegmentLog::segment_count() const {
  std::lock_guard<std::mutex> guard(mu_);
  return segments_.size();
}

uint64_t SegmentLog::disk_bytes() const {
  std::lock_guard<std::mutex> guard(mu_);
  uint64_t bytes = 0;
  for (const auto& segment : segments_) {
    struct stat st {};
    if (segment->fd && ::fstat(segment->fd.get(), &st) == 0) {
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

Status SegmentLog::ResumeAt(uint64_t sequence) {
  if (resumed_) return FailedPrecondition("the log was resumed already");
  if (sequence < next_sequence_) {
    return InvalidArgument("the log holds records up to " + std::to_string(next_sequence_) +
                           "; it cannot resume at " + std::to_string(sequence));
  }
  Segment& active = *segments_.back();
  if (sequence == next_sequence_) {
    // A crash can leave never-acknowledged records after the intact ones: wipe them, so none can
    // come back behind a later record of the same length.
    COFFRE_RETURN_IF_ERROR(WipeAfter(active, active.end_offset));
  }
  // Later than the records: what lies between is missing (the caller knows it was written), and
  // what is left in the active segment stays as it is, as evidence. An older format: new
  // records go to a new segment, in the current one.
  if (sequence > next_sequence_ || active.record_header_bytes != kChainedHeaderBytes) {
    // An empty segment of the older format where the new one must start is replaced.
    bool replace = active.end_sequence == active.first_sequence && active.first_sequence == sequence;
    if (replace) {
      Status removed = files_.Remove(active.path);
      if (!removed.ok() && std::filesystem::exists(active.path)) return removed;
    }
    COFFRE_RETURN_IF_ERROR(StartSegment(sequence));
    if (replace) {
      std::lock_guard<std::mutex> guard(mu_);
      segments_.erase(segments_.end() - 2);
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  if (sequence > next_sequence_) gaps_.push_back({next_sequence_, sequence});
  next_sequence_ = sequence;
  durable_ = sequence;
  resumed_ = true;
  return Status::Ok();
}

Status SegmentLog::BeginAt(uint64_t sequence) {
  if (resumed_) return FailedPrecondition("the log was resumed already");
  if (next_sequence_ != 0 || segments_.size() != 1) {
    return FailedPrecondition("the log holds records already; it cannot begin at " +
                              std::to_string(sequence));
  }
  if (sequence == 0) return ResumeAt(0);
  // The empty segment Open made at 0 would read as records 0..sequence missing: it goes once
  // the new one exists.
  COFFRE_RETURN_IF_ERROR(StartSegment(sequence));
  std::filesystem::path empty = segments_.front()->path;
  Status removed = files_.Remove(empty);
  if (!removed.ok() && std::filesystem::exists(empty)) return removed;
  COFFRE_RETURN_IF_ERROR(files_.SyncDirectory(dir_));
  std::lock_guard<std::mutex> guard(mu_);
  segments_.erase(segments_.begin());
  next_sequence_ = sequence;
  durable_ = sequence;
  resumed_ = true;
  return Status::Ok();
}

std::vector<SegmentLog::Gap> SegmentLog::gaps() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<Gap> kept;  // those retention has not removed
  for (const Gap& g : gaps_) {
    if (g.to > segments_.front()->first_sequence) kept.push_back(g);
  }
  return kept;
}

Status SegmentLog::Append(std::span<const LogRecord> records) {
  if (!resumed_) COFFRE_RETURN_IF_ERROR(ResumeAt(next_sequence_));
  uint64_t capacity = options_.segment_bytes - kHeaderBytes;
  for (size_t k = 0; k < records.size(); ++k) {
    const LogRecord& r = records[k];
    if (r.sequence != next_sequence_ + k) {
      return InvalidArgument("record " + std::to_string(r.sequence) + " appended where " +
                             std::to_string(next_sequence_ + k) + " was due");
    }
    if (kChainedHeaderBytes + r.payload.size() > capacity) {
      return InvalidArgument("a record of " + std::to_string(r.payload.size()) +
                             " bytes does not fit in a segment");
    }
  }
  size_t i = 0;
  while (i < records.size()) {
    Segment* seg = segments_.back().get();
    // Stage as many records as fit in the active segment, then write them in one call.
    scratch_.clear();
    uint64_t offset = seg->end_offset;
    size_t first = i;
    while (i < records.size() &&
           offset + scratch_.size() + kChainedHeaderBytes + records[i].payload.size() <=
               options_.segment_bytes) {
      const LogRecord& r = records[i];
      size_t at = scratch_.size();
      scratch_.resize(at + kChainedHeaderBytes + r.payload.size());
      std::byte* h = scratch_.data() + at;
      PutU32(h, static_cast<uint32_t>(r.payload.size()));
      PutU64(h + 8, r.sequence);
      PutU64(h + 16, static_cast<uint64_t>(r.time_ms));
      std::memcpy(h + 24, r.link.data(), kChainLinkBytes);
      std::memcpy(h + kChainedHeaderBytes, r.payload.data(), r.payload.size());
      PutU32(h + 4, RecordCrc(h, kChainedHeaderBytes, r.payload));
      ++i;
    }
    if (i == first) {  // the active segment is full: durably finish it, then start the next
      COFFRE_RETURN_IF_ERROR(SyncActive(*seg));
      COFFRE_RETURN_IF_ERROR(StartSegment(next_sequence_));
      continue;
    }
    COFFRE_RETURN_IF_ERROR(seg->Transform(offset, scratch_));
    COFFRE_RETURN_IF_ERROR(files_.Write(seg->fd.get(), scratch_, offset, seg->path));
    // Kept until synced: after a failed sync they are written again (SyncActive).
    if (unsynced_.empty()) unsynced_at_ = offset;
    unsynced_.insert(unsynced_.end(), scratch_.begin(), scratch_.end());
    std::lock_guard<std::mutex> guard(mu_);
    uint64_t at = offset;
    for (size_t k = first; k < i; ++k) {
      uint64_t seq = records[k].sequence;
      if ((seq - seg->first_sequence) % kIndexEvery == 0) seg->index.emplace_back(seq, at);
      at += kChainedHeaderBytes + records[k].payload.size();
      seg->last_time_ms = records[k].time_ms;
    }
    seg->end_offset = at;
    seg->end_sequence = records[i - 1].sequence + 1;
    next_sequence_ = seg->end_sequence;
  }
  return Status::Ok();
}

// After a failed fdatasync Linux may have dropped the dirty pages, or marked them clean without
// writing them: a later fdatasync would then succeed without them, and records acknowledged
// after it would sit behind a hole. So what was appended since the last good sync is written
// again, from memory, before the next try.
Status SegmentLog::SyncActive(Segment& seg) {
  if (rewrite_ && !unsynced_.empty()) {
    COFFRE_RETURN_IF_ERROR(files_.Write(seg.fd.get(), unsynced_, unsynced_at_, seg.path));
  }
  Status synced = files_.Sync(seg.fd.get(), seg.path);
  if (!synced.ok()) {
    rewrite_ = true;
    return synced;
  }
  rewrite_ = false;
  unsynced_.clear();
  return Status::Ok();
}

Status SegmentLog::Sync() {
  COFFRE_RETURN_IF_ERROR(SyncActive(*segments_.back()));
  std::lock_guard<std::mutex> guard(mu_);
  durable_ = next_sequence_;
  return Status::Ok();
}

Result<std::vector<StoredRecord>> SegmentLog::Read(uint64_t from, size_t max_records,
                                                   size_t max_bytes) const {
  std::vector<StoredRecord> out;
  std::unique_lock<std::mutex> lock(mu_);
  if (from < segments_.front()->first_sequence || from > durable_) {
    return Status(StatusCode::kInvalidArgument,
                  "sequence " + std::to_string(from) + " is outside the retained range " +
                      std::to_string(segments_.front()->first_sequence) + ".." +
                      std::to_string(durable_));
  }
  uint64_t limit = durable_;
  size_t bytes = 0;
  uint64_t seq = from;
  while (seq < limit && out.size() < max_records) {
    auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                               [](uint64_t s, const auto& seg) { return s < seg->first_sequence; });
    std::shared_ptr<const Segment> held = *std::prev(it);
    const Segment& seg = *held;
    if (seq >= seg.end_sequence) {  // in a gap: the next segment starts later
      if (!out.empty()) return out;
      uint64_t gap_end = it == segments_.end() ? limit : (*it)->first_sequence;
      return DataLoss("records " + std::to_string(seq) + ".." + std::to_string(gap_end - 1) +
                      " are missing from " + dir_.string());
    }
    // Start from the nearest index entry at or before `seq`.
    auto idx = std::upper_bound(seg.index.begin(), seg.index.end(), std::make_pair(seq, UINT64_MAX));
    uint64_t cursor_seq = std::prev(idx)->first;
    uint64_t offset = std::prev(idx)->second;
    uint64_t seg_end = std::min(seg.end_sequence, limit);
    const uint64_t end_offset = seg.end_offset;  // the writer moves it, under the lock
    ChunkedSegmentReader reader(seg, end_offset);
    const std::filesystem::path& path = seg.path;
    lock.unlock();
    const uint64_t hb = seg.record_header_bytes;
    while (cursor_seq < seg_end && out.size() < max_records) {
      std::byte rh[kMaxRecordHeaderBytes];
      COFFRE_RETURN_IF_ERROR(reader.Read(MutableByteSpan(rh, hb), offset));
      uint32_t length = GetU32(rh);
      if (offset + hb + length > end_offset) {  // changed on disk since the scan
        return DataLoss("record " + std::to_string(cursor_seq) + " in " + path.string() +
                        " is damaged");
      }
      if (cursor_seq >= seq) {
        if (!out.empty() && bytes + length > max_bytes) return out;
        StoredRecord r;
        r.sequence = cursor_seq;
        r.time_ms = static_cast<int64_t>(GetU64(rh + 16));
        r.linked = hb == kChainedHeaderBytes;
        if (r.linked) std::memcpy(r.link.data(), rh + 24, kChainLinkBytes);
        r.payload.resize(length);
        COFFRE_RETURN_IF_ERROR(reader.Read(r.payload, offset + hb));
        if (GetU64(rh + 8) != cursor_seq || RecordCrc(rh, hb, r.payload) != GetU32(rh + 4)) {
          return DataLoss("record " + std::to_string(cursor_seq) + " in " + path.string() +
                          " is damaged");
        }
        bytes += length;
        out.push_back(std::move(r));
      }
      offset += hb + length;
      ++cursor_seq;
    }
    seq = cursor_seq;
    lock.lock();
  }
  return out;
}

int64_t SegmentLog::last_time_ms() const {
  std::lock_guard<std::mutex> guard(mu_);
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if ((*it)->end_sequence > (*it)->first_sequence) return (*it)->last_time_ms;
  }
  return 0;
}

Result<uint64_t> SegmentLog::SeekTime(int64_t time_ms) const {
  std::shared_ptr<const Segment> seg;
  std::vector<std::pair<uint64_t, uint64_t>> index;
  uint64_t limit = 0;
  {
    std::lock_guard<std::mutex> guard(mu_);
    limit = durable_;
    for (const auto& s : segments_) {
      if (s->end_sequence > s->first_sequence && s->last_time_ms >= time_ms) {
        seg = s;
        break;
      }
    }
    if (!seg) return limit;
    index = seg->index;
  }
  auto time_at = [&](uint64_t offset) -> Result<int64_t> {
    std::byte rh[kUnchainedHeaderBytes];  // length and time are where every format has them
    COFFRE_RETURN_IF_ERROR(seg->ReadAt(rh, offset));
    return static_cast<int64_t>(GetU64(rh + 16));
  };
  // Binary search the sparse index for the last entry enqueued before time_ms...
  size_t lo = 0, hi = index.size();  // entries [0, lo) are before time_ms
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    COFFRE_ASSIGN_OR_RETURN(int64_t t, time_at(index[mid].second));
    if (t < time_ms) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0) return std::min(seg->first_sequence, limit);
  // ...then walk at most kIndexEvery records from it.
  uint64_t seq = index[lo - 1].first;
  uint64_t offset = index[lo - 1].second;
  uint64_t end = std::min(seg->end_sequence, limit);
  while (seq < end) {
    std::byte rh[kUnchainedHeaderBytes];
    COFFRE_RETURN_IF_ERROR(seg->ReadAt(rh, offset));
    if (static_cast<int64_t>(GetU64(rh + 16)) >= time_ms) break;
    offset += seg->record_header_bytes + GetU32(rh);
    ++seq;
  }
  return std::min(seq, limit);
}

uint64_t SegmentLog::FirstSequenceAfterExpiry(int64_t time_ms) const {
  std::lock_guard<std::mutex> guard(mu_);
  size_t k = 0;  // the same rule as ExpireBefore's
  while (segments_.size() - k >= 2 && segments_[k]->last_time_ms < time_ms) ++k;
  return segments_[k]->first_sequence;
}

Result<size_t> SegmentLog::ExpireBefore(int64_t time_ms) {
  size_t removed = 0;
  for (;;) {
    std::shared_ptr<Segment> victim;
    {
      std::lock_guard<std::mutex> guard(mu_);
      if (segments_.size() < 2 || segments_.front()->last_time_ms >= time_ms) break;
      victim = std::move(segments_.front());
      segments_.erase(segments_.begin());
    }
    COFFRE_RETURN_IF_ERROR(files_.Remove(victim->path));
    ++removed;
  }
  if (removed > 0) COFFRE_RETURN_IF_ERROR(files_.SyncDirectory(dir_));
  return removed;
}

}  // namespace coffre::storage
