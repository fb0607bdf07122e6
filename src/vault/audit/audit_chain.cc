#include "vault/audit/audit_chain.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace coffre::vault {
namespace {

// Entries are under 2 KiB; a longer line is not one of ours and is not kept in memory whole.
constexpr size_t kMaxLineBytes = 64 * 1024;

// Lines of bytes [offset, limit) of a file, read with pread in blocks.
class LineReader {
 public:
  LineReader(int fd, uint64_t offset, uint64_t limit)
      : fd_(fd), offset_(offset), limit_(limit), consumed_(offset) {}

  struct Line {
    std::string text;       // without its newline; cut short if oversize
    uint64_t end = 0;       // offset just past the line (and its newline)
    bool complete = false;  // ended by a newline
    bool oversize = false;
  };

  // False at the end of the range (or on a read error, which ends it too).
  bool Next(Line& line) {
    line.text.clear();
    line.complete = line.oversize = false;
    bool any = false;
    for (;;) {
      if (pos_ == buffer_.size() && !Fill()) break;
      any = true;
      const char* start = buffer_.data() + pos_;
      const void* nl = std::memchr(start, '\n', buffer_.size() - pos_);
      size_t n = nl ? static_cast<const char*>(nl) - start : buffer_.size() - pos_;
      if (line.text.size() + n > kMaxLineBytes) {
        line.oversize = true;
      } else {
        line.text.append(start, n);
      }
      pos_ += n;
      consumed_ += n;
      if (nl) {
        ++pos_;
        ++consumed_;
        line.complete = true;
        break;
      }
    }
    line.end = consumed_;
    return any;
  }

 private:
  bool Fill() {
    if (offset_ >= limit_) return false;
    buffer_.resize(std::min<uint64_t>(kBlock, limit_ - offset_));
    ssize_t n;
    do {
      n = ::pread(fd_, buffer_.data(), buffer_.size(), static_cast<off_t>(offset_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      buffer_.clear();
      pos_ = 0;
      limit_ = offset_;
      return false;
    }
    buffer_.resize(static_cast<size_t>(n));
    offset_ += static_cast<uint64_t>(n);
    pos_ = 0;
    return true;
  }

  static constexpr size_t kBlock = 64 * 1024;
  int fd_;
  uint64_t offset_;  // next byte to read from the file
  uint64_t limit_;
  uint64_t consumed_;  // file offset just past what Next has returned
  std::vector<char> buffer_;
  size_t pos_ = 0;
};

std::string Range(uint64_t first, uint64_t last) {
  if (first == last) return "entry " + std::to_string(first) + " is missing";
  return "entries " + std::to_string(first) + " to " + std::to_string(last) + " are missing";
}

// The line where entry `expected` should be holds entry `seen`: a gap, or a reordering if
// `expected` turns up further on.
std::string Misplaced(LineReader& rest, uint64_t expected, uint64_t seen) {
  if (seen < expected) {
    return "out of order: entry " + std::to_string(seen) + " comes again after entry " +
           std::to_string(expected - 1);
  }
  LineReader::Line line;
  while (rest.Next(line)) {
    std::optional<AuditLineParts> parts = SplitAuditLine(line.text);
    if (parts && parts->seq == expected) {
      return "out of order: entry " + std::to_string(expected) + " comes after entry " +
             std::to_string(seen);
    }
  }
  return Range(expected, seen - 1);
}

}  // namespace

AuditWalk WalkAuditChain(int fd, const crypto::SecretBytes& key, const AuditPosition& from,
                         uint64_t limit, const AuditPosition* checkpoint) {
  AuditWalk walk;
  walk.end = from;
  LineReader reader(fd, from.offset, limit);
  LineReader::Line line;
  while (reader.Next(line)) {
    uint64_t expected = walk.end.seq + 1;
    if (!line.complete) {
      walk.incomplete_tail = true;
      break;
    }
    std::optional<AuditLineParts> parts;
    if (!line.oversize) parts = SplitAuditLine(line.text);
    if (!parts) {
      walk.failure = AuditFailure{
          expected, "the line after entry " + std::to_string(expected - 1) +
                        " is not an audit entry"};
      break;
    }
    if (parts->seq != expected) {
      walk.failure = AuditFailure{expected, Misplaced(reader, expected, parts->seq)};
      break;
    }
    Result<AuditMac> mac = ChainMac(key, walk.end.mac, parts->body);
    if (!mac.has_value()) {
      walk.failure = AuditFailure{expected, mac.error().message()};
      break;
    }
    if (CRYPTO_memcmp(mac->data(), parts->mac.data(), mac->size()) != 0) {
      walk.failure = AuditFailure{
          expected, "MAC mismatch: the entry was changed, or written without the vault's "
                    "audit key"};
      break;
    }
    if (checkpoint != nullptr && expected == checkpoint->seq &&
        CRYPTO_memcmp(mac->data(), checkpoint->mac.data(), mac->size()) != 0) {
      walk.failure = AuditFailure{expected, "the entry is not the one the sealed head names"};
      break;
    }
    walk.end = AuditPosition{expected, *mac, line.end};
  }
  return walk;
}

AuditVerdict VerifyAuditLog(int fd, const crypto::SecretBytes& key, const AuditPosition& head,
                            uint64_t limit) {
  AuditWalk walk = WalkAuditChain(fd, key, AuditPosition{}, limit, &head);
  AuditVerdict verdict;
  verdict.count = walk.end.seq;
  if (walk.failure) {
    verdict.failure = std::move(walk.failure);
  } else if (walk.end.seq < head.seq) {
    verdict.failure = AuditFailure{
        walk.end.seq + 1, "truncated: the log ends after entry " + std::to_string(walk.end.seq) +
                              (walk.incomplete_tail ? " (then an incomplete line)" : "") +
                              ", but the sealed head covers " + std::to_string(head.seq) +
                              " entries"};
  }
  verdict.ok = !verdict.failure.has_value();
  return verdict;
}

std::string DescribeVerdict(const AuditVerdict& v) {
  std::string dropped;
  if (v.first > 1) {
    dropped = "; entries 1 to " + std::to_string(v.first - 1) + " were dropped by retention (" +
              std::to_string(v.dropped_files) + " files)";
  }
  if (v.ok) return "OK: " + std::to_string(v.count) + " entries" + dropped;
  return "FAILED at entry " + std::to_string(v.failure->seq) + ": " + v.failure->reason + " (" +
         std::to_string(v.count) + " verified" + dropped + ")";
}

}  // namespace coffre::vault
