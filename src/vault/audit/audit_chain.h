#pragma once
// Checking the audit log's HMAC chain (docs/formats/audit-log.md): entries numbered 1, 2, ...
// in file order, none missing, each MAC = HMAC(audit key, previous MAC || body), and the
// entry the sealed head names carrying the head's MAC. Reads a file descriptor with pread, so
// a log being appended to can be checked up to a snapshot of its length.
// Stateless functions, thread-safe.

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/secret_bytes.h"
#include "vault/audit/audit_entry.h"

namespace coffre::vault {

// Where a chain stands: after entry `seq` (0: before the first), whose MAC is `mac` (zeros
// before the first), and whose line (with its newline) ends at byte `offset` of the file.
struct AuditPosition {
  uint64_t seq = 0;
  AuditMac mac{};
  uint64_t offset = 0;
};

struct AuditFailure {
  uint64_t seq = 0;    // the first entry that is wrong, missing or out of place
  std::string reason;  // for an operator
};

struct AuditWalk {
  AuditPosition end;                     // after the last entry that verified
  std::optional<AuditFailure> failure;   // why the walk stopped before `limit`
  bool incomplete_tail = false;          // stopped at a last line without its newline
};

// Verifies the entries in bytes [from.offset, limit) of `fd` as the continuation of `from`,
// stopping at the first that does not verify, or at an incomplete last line. If `checkpoint`
// is set, the entry numbered checkpoint->seq must carry checkpoint->mac.
AuditWalk WalkAuditChain(int fd, const crypto::SecretBytes& key, const AuditPosition& from,
                         uint64_t limit, const AuditPosition* checkpoint = nullptr);

struct AuditVerdict {
  bool ok = true;
  uint64_t count = 0;  // entries verified, in order, from the first kept one
  std::optional<AuditFailure> failure;
  // Retention: entries 1 to first - 1 were dropped, with their files (audit_files.h).
  uint64_t first = 1;
  uint64_t dropped_files = 0;
  uint64_t dropped_bytes = 0;
};

// The whole log in bytes [0, limit) of `fd` against `head` (the sealed head, or the live one):
// every entry verifies, and the log reaches head.seq with head.mac. Entries past the head (an
// unsynced tail) must verify too; an incomplete last line past the head is a crash's torn
// write and is ignored.
AuditVerdict VerifyAuditLog(int fd, const crypto::SecretBytes& key, const AuditPosition& head,
                            uint64_t limit);

// The verdict as one line: "OK: 12 entries" or "FAILED at entry 7: <reason> (6 verified)".
std::string DescribeVerdict(const AuditVerdict& verdict);

}  // namespace coffre::vault
