// TelemetryStore's integrity side: comparing each partition's log with its sealed head, the
// breaks that follow (Read, in telemetry_store.cc, refuses them), and verifying every record.
// The chain and what each check detects: docs/formats/segment-log.md.

#include <algorithm>

#include "common/log.h"
#include "crypto/secret_bytes.h"
#include "hub/telemetry_store.h"
#include "hub/telemetry_store_partition.h"

namespace coffre::hub {
namespace {

constexpr size_t kMaxReportedBreaks = 100;

}  // namespace

Result<storage::ChainLink> TelemetryStore::LinkAfter(const Partition& part, uint64_t sequence) const {
  COFFRE_ASSIGN_OR_RETURN(auto records, part.log->Read(sequence, 1, SIZE_MAX));
  if (records.empty()) return DataLoss("record " + std::to_string(sequence) + " is not there");
  const storage::StoredRecord& r = records.front();
  if (!r.linked) return storage::ChainLink{};  // the chain starts after records without links
  return storage::NextLink(r.link, r.sequence, r.time_ms, r.payload);
}

Status TelemetryStore::Check(int partition) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  std::lock_guard<std::mutex> guard(part.check_mu);
  if (part.checked) return Status::Ok();
  Result<std::optional<TelemetryHead>> loaded = heads_.Load(partition);
  if (!loaded.has_value() && loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
  std::optional<TelemetryHead> head = loaded.has_value() ? *loaded : std::nullopt;
  const uint64_t first = part.log->first_sequence();
  const uint64_t end = part.log->durable_sequence();  // after the head: the head never leads
  std::vector<IntegrityBreak> found;
  if (!loaded.has_value() && end > first) {
    // Writing goes on (the next commit seals a new head), but nothing here can be vouched for.
    found.push_back({first, end, "unverifiable: " + loaded.error().message() +
                                     " (damaged, or another row put in its place)"});
  }
  uint64_t resume = end;
  storage::ChainLink link{};
  auto link_at_end = [&]() -> storage::ChainLink {
    // The chain continues from the last record as stored (its own link is checked on read).
    if (end == first) return head ? head->link : storage::ChainLink{};
    Result<storage::ChainLink> l = LinkAfter(part, end - 1);
    return l.has_value() ? *l : (head ? head->link : storage::ChainLink{});
  };
  if (!head) {
    if (end > first) {
      LogLine("telemetry", "partition " + std::to_string(partition) + " holds records " +
                               Range(first, end) + " but has no sealed head: they are taken as "
                               "they are (a hub that stopped before its first commit, or an "
                               "older version); coffre hub verify reports it");
    }
    link = link_at_end();
  } else if (head->end > end) {
    found.push_back({end, head->end,
                     "missing: the log's intact records end at " + std::to_string(end) +
                         ", but the hub acknowledged records up to " +
                         std::to_string(head->end - 1) +
                         " (damaged, truncated, or a segment rolled back)"});
    resume = head->end;  // new records continue after the missing ones, never in their place
    link = head->link;
  } else if (head->end > 0) {
    Result<storage::ChainLink> at_head = LinkAfter(part, head->end - 1);
    if (at_head.has_value() && *at_head != head->link) {
      found.push_back({head->end - 1, end,
                       "replaced: record " + std::to_string(head->end - 1) +
                           " is not the one acknowledged; its chain does not reach the sealed "
                           "head (an older copy put back)"});
      link = head->link;  // so the next record shows the break, now and after any restart
    } else {
      link = link_at_end();
    }
  } else {
    link = link_at_end();
  }
  if (head && head->first < first) {
    found.push_back({head->first, first,
                     "missing: removed before retention expired them (the sealed head starts "
                     "at " + std::to_string(head->first) + ")"});
  }
  for (const IntegrityBreak& b : found) LogLine("telemetry", "INTEGRITY BREAK " + Where(partition, b));
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
  uint64_t resume = 0;
  std::optional<TelemetryHead> stored;
  {
    std::lock_guard<std::mutex> guard(part.check_mu);
    resume = part.resume_at;
    part.link = part.resume_link;
    stored = part.stored_head;
  }
  COFFRE_RETURN_IF_ERROR(part.log->ResumeAt(resume));
  // The head keeps its start while records it counts are missing: the break stays visible
  // until retention passes it.
  part.head.first = stored ? std::min(stored->first, part.log->first_sequence())
                           : part.log->first_sequence();
  part.head.end = stored ? stored->end : 0;
  part.head.link = stored ? stored->link : storage::ChainLink{};
  part.prepared = true;
  return Status::Ok();
}

Status TelemetryStore::StoreHead(Partition& part, int partition, bool sync) {
  if (!part.writer || part.writer->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(part.writer, keys_.StartWriter(static_cast<uint32_t>(partition),
                                                           options_.data_key_max_records));
    part.writer_started = std::chrono::steady_clock::now();
  }
  return heads_.Store(partition, part.head, *part.writer, sync);
}

Result<std::vector<IntegrityBreak>> TelemetryStore::Breaks(int partition) {
  COFFRE_RETURN_IF_ERROR(Check(partition));
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  std::vector<IntegrityBreak> breaks;
  {
    std::lock_guard<std::mutex> guard(part.check_mu);
    breaks = part.found;
  }
  for (const storage::SegmentLog::Gap& gap : part.log->gaps()) {
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

Result<Bytes> TelemetryStore::OpenRecord(int partition, const storage::StoredRecord& r) const {
  std::string aad = Aad(partition, r.sequence);
  if (r.linked) aad.append(reinterpret_cast<const char*>(r.link.data()), r.link.size());
  Result<Bytes> plain = keys_.Open(r.payload, AsBytes(aad));
  if (!plain.has_value()) {
    if (plain.error().code() == StatusCode::kUnavailable) return plain.error();  // locked
    return DataLoss("telemetry record " + std::to_string(partition) + "/" +
                    std::to_string(r.sequence) +
                    " could not be opened (damaged, forged, or moved from another partition, "
                    "place or chain)");
  }
  return plain;
}


Result<PartitionVerification> TelemetryStore::Verify(int partition) {
  if (partition < 0 || partition >= partitions()) return InvalidArgument("no such partition");
  Partition& part = *partitions_[static_cast<size_t>(partition)];
  PartitionVerification v;
  v.partition = partition;
  COFFRE_ASSIGN_OR_RETURN(v.breaks, Breaks(partition));
  // The head as it is now, then the end: the head never leads the durable records.
  Result<std::optional<TelemetryHead>> loaded = heads_.Load(partition);
  if (!loaded.has_value() && loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
  std::optional<TelemetryHead> head = loaded.has_value() ? *loaded : std::nullopt;
  // A head that does not open is a break Check reported already (in v.breaks).
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
  if (head && head->end > v.end) {
    add({v.end, head->end, "missing: the hub acknowledged records up to " +
                               std::to_string(head->end - 1) + " but the log ends before"});
  }
  std::optional<storage::StoredRecord> prev;  // the record before, if it opened
  uint64_t seq = v.first;
  while (seq < v.end && v.breaks.size() < kMaxReportedBreaks) {
    auto in_break = std::find_if(v.breaks.begin(), v.breaks.end(), [&](const IntegrityBreak& b) {
      return seq >= b.from && seq < b.to;
    });
    if (in_break != v.breaks.end()) {
      seq = in_break->to;
      prev.reset();
      continue;
    }
    Result<std::vector<storage::StoredRecord>> records =
        part.log->Read(seq, 256, size_t{4} << 20);
    if (!records.has_value() || records->empty()) {
      add({seq, seq + 1, "unreadable: " + (records.has_value() ? std::string("not there")
                                                               : records.error().message())});
      ++seq;
      prev.reset();
      continue;
    }
    for (storage::StoredRecord& r : *records) {
      if (std::any_of(v.breaks.begin(), v.breaks.end(),
                      [&](const IntegrityBreak& b) { return r.sequence >= b.from && r.sequence < b.to; })) {
        break;  // the outer loop steps over it
      }
      seq = r.sequence + 1;
      // After a record that did not open, its successor is not blamed for not following it.
      if (prev && prev->sequence + 1 == r.sequence && !Follows(*prev, r)) {
        add({r.sequence, r.sequence + 1,
             "replaced or reordered: does not follow record " + std::to_string(r.sequence - 1) +
                 " in the chain"});
      }
      Result<Bytes> plain = OpenRecord(partition, r);
      if (!plain.has_value()) {
        if (plain.error().code() == StatusCode::kUnavailable) return plain.error();
        add({r.sequence, r.sequence + 1,
             "does not open: damaged, forged, or moved from another partition or place"});
        prev.reset();
        continue;
      } else {
        crypto::Cleanse(*plain);
        ++v.records_checked;
      }
      if (head && r.sequence + 1 == head->end && r.linked &&
          storage::NextLink(r.link, r.sequence, r.time_ms, r.payload) != head->link) {
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
