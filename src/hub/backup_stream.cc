#include "hub/backup_stream.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/files.h"
#include "common/json_fields.h"

namespace coffre::hub {
namespace {

constexpr char kMagic[8] = {'C', 'F', 'B', 'A', 'C', 'K', 'U', 'P'};
constexpr int kFormat = 1;
constexpr size_t kChunkBytes = size_t{1} << 20;  // plaintext per chunk
constexpr size_t kMaxHeaderBytes = 64 * 1024;
// Bounds an entry's fields, so that a damaged length asks for no huge allocation.
constexpr uint32_t kMaxRowKeyBytes = 64 * 1024;
constexpr uint32_t kMaxValueBytes = 16u << 20;

enum : uint8_t { kRowTag = 'R', kPartitionTag = 'P', kRecordTag = 'M', kEndTag = 'Z' };

Bytes Digest(ByteSpan data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

crypto::GcmNonce ChunkNonce(uint64_t chunk) {
  crypto::GcmNonce nonce{};
  PutU64(nonce.data() + 4, chunk);
  return nonce;
}

// The AAD's tail: the chunk's number and whether it is the last.
std::array<std::byte, 9> ChunkPlace(uint64_t chunk, bool last) {
  std::array<std::byte, 9> place{};
  PutU64(place.data(), chunk);
  place[8] = std::byte(last ? 1 : 0);
  return place;
}

void PutU32To(Bytes& out, uint32_t v) {
  std::byte b[4];
  PutU32(b, v);
  out.insert(out.end(), b, b + 4);
}

void PutU64To(Bytes& out, uint64_t v) {
  std::byte b[8];
  PutU64(b, v);
  out.insert(out.end(), b, b + 8);
}

void PutBytesTo(Bytes& out, ByteSpan data) {
  PutU32To(out, static_cast<uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
}

// Reads exactly out.size() bytes; false at the end of the file before that.
Result<bool> ReadExactly(int fd, MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("reading the backup", errno);
    if (n == 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

Status CutShort() { return DataLoss("the backup is cut short"); }

Result<BackupHeader> ParseHeader(std::string_view text) {
  Result<nlohmann::json> parsed_json = ParseJsonObject(text, "The backup's header");
  if (!parsed_json.has_value()) return DataLoss(parsed_json.error().message());
  auto parsed = [&]() -> Result<BackupHeader> {
    COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(*parsed_json));
    COFFRE_ASSIGN_OR_RETURN(int format, f.Required<int>("format"));
    if (format != kFormat) {
      return FailedPrecondition("backup format " + std::to_string(format) +
                                " is not one this hub reads (" + std::to_string(kFormat) + ")");
    }
    BackupHeader h;
    COFFRE_ASSIGN_OR_RETURN(h.hub_name, f.Required<std::string>("hub"));
    COFFRE_ASSIGN_OR_RETURN(h.created_ms, f.Required<int64_t>("createdMs"));
    COFFRE_ASSIGN_OR_RETURN(h.partitions, f.Required<int>("partitions"));
    COFFRE_ASSIGN_OR_RETURN(h.records, f.Required<uint64_t>("records"));
    for (auto [name, out] : {std::pair{"salt", &h.salt}, std::pair{"settingsRow", &h.settings_row},
                             std::pair{"rootKeyRow", &h.root_key_row}}) {
      COFFRE_ASSIGN_OR_RETURN(std::string b64, f.Required<std::string>(name));
      Result<Bytes> bytes = Base64Decode(b64);
      if (!bytes.has_value()) return InvalidArgument(std::string("field '") + name + "' is not base64");
      *out = std::move(*bytes);
    }
    if (h.salt.size() != 16) return InvalidArgument("field 'salt' must be 16 bytes");
    return h;
  }();
  if (!parsed.has_value() && parsed.error().code() == StatusCode::kInvalidArgument) {
    return DataLoss("the backup's header is damaged: " + parsed.error().message());
  }
  return parsed;
}

std::string HeaderJson(const BackupHeader& h) {
  nlohmann::json j = {{"format", kFormat},
                      {"hub", h.hub_name},
                      {"createdMs", h.created_ms},
                      {"salt", Base64Encode(h.salt)},
                      {"settingsRow", Base64Encode(h.settings_row)},
                      {"rootKeyRow", Base64Encode(h.root_key_row)},
                      {"partitions", h.partitions},
                      {"records", h.records}};
  return j.dump();
}

}  // namespace

std::string BackupHeader::KeyLabel() const { return "backup/" + HexEncode(salt); }

// ---- writer

BackupWriter::BackupWriter(UniqueFd fd, std::unique_ptr<crypto::AesGcm> aead, Bytes header_digest,
                           std::function<Status(size_t)> room)
    : fd_(std::move(fd)),
      aead_(std::move(aead)),
      header_digest_(std::move(header_digest)),
      room_(std::move(room)) {}

Result<std::unique_ptr<BackupWriter>> BackupWriter::Start(UniqueFd fd, const BackupHeader& header,
                                                          const crypto::SecretBytes& key,
                                                          std::function<Status(size_t)> room) {
  if (header.salt.size() != 16) return InvalidArgument("a backup's salt is 16 bytes");
  std::string header_json = HeaderJson(header);
  ByteSpan magic = AsBytes(std::string_view(kMagic, sizeof kMagic));
  Bytes head(magic.begin(), magic.end());
  PutBytesTo(head, AsBytes(header_json));
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(key));
  std::unique_ptr<BackupWriter> w(
      new BackupWriter(std::move(fd), std::move(aead), Digest(head), std::move(room)));
  COFFRE_RETURN_IF_ERROR(w->WriteOut(head));
  return w;
}

Status BackupWriter::WriteOut(ByteSpan data) {
  if (room_) COFFRE_RETURN_IF_ERROR(room_(data.size()));
  COFFRE_RETURN_IF_ERROR(WriteAll(fd_.get(), data, "the backup"));
  written_ += data.size();
  return Status::Ok();
}

Status BackupWriter::SealChunk(size_t bytes, bool last) {
  auto place = ChunkPlace(chunk_, last);
  Bytes out(4 + bytes + crypto::kAesGcmTagSize);
  PutU32(out.data(), static_cast<uint32_t>(bytes + crypto::kAesGcmTagSize));
  COFFRE_RETURN_IF_ERROR(aead_->Seal(ChunkNonce(chunk_), {header_digest_, place},
                                     ByteSpan(plain_.data(), bytes),
                                     MutableByteSpan(out.data() + 4, out.size() - 4)));
  plain_.erase(plain_.begin(), plain_.begin() + static_cast<ptrdiff_t>(bytes));
  ++chunk_;
  return WriteOut(out);
}

Status BackupWriter::Flush() {
  while (plain_.size() > kChunkBytes) COFFRE_RETURN_IF_ERROR(SealChunk(kChunkBytes, false));
  return Status::Ok();
}

Status BackupWriter::AddRow(std::string_view key, ByteSpan value) {
  if (finished_) return FailedPrecondition("the backup is finished");
  if (key.size() > kMaxRowKeyBytes || value.size() > kMaxValueBytes) {
    return InvalidArgument("a row of " + std::to_string(value.size()) + " bytes is too large to back up");
  }
  plain_.push_back(std::byte(kRowTag));
  PutBytesTo(plain_, AsBytes(key));
  PutBytesTo(plain_, value);
  ++rows_;
  return Flush();
}

Status BackupWriter::BeginPartition(int partition, uint64_t first, uint64_t end) {
  if (finished_) return FailedPrecondition("the backup is finished");
  plain_.push_back(std::byte(kPartitionTag));
  PutU32To(plain_, static_cast<uint32_t>(partition));
  PutU64To(plain_, first);
  PutU64To(plain_, end);
  return Flush();
}

Status BackupWriter::AddRecord(const storage::StoredRecord& r) {
  if (finished_) return FailedPrecondition("the backup is finished");
  if (r.payload.size() > kMaxValueBytes) return InvalidArgument("a record is too large to back up");
  plain_.push_back(std::byte(kRecordTag));
  PutU64To(plain_, r.sequence);
  PutU64To(plain_, static_cast<uint64_t>(r.time_ms));
  plain_.insert(plain_.end(), r.link.begin(), r.link.end());
  plain_.push_back(std::byte(r.linked ? 1 : 0));
  PutBytesTo(plain_, r.payload);
  ++records_;
  return Flush();
}

Status BackupWriter::Finish() {
  if (finished_) return FailedPrecondition("the backup is finished");
  plain_.push_back(std::byte(kEndTag));
  PutU64To(plain_, rows_);
  PutU64To(plain_, records_);
  COFFRE_RETURN_IF_ERROR(Flush());
  COFFRE_RETURN_IF_ERROR(SealChunk(plain_.size(), /*last=*/true));
  finished_ = true;
  if (::fsync(fd_.get()) != 0) return ErrnoStatus("syncing the backup", errno);
  return Status::Ok();
}

// ---- reader

BackupReader::BackupReader(UniqueFd fd, BackupHeader header, Bytes header_digest, uint64_t read)
    : fd_(std::move(fd)),
      header_(std::move(header)),
      header_digest_(std::move(header_digest)),
      read_(read) {}

Result<std::unique_ptr<BackupReader>> BackupReader::Open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("opening " + path.string(), errno);
  return Open(std::move(fd));
}

Result<std::unique_ptr<BackupReader>> BackupReader::Open(UniqueFd fd) {
  Bytes head(sizeof kMagic + 4);
  COFFRE_ASSIGN_OR_RETURN(bool whole, ReadExactly(fd.get(), head));
  if (!whole || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) {
    return DataLoss("this is not a Coffre hub backup");
  }
  uint32_t length = GetU32(head.data() + sizeof kMagic);
  if (length > kMaxHeaderBytes) return DataLoss("the backup's header is damaged (its length)");
  size_t at = head.size();
  head.resize(at + length);
  COFFRE_ASSIGN_OR_RETURN(whole, ReadExactly(fd.get(), MutableByteSpan(head.data() + at, length)));
  if (!whole) return CutShort();
  COFFRE_ASSIGN_OR_RETURN(
      BackupHeader header,
      ParseHeader(std::string_view(reinterpret_cast<const char*>(head.data() + at), length)));
  return std::unique_ptr<BackupReader>(
      new BackupReader(std::move(fd), std::move(header), Digest(head), head.size()));
}

Status BackupReader::Unlock(const crypto::SecretBytes& key) {
  COFFRE_ASSIGN_OR_RETURN(aead_, crypto::AesGcm::Create(key));
  return Status::Ok();
}

Status BackupReader::OpenChunk() {
  if (last_opened_) return DataLoss("the backup ends inside an entry");
  std::byte len[4];
  COFFRE_ASSIGN_OR_RETURN(bool whole, ReadExactly(fd_.get(), len));
  if (!whole) return CutShort();
  uint32_t sealed_len = GetU32(len);
  if (sealed_len < crypto::kAesGcmTagSize || sealed_len > kChunkBytes + crypto::kAesGcmTagSize) {
    return DataLoss("the backup is damaged at chunk " + std::to_string(chunk_) + " (its length)");
  }
  Bytes sealed(sealed_len);
  COFFRE_ASSIGN_OR_RETURN(whole, ReadExactly(fd_.get(), sealed));
  if (!whole) return CutShort();
  read_ += 4 + sealed_len;
  // Unread plaintext moves to the front; the chunk opens behind it.
  plain_.erase(plain_.begin(), plain_.begin() + static_cast<ptrdiff_t>(at_));
  at_ = 0;
  size_t kept = plain_.size();
  plain_.resize(kept + sealed_len - crypto::kAesGcmTagSize);
  MutableByteSpan out(plain_.data() + kept, sealed_len - crypto::kAesGcmTagSize);
  // A chunk opens as the last one or as another one: which one it was sealed as says whether
  // more must follow (so a cut after any chunk but the real last is found).
  for (bool last : {false, true}) {
    auto place = ChunkPlace(chunk_, last);
    if (aead_->Open(ChunkNonce(chunk_), {header_digest_, place}, sealed, out).ok()) {
      last_opened_ = last;
      ++chunk_;
      return Status::Ok();
    }
  }
  return DataLoss("the backup is damaged at chunk " + std::to_string(chunk_) +
                  " (it does not open under this hub's key, or was changed or moved)");
}

Status BackupReader::Need(size_t bytes) {
  while (plain_.size() - at_ < bytes) COFFRE_RETURN_IF_ERROR(OpenChunk());
  return Status::Ok();
}

Result<BackupEntry> BackupReader::Next() {
  if (!aead_) return FailedPrecondition("the backup is locked: Unlock first");
  if (ended_) return FailedPrecondition("the backup has ended");
  auto u32 = [&]() -> Result<uint32_t> {
    COFFRE_RETURN_IF_ERROR(Need(4));
    uint32_t v = GetU32(plain_.data() + at_);
    at_ += 4;
    return v;
  };
  auto u64 = [&]() -> Result<uint64_t> {
    COFFRE_RETURN_IF_ERROR(Need(8));
    uint64_t v = GetU64(plain_.data() + at_);
    at_ += 8;
    return v;
  };
  auto bytes = [&](uint32_t max) -> Result<Bytes> {
    COFFRE_ASSIGN_OR_RETURN(uint32_t n, u32());
    if (n > max) return DataLoss("the backup holds an entry too large to be ours");
    COFFRE_RETURN_IF_ERROR(Need(n));
    Bytes out(plain_.begin() + static_cast<ptrdiff_t>(at_),
              plain_.begin() + static_cast<ptrdiff_t>(at_ + n));
    at_ += n;
    return out;
  };
  COFFRE_RETURN_IF_ERROR(Need(1));
  uint8_t tag = static_cast<uint8_t>(plain_[at_++]);
  BackupEntry e;
  switch (tag) {
    case kRowTag: {
      e.kind = BackupEntry::Kind::kRow;
      COFFRE_ASSIGN_OR_RETURN(Bytes key, bytes(kMaxRowKeyBytes));
      e.key.assign(reinterpret_cast<const char*>(key.data()), key.size());
      COFFRE_ASSIGN_OR_RETURN(e.value, bytes(kMaxValueBytes));
      ++rows_;
      return e;
    }
    case kPartitionTag: {
      e.kind = BackupEntry::Kind::kPartition;
      COFFRE_ASSIGN_OR_RETURN(uint32_t p, u32());
      if (p >= 1024) return DataLoss("the backup names partition " + std::to_string(p));
      e.partition = static_cast<int>(p);
      COFFRE_ASSIGN_OR_RETURN(e.first, u64());
      COFFRE_ASSIGN_OR_RETURN(e.end, u64());
      if (e.first > e.end) return DataLoss("the backup's partition " + std::to_string(p) + " ends before it begins");
      return e;
    }
    case kRecordTag: {
      e.kind = BackupEntry::Kind::kRecord;
      COFFRE_ASSIGN_OR_RETURN(e.record.sequence, u64());
      COFFRE_ASSIGN_OR_RETURN(uint64_t time, u64());
      e.record.time_ms = static_cast<int64_t>(time);
      COFFRE_RETURN_IF_ERROR(Need(e.record.link.size() + 1));
      std::memcpy(e.record.link.data(), plain_.data() + at_, e.record.link.size());
      at_ += e.record.link.size();
      e.record.linked = plain_[at_++] != std::byte{0};
      COFFRE_ASSIGN_OR_RETURN(e.record.payload, bytes(kMaxValueBytes));
      ++records_;
      return e;
    }
    case kEndTag: {
      e.kind = BackupEntry::Kind::kEnd;
      COFFRE_ASSIGN_OR_RETURN(e.rows, u64());
      COFFRE_ASSIGN_OR_RETURN(e.records, u64());
      if (e.rows != rows_ || e.records != records_) {
        return DataLoss("the backup's counts do not match what it holds");
      }
      if (!last_opened_ || at_ != plain_.size()) return DataLoss("the backup goes on after its end");
      std::byte extra;
      COFFRE_ASSIGN_OR_RETURN(bool more, ReadExactly(fd_.get(), MutableByteSpan(&extra, 1)));
      if (more) return DataLoss("the backup goes on after its end");
      ended_ = true;
      return e;
    }
    default:
      return DataLoss("the backup holds an entry of an unknown kind");
  }
}

}  // namespace coffre::hub
