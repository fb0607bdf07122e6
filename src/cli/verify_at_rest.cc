#include "cli/verify_at_rest.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "crypto/envelope.h"
#include "storage/file_cipher.h"
#include "storage/rocks_kv_store.h"
#include "storage/segment_log.h"

namespace coffre::cli {
namespace {

// glibc's memmem (two-way search): the raw scan reads every preallocated segment whole.
bool Contains(ByteSpan haystack, std::string_view needle) {
  if (needle.empty()) return false;
  return ::memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

bool IsEnvelope(ByteSpan b) { return crypto::ReadEnvelopeHeader(b).has_value(); }

// Metadata records that are not customer-layer envelopes, and why that is fine.
bool PlainByDesign(std::string_view key) {
  return key == "keys/root"                   // the root key, wrapped by the customer's key
         || key == "config/encryption"        // check interval, grace period: nothing secret
         || key.substr(0, 10) == "dek/epoch/";  // writer epoch counters
}

// Which of `texts` occur in the file, read in 1 MiB chunks that overlap by the longest text
// (segments are preallocated at 64 MiB: reading them whole, or a byte at a time, took seconds).
// An unreadable file has nothing to find.
std::vector<std::string> FileContains(const std::filesystem::path& path,
                                      const std::vector<std::string>& texts) {
  std::vector<std::string> found;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return found;
  size_t overlap = 0;
  for (const std::string& t : texts) overlap = std::max(overlap, t.size());
  overlap = overlap > 0 ? overlap - 1 : 0;
  constexpr size_t kChunk = size_t{1} << 20;
  Bytes buffer(kChunk + overlap);
  size_t kept = 0;  // bytes carried over from the previous chunk
  std::vector<bool> seen(texts.size(), false);
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data() + kept, kChunk);
    if (n <= 0) break;  // the end, or an error: nothing more to search
    size_t filled = kept + static_cast<size_t>(n);
    ByteSpan window(buffer.data(), filled);
    for (size_t i = 0; i < texts.size(); ++i) seen[i] = seen[i] || Contains(window, texts[i]);
    kept = std::min(overlap, filled);
    std::memmove(buffer.data(), buffer.data() + filled - kept, kept);
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    if (seen[i]) found.push_back(texts[i]);
  }
  return found;
}

void SearchRaw(const VerifyAtRestOptions& o, AtRestReport& report) {
  for (auto it = std::filesystem::recursive_directory_iterator(o.hub_data);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const auto& entry = *it;
    // --bootstrap-device (the local stack) leaves connection strings here in the clear, by
    // design and documented: not part of the hub's data.
    if (entry.is_directory() && entry.path().filename() == "bootstrap") {
      it.disable_recursion_pending();
      ++report.skipped;
      continue;
    }
    if (!entry.is_regular_file()) continue;
    ++report.raw_files;
    for (const std::string& text : FileContains(entry.path(), o.find)) {
      report.findings.push_back("raw file " + entry.path().string() + " contains '" + text + "'");
    }
  }
}

Status CheckTelemetry(const VerifyAtRestOptions& o, const crypto::SecretBytes& service_key,
                      AtRestReport& report) {
  std::filesystem::path telemetry = o.hub_data / "telemetry";
  if (!std::filesystem::exists(telemetry)) return Status::Ok();
  for (const auto& partition : std::filesystem::directory_iterator(telemetry)) {
    if (!partition.is_directory()) continue;
    storage::SegmentLogOptions options;
    options.service_key = &service_key;
    COFFRE_ASSIGN_OR_RETURN(auto log, storage::SegmentLog::Open(partition.path(), options));
    for (uint64_t from = log->first_sequence(); from < log->durable_sequence();) {
      COFFRE_ASSIGN_OR_RETURN(auto records, log->Read(from, 1000, size_t{16} << 20));
      for (const auto& r : records) {
        ++report.telemetry_records;
        std::string where = "telemetry record " + partition.path().filename().string() + "/" +
                            std::to_string(r.sequence);
        if (IsEnvelope(r.payload)) {
          ++report.sealed_telemetry_records;
        } else {
          report.findings.push_back(where + " is not sealed by the customer layer");
        }
        for (const std::string& text : o.find) {
          if (Contains(r.payload, text)) report.findings.push_back(where + " contains '" + text + "'");
        }
      }
      from = records.back().sequence + 1;
    }
  }
  return Status::Ok();
}

Status CheckMetadata(const VerifyAtRestOptions& o, const crypto::SecretBytes& service_key,
                     AtRestReport& report) {
  COFFRE_ASSIGN_OR_RETURN(auto kv, storage::RocksKvStore::Open(o.hub_data / "meta",
                                                                {nullptr, &service_key}));
  return kv->Scan("", [&](std::string_view key, ByteSpan value) {
    ++report.metadata_values;
    std::string where = "metadata record " + std::string(key.substr(0, 80));
    if (PlainByDesign(key)) {
      ++report.plain_by_design;
    } else if (IsEnvelope(value)) {
      ++report.sealed_metadata_values;
    } else {
      report.findings.push_back(where + " is not sealed by the customer layer");
    }
    for (const std::string& text : o.find) {
      if (Contains(value, text) || Contains(AsBytes(key), text)) {
        report.findings.push_back(where + " contains '" + text + "'");
      }
    }
    return true;
  });
}

}  // namespace

Result<AtRestReport> VerifyAtRest(const VerifyAtRestOptions& o) {
  if (!std::filesystem::is_directory(o.hub_data)) {
    return InvalidArgument(o.hub_data.string() + " is not a hub data directory");
  }
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes service_key,
                          storage::LoadServiceKeyFile(o.service_key_file));
  AtRestReport report;
  SearchRaw(o, report);
  COFFRE_RETURN_IF_ERROR(CheckTelemetry(o, service_key, report));
  COFFRE_RETURN_IF_ERROR(CheckMetadata(o, service_key, report));
  return report;
}

void PrintAtRestReport(const AtRestReport& r, std::ostream& out) {
  out << "raw files searched:            " << r.raw_files
      << (r.skipped ? " (skipped bootstrap/: the local stack's connection strings, in the clear by design)" : "")
      << "\n"
      << "telemetry records (service key removed): " << r.telemetry_records << ", sealed "
      << r.sealed_telemetry_records << "\n"
      << "metadata values (service key removed):   " << r.metadata_values << ", sealed "
      << r.sealed_metadata_values << ", plain by design " << r.plain_by_design << "\n";
  for (const std::string& f : r.findings) out << "FOUND: " << f << "\n";
  out << (r.clean() ? "clean: nothing found, every record sealed\n" : "NOT clean\n");
}

}  // namespace coffre::cli
