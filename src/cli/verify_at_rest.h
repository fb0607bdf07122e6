#pragma once
// `coffre verify-at-rest`: what a stopped hub's data directory reveals, layer by layer, so a user
// can check the double-encryption claims (docs/SECURITY.md) without trusting the hub:
//   1. the raw files: searched for each --find text;
//   2. with the service key (the infrastructure layer removed, as an operator holding that key
//      could): every telemetry record and every metadata value must be a sealed envelope of the
//      customer layer (or one of the few records that are plain by design: the wrapped root
//      key, wrapped data keys, settings), and is searched for each text too.
// It never needs the customer's key. Run it on a stopped hub or a copy: it opens the stores.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "common/result.h"

namespace coffre::cli {

struct VerifyAtRestOptions {
  std::filesystem::path hub_data;          // coffre-hub's --dir
  std::filesystem::path service_key_file;  // coffre-hub's --service-key-file
  std::vector<std::string> find;           // texts that must not be found
};

struct AtRestReport {
  size_t raw_files = 0;
  size_t skipped = 0;  // bootstrap/ folders
  size_t telemetry_records = 0, sealed_telemetry_records = 0;
  size_t metadata_values = 0, sealed_metadata_values = 0, plain_by_design = 0;
  std::vector<std::string> findings;  // where a text was found, or a record that is not sealed
  bool clean() const { return findings.empty(); }
};

Result<AtRestReport> VerifyAtRest(const VerifyAtRestOptions& options);
void PrintAtRestReport(const AtRestReport& report, std::ostream& out);

}  // namespace coffre::cli
