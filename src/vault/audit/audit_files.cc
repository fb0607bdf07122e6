#include "vault/audit/audit_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/encoding.h"
#include "common/unique_fd.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr const char* kHeadRecord = "audit/head";

bool ReadUnsigned(const json& j, const char* field, uint64_t& out) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  out = it->get<uint64_t>();
  return true;
}

bool ReadMac(const json& j, const char* field, AuditMac& out) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return false;
  Result<Bytes> mac = HexDecode(it->get<std::string>());
  if (!mac.has_value() || mac->size() != out.size()) return false;
  std::memcpy(out.data(), mac->data(), out.size());
  return true;
}

}  // namespace

std::filesystem::path AuditFilePath(const std::filesystem::path& base, uint64_t number) {
  if (number <= 1) return base;
  std::filesystem::path p = base;
  p += "." + std::to_string(number);
  return p;
}

Result<AuditHead> ReadAuditHead(SealedStore& store) {
  COFFRE_ASSIGN_OR_RETURN(json j, store.GetJson(kHeadRecord));
  AuditHead head;
  auto malformed = [] { return DataLoss("the sealed audit head is malformed"); };
  if (!j.is_object() || !ReadUnsigned(j, "seq", head.end.seq) ||
      !ReadUnsigned(j, "offset", head.end.offset) || !ReadMac(j, "mac", head.end.mac)) {
    return malformed();
  }
  auto files = j.find("files");
  if (files == j.end()) return head;  // before rotation: one file, from the chain's start
  if (!files->is_array() || files->empty()) return malformed();
  head.files.clear();
  for (const json& f : *files) {
    AuditFileStart start;
    if (!f.is_object() || !ReadUnsigned(f, "file", start.file) ||
        !ReadUnsigned(f, "seq", start.seq) || !ReadMac(f, "mac", start.mac) || start.file == 0 ||
        (!head.files.empty() && (start.file != head.files.back().file + 1 ||
                                 start.seq < head.files.back().seq))) {
      return malformed();
    }
    head.files.push_back(start);
  }
  if (head.end.seq < head.files.back().seq) return malformed();
  ReadUnsigned(j, "droppedBytes", head.dropped_bytes);
  return head;
}

Status WriteAuditHead(SealedStore& store, const AuditHead& head) {
  json files = json::array();
  for (const AuditFileStart& f : head.files) {
    files.push_back({{"file", f.file}, {"seq", f.seq}, {"mac", HexEncode(f.mac)}});
  }
  return store.PutJson(kHeadRecord, {{"seq", head.end.seq},
                                     {"mac", HexEncode(head.end.mac)},
                                     {"offset", head.end.offset},
                                     {"files", std::move(files)},
                                     {"droppedBytes", head.dropped_bytes}});
}

AuditVerdict VerifyAuditFiles(const std::filesystem::path& base, const crypto::SecretBytes& key,
                              const AuditHead& head, uint64_t limit) {
  AuditVerdict verdict;
  const AuditFileStart& anchor = head.files.front();
  verdict.first = anchor.seq + 1;
  verdict.dropped_files = head.dropped_files();
  verdict.dropped_bytes = head.dropped_bytes;
  AuditPosition at{anchor.seq, anchor.mac, 0};
  auto fail = [&](std::string reason) {
    verdict.failure = AuditFailure{at.seq + 1, std::move(reason)};
  };
  for (size_t i = 0; i < head.files.size() && !verdict.failure; ++i) {
    bool last = i + 1 == head.files.size();
    std::filesystem::path path = AuditFilePath(base, head.files[i].file);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
      fail("the file " + path.filename().string() + " is missing (it held the entries after " +
           std::to_string(head.files[i].seq) + ")");
      break;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    AuditWalk walk = WalkAuditChain(fd.get(), key, AuditPosition{at.seq, at.mac, 0},
                                    last ? std::min(size, limit) : size, &head.end);
    at = walk.end;
    if (walk.failure) {
      verdict.failure = std::move(walk.failure);
    } else if (walk.incomplete_tail && !last) {
      fail("the file " + path.filename().string() + " ends in an incomplete line");
    }
  }
  verdict.count = at.seq - anchor.seq;
  if (!verdict.failure && at.seq < head.end.seq) {
    fail("truncated: the log ends after entry " + std::to_string(at.seq) +
         ", but the sealed head covers " + std::to_string(head.end.seq) + " entries");
  }
  verdict.ok = !verdict.failure.has_value();
  return verdict;
}

}  // namespace coffre::vault
