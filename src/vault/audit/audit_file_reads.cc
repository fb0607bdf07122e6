#include "vault/audit/audit_file_reads.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "vault/audit/audit_chain.h"

namespace coffre::vault::audit_io {

storage::SegmentFiles& Files() { return storage::PosixSegmentFiles(); }

std::filesystem::path DirectoryOf(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  return dir.empty() ? "." : dir;
}

Result<uint64_t> FileSize(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat " + path.string(), errno);
  return static_cast<uint64_t>(st.st_size);
}

uint64_t SizeOrZero(const std::filesystem::path& path) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Bytes [from, to) of the file.
Result<std::string> ReadRange(int fd, uint64_t from, uint64_t to,
                              const std::filesystem::path& path) {
  std::string out(to - from, '\0');
  MutableByteSpan span(reinterpret_cast<std::byte*>(out.data()), out.size());
  COFFRE_RETURN_IF_ERROR(Files().Read(fd, span, from, path));
  return out;
}

// Whether the line that ends at head.offset is entry head.seq with MAC head.mac.
bool LastCoveredLineMatches(int fd, const AuditPosition& head, const std::filesystem::path& path) {
  uint64_t from = head.offset > kBlock ? head.offset - kBlock : 0;
  Result<std::string> tail = ReadRange(fd, from, head.offset, path);
  if (!tail.has_value() || tail->empty() || tail->back() != '\n') return false;
  tail->pop_back();
  size_t nl = tail->rfind('\n');
  if (nl == std::string::npos && from > 0) return false;  // longer than any entry
  std::string_view line = std::string_view(*tail).substr(nl == std::string::npos ? 0 : nl + 1);
  std::optional<AuditLineParts> parts = SplitAuditLine(line);
  return parts && parts->seq == head.seq &&
         CRYPTO_memcmp(parts->mac.data(), head.mac.data(), head.mac.size()) == 0;
}

// Up to `n` complete lines ending at `end` of the file, oldest first, reading at most
// `budget` bytes (less what it read); `whole` says whether the file's start was reached.
Result<std::vector<std::string>> LastLines(int fd, uint64_t end, size_t n, uint64_t& budget,
                                           const std::filesystem::path& path, bool& whole) {
  std::string text;
  uint64_t start = end;
  size_t breaks = 0;
  while (start > 0 && breaks <= n && budget > 0) {
    uint64_t from = start > kBlock ? start - kBlock : 0;
    COFFRE_ASSIGN_OR_RETURN(std::string block, ReadRange(fd, from, start, path));
    breaks += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
    budget -= std::min<uint64_t>(budget, block.size());
    text.insert(0, block);
    start = from;
  }
  whole = start == 0;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  std::vector<std::string> lines;
  if (text.empty() && end == 0) return lines;
  for (std::string_view rest = text;;) {
    size_t nl = rest.find('\n');
    lines.emplace_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  if (!whole && !lines.empty()) lines.erase(lines.begin());  // cut mid-line
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
  return lines;
}

}  // namespace coffre::vault::audit_io
