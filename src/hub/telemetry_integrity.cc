// TelemetryStore's integrity side: comparing each partition's log with its sealed head, the
// breaks that follow (Read, in telemetry_store.cc, refuses them), and verifying every record.
// The chain and what each check detects: docs/formats/segment-log.md.

#include <algorithm>
#include <functional>

#include "common/log.h"
#include "crypto/envelope.h"
#include "crypto/secret_bytes.h"
#include "hub/telemetry_store.h"
#include "hub/telemetry_store_partition.h"

namespace coffre::hub {
namespace {

constexpr size_t kMaxReportedBreaks = 100;

}  // namespace

Status TelemetryStore::Check(int partition) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  std::lock_guard<std::mutex> guard(part.check_mu);
  if (part.checked) return Status::Ok();
  Result<std::optional<TelemetryHead>> loaded = heads_.Load(partition);
  if (!loaded.has_value() && loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
  std::optional<TelemetryHead> head = loaded.has_value() ? *loaded : std::nullopt;
  COFFRE_RETURN_IF_ERROR(part.log->Refresh());  // other writers' records, after their heads
  const uint64_t first = part.log->first_sequence();
  const uint64_t end = part.log->durable_sequence();  // after the head: the head never leads
  std::vector<IntegrityBreak> found;
  if (head) {  // what earlier starts found, and retention has not passed
    for (const IntegrityBreak& b : head->breaks) {
      if (b.to > first) found.push_back(b);
    }
  }
  // The last record as stored, and the link that follows it.
  std::optional<storage::StoredRecord> last;
  if (end > first) {
    Result<std::vector<storage::StoredRecord>> r = part.log->Read(end - 1, 1, SIZE_MAX);
    if (r.has_value() && !r->empty()) {
      last = std::move(r->front());
    } else if (!r.has_value() && r.error().code() != StatusCode::kDataLoss) {
      return r.error();  // an I/O error: tried again at the next check
    }  // else the end is in a gap (a new segment waiting for its first record)
  }
  uint64_t resume = end;
  storage::ChainLink link = last ? LinkAfter(*last) : (head ? head->link : storage::ChainLink{});
  if (!loaded.has_value()) {
    // Writing goes on (a new head is sealed), but nothing here can be vouched for.
    if (end > first) {
      found.push_back({first, end, "unverifiable: " + loaded.error().message() +
                                       " (damaged, or another row put in its place)"});
    }
  } else if (!head) {
    if (last && last->linked) {
      // Every partition gets its head before its first linked record: it was removed.
      found.push_back({first, end,
                       "unverifiable: the partition's sealed head is missing (the metadata "
                       "store's row was removed or the store replaced)"});
    } else if (end > first) {
      LogLine("telemetry", "partition " + std::to_string(partition) + " holds records " +
                               Range(first, end) + " written before heads existed: taken as "
                               "they are, and anchored from now on");
    }
  } else if (head->end > end) {
    found.push_back({end, head->end,
                     "missing: the log's intact records end at " + std::to_string(end) +
                         ", but the hub acknowledged records up to " +
                         std::to_string(head->end - 1) +
                         " (damaged, truncated, or a segment rolled back)"});
    resume = head->end;  // new records continue after the missing ones, never in their place
    link = head->link;
  } else if (head->end > 0) {
    // The record the head ends with: the last one, read above, unless records follow it.
    std::optional<storage::StoredRecord> at_head = last;
    if (head->end != end) {
      Result<std::vector<storage::StoredRecord>> r = part.log->Read(head->end - 1, 1, SIZE_MAX);
      if (!r.has_value() && r.error().code() != StatusCode::kDataLoss) return r.error();
      at_head = r.has_value() && !r->empty() ? std::optional(std::move(r->front())) : std::nullopt;
    }
    if (at_head && LinkAfter(*at_head) != head->link) {
      found.push_back({head->end - 1, end,
                       "replaced: record " + std::to_string(head->end - 1) +
                           " is not the one acknowledged; its chain does not reach the sealed "
                           "head (an older copy put back)"});
      link = head->link;  // so the next record shows the break too
    }
  }
  if (head && head->first < first) {
    found.push_back({head->first, first,
                     "missing: removed before retention expired them (the sealed head starts "
                     "at " + std::to_string(head->first) + ")"});
  }
  std::sort(found.begin(), found.end(),
            [](const IntegrityBreak& a, const IntegrityBreak& b) { return a.from < b.from; });
  found.erase(std::unique(found.begin(), found.end()), found.end());
  for (const IntegrityBreak& b : found) {
    LogLine(LogLevel::kError, "telemetry", "INTEGRITY BREAK " + Where(partition, b));
  }
  part.found = std::move(found);
  part.resume_at = resume;
  part.resume_link = link;
  part.stored_head = head;
  part.checked = true;
  return Status::Ok();
}

Status TelemetryStore::PrepareToWrite(int partition) {
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  if (part.prepared) return Status::Ok();
  COFFRE_RETURN_IF_ERROR(Check(partition));
  TelemetryHead head;
  uint64_t resume = 0;
  {
    std::lock_guard<std::mutex> guard(part.check_mu);
    resume = part.resume_at;
    const std::optional<TelemetryHead>& stored = part.stored_head;
    // The head keeps its start while records it counts are missing.
    head.first = stored ? std::min(stored->first, part.log->first_sequence())
                        : part.log->first_sequence();
    head.end = stored ? std::max(stored->end, resume) : resume;
    head.link = part.resume_link;
    head.breaks = part.found;
  }
  COFFRE_RETURN_IF_ERROR(part.log->ResumeAt(resume));
  // Synced before the first record of this run: a partition with linked records always has a
  // head (so a missing one is a break), and the breaks just found outlive a restart.
  COFFRE_RETURN_IF_ERROR(StoreHead(part, partition, head, /*sync=*/true));
  part.link = head.link;
  part.prepared = true;
  return Status::Ok();
}

Status TelemetryStore::StoreHead(Partition& part, int partition, const TelemetryHead& head,
                                 bool sync) {
  if (part.log->shared_writers()) {
    COFFRE_ASSIGN_OR_RETURN(part.head, heads_.Merge(partition, head, sync));
    return Status::Ok();
  }
  COFFRE_RETURN_IF_ERROR(heads_.Store(partition, head, sync));
  part.head = head;
  return Status::Ok();
}

Result<std::vector<IntegrityBreak>> TelemetryStore::Breaks(int partition) {
  COFFRE_RETURN_IF_ERROR(Check(partition));
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  std::vector<IntegrityBreak> breaks;
  {
    std::lock_guard<std::mutex> guard(part.check_mu);
    breaks = part.found;
  }
  for (const storage::PartitionLog::Gap& gap : part.log->gaps()) {
    bool known = std::any_of(breaks.begin(), breaks.end(), [&](const IntegrityBreak& b) {
      return b.from <= gap.from && gap.to <= b.to;
    });
    if (!known) {
      breaks.push_back({gap.from, gap.to,
                        "missing: between two segments (a segment damaged, cut short, or "
                        "removed)"});
    }
  }
  std::sort(breaks.begin(), breaks.end(),
            [](const IntegrityBreak& a, const IntegrityBreak& b) { return a.from < b.from; });
  return breaks;
}

Result<Bytes> TelemetryStore::OpenRecord(int partition, const storage::StoredRecord& r,
                                         NotOpened* why) const {
  std::string aad = Aad(partition, r.sequence);
  if (r.linked) aad.append(reinterpret_cast<const char*>(r.link.data()), r.link.size());
  Result<Bytes> plain = keys_.Open(r.payload, AsBytes(aad));
  if (!plain.has_value()) {
    if (plain.error().code() == StatusCode::kUnavailable) return plain.error();  // locked
    if (plain.error().code() == StatusCode::kNotFound) {
      // Its device's key is gone: erased, if an erasure says so; otherwise removed by someone.
      Result<crypto::EnvelopeHeader> header = crypto::ReadEnvelopeHeader(r.payload);
      Result<DeviceErasure> erasure = options_.device_keys == nullptr || !header.has_value()
                                          ? Result<DeviceErasure>(NotFound("no device keys"))
                                          : options_.device_keys->FindErasure(header->device_key);
      if (erasure.has_value()) {
        if (why != nullptr) why->erasure = std::move(*erasure);
        return NotFound("telemetry record " + std::to_string(partition) + "/" +
                        std::to_string(r.sequence) + " was erased with its device");
      }
      if (erasure.error().code() == StatusCode::kUnavailable) return erasure.error();
      if (why != nullptr) why->device_key_missing = true;
      return DataLoss("telemetry record " + std::to_string(partition) + "/" +
                      std::to_string(r.sequence) + " could not be opened: its device's key " +
                      (header.has_value() ? std::to_string(header->device_key) : std::string()) +
                      " is missing and no erasure destroyed it");
    }
    return DataLoss("telemetry record " + std::to_string(partition) + "/" +
                    std::to_string(r.sequence) +
                    " could not be opened (damaged, forged, or moved from another partition, "
                    "place or chain)");
  }
  return plain;
}


Result<PartitionVerification> TelemetryStore::Verify(int partition,
                                                    const std::function<bool()>& cancelled) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  PartitionVerification v;
  v.partition = partition;
  COFFRE_ASSIGN_OR_RETURN(v.breaks, Breaks(partition));
  // The head as it is now, then the end: the head never leads the durable records.
  Result<std::optional<TelemetryHead>> loaded = heads_.Load(partition);
  if (!loaded.has_value() && loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
  // A head that does not open is a break Check reported already (in v.breaks).
  std::optional<TelemetryHead> head = loaded.has_value() ? *loaded : std::nullopt;
  COFFRE_RETURN_IF_ERROR(part.log->Refresh());  // other writers' records, after their heads
  v.first = part.log->first_sequence();
  v.end = part.log->durable_sequence();
  v.anchored = head.has_value();
  v.head_end = head ? head->end : 0;
  auto add = [&](IntegrityBreak b) {
    bool known = std::any_of(v.breaks.begin(), v.breaks.end(), [&](const IntegrityBreak& k) {
      return k.from <= b.from && b.to <= k.to;
    });
    if (!known && v.breaks.size() < kMaxReportedBreaks) v.breaks.push_back(std::move(b));
  };
  auto in_break = [&](uint64_t seq) {
    return std::find_if(v.breaks.begin(), v.breaks.end(),
                        [&](const IntegrityBreak& b) { return seq >= b.from && seq < b.to; });
  };
  if (head && head->end > v.end) {
    add({v.end, head->end, "missing: the hub acknowledged records up to " +
                               std::to_string(head->end - 1) + " but the log ends before"});
  }
  std::optional<storage::StoredRecord> prev;  // the record before, if it opened
  uint64_t seq = v.first;
  while (seq < v.end && v.breaks.size() < kMaxReportedBreaks) {
    if (cancelled && cancelled()) return Unavailable("the hub is stopping; the verification stopped");
    if (auto b = in_break(seq); b != v.breaks.end()) {
      seq = b->to;
      prev.reset();
      continue;
    }
    Result<std::vector<storage::StoredRecord>> records = part.log->Read(seq, 256, size_t{4} << 20);
    if (!records.has_value() || records->empty()) {
      if (seq < part.log->first_sequence()) {  // retention went past it meanwhile
        seq = part.log->first_sequence();
        prev.reset();
        continue;
      }
      add({seq, seq + 1, "unreadable: " + (records.has_value() ? std::string("not there")
                                                               : records.error().message())});
      ++seq;
      prev.reset();
      continue;
    }
    for (storage::StoredRecord& r : *records) {
      if (in_break(r.sequence) != v.breaks.end()) break;  // the outer loop steps over it
      seq = r.sequence + 1;
      NotOpened why;
      Result<Bytes> plain = OpenRecord(partition, r, &why);
      bool erased = !plain.has_value() && plain.error().code() == StatusCode::kNotFound;
      if (!plain.has_value() && !erased) {
        if (plain.error().code() == StatusCode::kUnavailable) return plain.error();
        add({r.sequence, r.sequence + 1,
             why.device_key_missing
                 ? "does not open: its device's key is missing and no erasure destroyed it"
                 : "does not open: damaged, forged, or moved from another partition or place"});
        prev.reset();  // its successor is not blamed for not following it
        continue;
      }
      if (plain.has_value()) crypto::Cleanse(*plain);
      if (erased) ++v.records_erased;
      // Both open where they stand, yet do not chain: one is an older copy put back.
      if (prev && prev->sequence + 1 == r.sequence && !Follows(*prev, r)) {
        add({prev->sequence, r.sequence + 1,
             "do not chain: record " + std::to_string(r.sequence) + " does not follow record " +
                 std::to_string(prev->sequence) +
                 " (one of them replaced by an older copy sealed for the same place)"});
      }
      ++v.records_checked;
      if (head && r.sequence + 1 == head->end && r.linked && LinkAfter(r) != head->link) {
        add({r.sequence, r.sequence + 1,
             "replaced: not the record acknowledged last (its chain does not reach the sealed "
             "head)"});
      }
      prev = std::move(r);
    }
  }
  std::sort(v.breaks.begin(), v.breaks.end(),
            [](const IntegrityBreak& a, const IntegrityBreak& b) { return a.from < b.from; });
  return v;
}

}  // namespace coffre::hub
