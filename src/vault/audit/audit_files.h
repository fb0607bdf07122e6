#pragma once
// The audit log's files and its sealed head (docs/formats/audit-log.md). The log is a chain of
// numbered files: file 1 is the base path (DIR/audit.log), file n > 1 is base.n. A file is
// closed once the next entry would pass the size limit, and the chain goes on in the next
// file (its first entry chains from the last MAC of the one before). Retention drops the
// oldest files; the head keeps where each kept file starts in the chain, so the first kept
// file's start anchors verification, and what was dropped stays on record.
// Value types and stateless functions, thread-safe.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/result.h"
#include "vault/audit/audit_chain.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

// File `number` (1, 2, ...) of the log whose first file is `base`.
std::filesystem::path AuditFilePath(const std::filesystem::path& base, uint64_t number);

// Where a file starts in the chain: after entry `seq` (0: the chain's start), whose MAC is
// `mac` (zeros for 0).
struct AuditFileStart {
  uint64_t file = 1;
  uint64_t seq = 0;
  AuditMac mac{};
};

// The head as sealed in the store ("audit/head").
struct AuditHead {
  AuditPosition end;  // the last entry covered, in the last of `files` (offset in that file)
  std::vector<AuditFileStart> files{AuditFileStart{}};  // kept files, oldest first; never empty
  uint64_t dropped_bytes = 0;  // bytes of the files retention removed

  uint64_t file() const { return files.back().file; }
  uint64_t dropped_files() const { return files.front().file - 1; }
  uint64_t dropped_entries() const { return files.front().seq; }
};

// NOT_FOUND before the first head; DATA_LOSS if malformed. A head from before rotation (one
// file, no "files") reads as file 1 from the chain's start.
Result<AuditHead> ReadAuditHead(SealedStore& store);
Status WriteAuditHead(SealedStore& store, const AuditHead& head);

// Every kept file against `head` (the sealed or the live one): the chain runs from the first
// file's start through each file in order, every entry verifies, and it reaches head.end.
// In the last file only bytes before `limit` are read (the live length); entries past the
// head must verify, and an incomplete line past it is a crash's torn write.
AuditVerdict VerifyAuditFiles(const std::filesystem::path& base, const crypto::SecretBytes& key,
                              const AuditHead& head, uint64_t limit);

}  // namespace coffre::vault
