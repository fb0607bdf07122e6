#include "vault/audit/audit_entry.h"

#include <charconv>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/time_format.h"
#include "crypto/hmac.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr std::string_view kSeqPrefix = "{\"seq\":";
constexpr std::string_view kMacField = ",\"mac\":\"";
constexpr size_t kMacHexSize = 64;
// `,"mac":"` + 64 hex digits + `"}`
constexpr size_t kMacSuffixSize = kMacField.size() + kMacHexSize + 2;
// What a client can put in a field is clipped, so no request can make a huge line.
constexpr size_t kMaxFieldBytes = 256;

// A JSON string literal; whatever the client sent, the line stays one line of valid JSON.
std::string Quoted(std::string_view text) {
  return json(std::string(text.substr(0, kMaxFieldBytes)))
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Text(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string AuditBody(const AuditEntry& e) { return AuditBody(e.seq, e.time_ms, AuditFields(e)); }

std::string AuditBody(uint64_t seq, int64_t time_ms, std::string_view fields) {
  std::string body;
  body.reserve(64 + fields.size());
  body.append(kSeqPrefix).append(std::to_string(seq));
  body.append(",\"time\":\"").append(FormatIsoTime(time_ms)).append("\"");
  body.append(fields);
  return body;
}

std::string AuditFields(const AuditEntry& e) {
  std::string body;
  body.reserve(256);
  body.append(",\"principal\":").append(Quoted(e.principal));
  body.append(",\"op\":").append(Quoted(e.op));
  body.append(",\"key\":").append(Quoted(e.key));
  body.append(",\"version\":").append(Quoted(e.version));
  body.append(",\"status\":").append(std::to_string(e.status));
  body.append(",\"code\":").append(Quoted(e.code));
  body.append(",\"client\":").append(Quoted(e.client));
  if (e.count > 0) body.append(",\"count\":").append(std::to_string(e.count));
  return body;
}

Result<AuditMac> ChainMac(const crypto::SecretBytes& key, const AuditMac& prev,
                          std::string_view body) {
  Bytes input(prev.begin(), prev.end());
  ByteSpan b = AsBytes(body);
  input.insert(input.end(), b.begin(), b.end());
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, crypto::HmacSha256(key, input));
  AuditMac out;
  std::memcpy(out.data(), mac.data(), out.size());
  return out;
}

std::string AuditLine(std::string_view body, const AuditMac& mac) {
  std::string line;
  line.reserve(body.size() + kMacSuffixSize);
  line.append(body).append(kMacField).append(HexEncode(mac)).append("\"}");
  return line;
}

std::optional<AuditLineParts> SplitAuditLine(std::string_view line) {
  if (line.size() < kSeqPrefix.size() + 1 + kMacSuffixSize ||
      line.substr(0, kSeqPrefix.size()) != kSeqPrefix ||
      line.substr(line.size() - kMacSuffixSize, kMacField.size()) != kMacField ||
      line.substr(line.size() - 2) != "\"}") {
    return std::nullopt;
  }
  AuditLineParts parts;
  parts.body = line.substr(0, line.size() - kMacSuffixSize);
  Result<Bytes> mac =
      HexDecode(line.substr(line.size() - kMacHexSize - 2, kMacHexSize));
  if (!mac.has_value() || mac->size() != parts.mac.size()) return std::nullopt;
  std::memcpy(parts.mac.data(), mac->data(), parts.mac.size());
  const char* digits = parts.body.data() + kSeqPrefix.size();
  const char* end = parts.body.data() + parts.body.size();
  auto [next, ec] = std::from_chars(digits, end, parts.seq);
  if (ec != std::errc() || next == digits || next == end || *next != ',' || parts.seq == 0) {
    return std::nullopt;
  }
  return parts;
}

std::optional<AuditEntry> ParseAuditLine(std::string_view line) {
  std::optional<AuditLineParts> parts = SplitAuditLine(line);
  if (!parts) return std::nullopt;
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  AuditEntry e;
  e.seq = parts->seq;
  e.time_ms = ParseIsoTime(Text(j, "time")).value_or(0);
  e.principal = Text(j, "principal");
  e.op = Text(j, "op");
  e.key = Text(j, "key");
  e.version = Text(j, "version");
  auto status = j.find("status");
  if (status != j.end() && status->is_number_unsigned()) e.status = status->get<unsigned>();
  e.code = Text(j, "code");
  e.client = Text(j, "client");
  auto count = j.find("count");
  if (count != j.end() && count->is_number_unsigned()) e.count = count->get<uint64_t>();
  return e;
}

}  // namespace coffre::vault
