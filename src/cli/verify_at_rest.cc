#include "cli/verify_at_rest.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "crypto/envelope.h"
#include "storage/file_cipher.h"
#include "storage/rocks_kv_store.h"
#include "storage/segment_log.h"

namespace coffre::cli {
namespace {

bool Contains(ByteSpan haystack, std::string_view needle) {
  if (needle.empty()) return false;
  auto it = std::search(haystack.begin(), haystack.end(),
                        reinterpret_cast<const std::byte*>(needle.data()),
                        reinterpret_cast<const std::byte*>(needle.data()) + needle.size());
  return it != haystack.end();
}

bool IsEnvelope(ByteSpan b) { return crypto::ReadEnvelopeHeader(b).has_value(); }

// Metadata records that are not customer-layer envelopes, and why that is fine.
bool PlainByDesign(std::string_view key) {
  return key == "keys/root"                   // the root key, wrapped by the customer's key
         || key == "config/encryption"        // check interval, grace period: nothing secret
         || key.substr(0, 10) == "dek/epoch/";  // writer epoch counters
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
    std::ifstream in(entry.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string& text : o.find) {
      if (Contains(AsBytes(content), text)) {
        report.findings.push_back("raw file " + entry.path().string() + " contains '" + text + "'");
      }
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
