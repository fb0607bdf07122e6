#include "hub/telemetry_record.h"

#include <array>
#include <cstring>

namespace coffre::hub {
namespace {

constexpr uint8_t kVersion = 1;
// Tags after the system properties' (1-10): the connection's authentication.
constexpr uint8_t kAuthTypeTag = 11;
constexpr uint8_t kAuthGenerationTag = 12;

// The system properties in a fixed order: tag i+1 names property i.
std::array<std::optional<std::string>*, 10> Slots(SystemProperties& s) {
  return {&s.message_id,   &s.correlation_id, &s.user_id,     &s.to,
          &s.content_type, &s.content_encoding, &s.expiry_time, &s.interface_id,
          &s.subject,      &s.output_name};
}

void PutString(Bytes& out, std::string_view s) {
  std::byte len[4];
  PutU32(len, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), len, len + 4);
  ByteSpan b = AsBytes(s);
  out.insert(out.end(), b.begin(), b.end());
}

class Cursor {
 public:
  explicit Cursor(ByteSpan in) : in_(in) {}
  Result<uint8_t> U8() {
    if (pos_ + 1 > in_.size()) return Bad();
    return static_cast<uint8_t>(in_[pos_++]);
  }
  Result<uint32_t> U32() {
    if (pos_ + 4 > in_.size()) return Bad();
    uint32_t v = GetU32(in_.data() + pos_);
    pos_ += 4;
    return v;
  }
  Result<uint64_t> U64() {
    if (pos_ + 8 > in_.size()) return Bad();
    uint64_t v = GetU64(in_.data() + pos_);
    pos_ += 8;
    return v;
  }
  Result<std::string> String() {
    COFFRE_ASSIGN_OR_RETURN(uint32_t n, U32());
    if (pos_ + n > in_.size()) return Bad();
    std::string s(AsChars(in_.subspan(pos_, n)));
    pos_ += n;
    return s;
  }
  bool done() const { return pos_ == in_.size(); }
  static Status Bad() { return DataLoss("telemetry record is malformed"); }

 private:
  ByteSpan in_;
  size_t pos_ = 0;
};

}  // namespace

void EncodeTelemetryRecord(const TelemetryMessage& m, int64_t enqueued_ms, Bytes& out) {
  out.push_back(std::byte(kVersion));
  std::byte head[8];
  PutU64(head, static_cast<uint64_t>(enqueued_ms));
  out.insert(out.end(), head, head + 8);
  PutString(out, m.device_id);
  out.push_back(std::byte(m.module_id ? 1 : 0));
  if (m.module_id) PutString(out, *m.module_id);
  SystemProperties system = m.properties.system;
  auto slots = Slots(system);
  const std::optional<std::string>* auth[] = {&m.auth_type, &m.auth_generation_id};
  uint8_t present = 0;
  for (auto* slot : slots) present += slot->has_value() ? 1 : 0;
  for (auto* slot : auth) present += slot->has_value() ? 1 : 0;
  out.push_back(std::byte(present));
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i]->has_value()) continue;
    out.push_back(std::byte(i + 1));
    PutString(out, **slots[i]);
  }
  for (size_t i = 0; i < 2; ++i) {  // tags 11 and 12, after the system properties
    if (!auth[i]->has_value()) continue;
    out.push_back(std::byte(kAuthTypeTag + i));
    PutString(out, **auth[i]);
  }
  std::byte count[4];
  PutU32(count, static_cast<uint32_t>(m.properties.application.size()));
  out.insert(out.end(), count, count + 4);
  for (const auto& [name, value] : m.properties.application) {
    PutString(out, name);
    PutString(out, value);
  }
  PutString(out, AsChars(m.body));
}

Result<TelemetryMessage> DecodeTelemetryRecord(ByteSpan record) {
  Cursor c(record);
  COFFRE_ASSIGN_OR_RETURN(uint8_t version, c.U8());
  if (version != kVersion) return Cursor::Bad();
  TelemetryMessage m;
  COFFRE_ASSIGN_OR_RETURN(uint64_t enqueued, c.U64());
  m.enqueued_ms = static_cast<int64_t>(enqueued);
  COFFRE_ASSIGN_OR_RETURN(m.device_id, c.String());
  COFFRE_ASSIGN_OR_RETURN(uint8_t has_module, c.U8());
  if (has_module > 1) return Cursor::Bad();
  if (has_module) {
    COFFRE_ASSIGN_OR_RETURN(m.module_id, c.String());
  }
  auto slots = Slots(m.properties.system);
  COFFRE_ASSIGN_OR_RETURN(uint8_t present, c.U8());
  for (uint8_t k = 0; k < present; ++k) {
    COFFRE_ASSIGN_OR_RETURN(uint8_t tag, c.U8());
    std::optional<std::string>* slot = nullptr;
    if (tag >= 1 && tag <= slots.size()) slot = slots[tag - 1];
    if (tag == kAuthTypeTag) slot = &m.auth_type;
    if (tag == kAuthGenerationTag) slot = &m.auth_generation_id;
    if (slot == nullptr || slot->has_value()) return Cursor::Bad();
    COFFRE_ASSIGN_OR_RETURN(*slot, c.String());
  }
  COFFRE_ASSIGN_OR_RETURN(uint32_t count, c.U32());
  if (count > 100000) return Cursor::Bad();
  for (uint32_t k = 0; k < count; ++k) {
    COFFRE_ASSIGN_OR_RETURN(std::string name, c.String());
    COFFRE_ASSIGN_OR_RETURN(std::string value, c.String());
    m.properties.application.emplace_back(std::move(name), std::move(value));
  }
  COFFRE_ASSIGN_OR_RETURN(std::string body, c.String());
  m.body = ToBytes(body);
  if (!c.done()) return Cursor::Bad();
  return m;
}

}  // namespace coffre::hub
