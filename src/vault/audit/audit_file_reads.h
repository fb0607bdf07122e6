#pragma once
// File reads the audit log shares between its writer (audit_log.cc) and its recovery
// (audit_log_recovery.cc). Internal to src/vault/audit.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/segment_files.h"
#include "vault/audit/audit_files.h"

namespace coffre::vault::audit_io {

constexpr size_t kBlock = 64 * 1024;

storage::SegmentFiles& Files();
std::filesystem::path DirectoryOf(const std::filesystem::path& file);
Result<uint64_t> FileSize(int fd, const std::filesystem::path& path);
uint64_t SizeOrZero(const std::filesystem::path& path);

// Bytes [from, to) of the file.
Result<std::string> ReadRange(int fd, uint64_t from, uint64_t to,
                              const std::filesystem::path& path);

// Whether the line that ends at head.offset is entry head.seq with MAC head.mac.
bool LastCoveredLineMatches(int fd, const AuditPosition& head, const std::filesystem::path& path);

// Up to `n` complete lines ending at `end` of the file, oldest first, reading at most
// `budget` bytes (less what it read); `whole` says whether the file's start was reached.
Result<std::vector<std::string>> LastLines(int fd, uint64_t end, size_t n, uint64_t& budget,
                                           const std::filesystem::path& path, bool& whole);

}  // namespace coffre::vault::audit_io
