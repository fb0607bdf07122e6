#include "hub/sas_token.h"

#include <openssl/crypto.h>
#include <strings.h>

#include <charconv>
#include <vector>

#include "common/encoding.h"
#include "common/strings.h"
#include "crypto/hmac.h"

namespace coffre::hub {
namespace {

constexpr std::string_view kPrefix = "SharedAccessSignature ";
constexpr size_t kMaxTokenLength = 4096;

Status Invalid() { return Unauthenticated("the shared access signature is not valid"); }
constexpr std::string_view kExpired = "the shared access signature has expired";

bool NameIs(std::string_view name, std::string_view want) {
  return name.size() == want.size() && ::strncasecmp(name.data(), want.data(), want.size()) == 0;
}

Result<Bytes> Hmac(const crypto::SecretBytes& key, std::string_view raw_sr, std::string_view raw_se) {
  std::string to_sign;
  to_sign.reserve(raw_sr.size() + 1 + raw_se.size());
  to_sign.append(raw_sr).append("\n").append(raw_se);
  return crypto::HmacSha256(key, AsBytes(to_sign));
}

// The SDKs' escaping of a device resource: strict encodeURIComponent, with the one quirk that
// '*' becomes "%2a" in lower case (spec §1.4).
std::string SdkEncode(std::string_view resource) {
  std::string out;
  for (char c : resource) {
    if (c == '*') {
      out += "%2a";
    } else {
      out += PercentEncode(std::string_view(&c, 1));
    }
  }
  return out;
}

}  // namespace

Result<SasToken> ParseSasToken(std::string_view text) {
  if (text.size() > kMaxTokenLength || text.substr(0, kPrefix.size()) != kPrefix) return Invalid();
  std::string_view rest = text.substr(kPrefix.size());
  std::optional<std::string_view> sr, sig, se, skn;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view field = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return Invalid();
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    std::optional<std::string_view>* slot = NameIs(name, "sr")    ? &sr
                                            : NameIs(name, "sig") ? &sig
                                            : NameIs(name, "se")  ? &se
                                            : NameIs(name, "skn") ? &skn
                                                                  : nullptr;
    if (slot == nullptr) continue;  // unknown fields are ignored, as Azure does
    if (slot->has_value()) return Invalid();
    *slot = value;
  }
  if (!sr || !sig || !se || sr->empty()) return Invalid();
  SasToken token;
  token.raw_resource = std::string(*sr);
  token.raw_expiry = std::string(*se);
  token.resource = PercentDecode(*sr, false);
  std::string se_text = PercentDecode(*se, false);
  auto [end, ec] = std::from_chars(se_text.data(), se_text.data() + se_text.size(), token.expiry);
  if (ec != std::errc() || end != se_text.data() + se_text.size() || token.expiry < 0) {
    return Invalid();
  }
  Result<Bytes> signature = Base64Decode(PercentDecode(*sig, false));
  if (!signature.has_value() || signature->size() != 32) return Invalid();
  token.signature = std::move(*signature);
  if (skn) {
    token.key_name = PercentDecode(*skn, false);
    if (token.key_name->empty()) return Invalid();
  }
  return token;
}

Status VerifySasToken(const SasToken& token, const crypto::SecretBytes& key, int64_t now) {
  COFFRE_ASSIGN_OR_RETURN(Bytes expected, Hmac(key, token.raw_resource, token.raw_expiry));
  bool match = expected.size() == token.signature.size() &&
               CRYPTO_memcmp(expected.data(), token.signature.data(), expected.size()) == 0;
  if (!match) return Invalid();
  if (token.expiry + kSasClockSkewSeconds < now) {
    return Unauthenticated(std::string(kExpired));
  }
  return Status::Ok();
}

Status VerifySasTokenWithKeyPair(const SasToken& token, const std::string& primary_b64,
                                 const std::string& secondary_b64, int64_t now) {
  Status last = Invalid();
  for (const std::string* key : {&primary_b64, &secondary_b64}) {
    Result<Bytes> raw = Base64Decode(*key);
    if (!raw.has_value() || raw->empty()) continue;
    Result<crypto::SecretBytes> secret = crypto::SecretBytes::CopyOf(*raw);
    crypto::Cleanse(*raw);
    if (!secret.has_value()) return secret.error();
    last = VerifySasToken(token, *secret, now);
    if (last.ok()) return last;
  }
  return last;
}

bool IsSasExpiry(const Status& refusal) {
  return refusal.code() == StatusCode::kUnauthenticated && refusal.message() == kExpired;
}

Result<std::string> MakeSasToken(std::string_view resource, const crypto::SecretBytes& key,
                                 int64_t expiry, std::optional<std::string_view> key_name) {
  std::string sr = key_name ? std::string(resource) : SdkEncode(resource);
  std::string se = std::to_string(expiry);
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, Hmac(key, sr, se));
  std::string token = std::string(kPrefix) + "sr=" + sr + "&sig=" + PercentEncode(Base64Encode(mac));
  if (key_name) token += "&skn=" + PercentEncode(*key_name);
  token += "&se=" + se;
  return token;
}

SasResource DeviceResource(std::string_view device_id, std::optional<std::string_view> module_id) {
  SasResource r{{"devices", false}, {std::string(device_id), true}};
  if (module_id) {
    r.push_back({"modules", false});
    r.push_back({std::string(*module_id), true});
  }
  return r;
}

SasResource ResourceOfPath(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  SasResource r;
  if (path.empty()) return r;
  bool next_is_id = false;
  for (std::string_view part : Split(path, '/')) {
    std::string text = PercentDecode(part, false);
    bool is_id = next_is_id;
    next_is_id = !is_id && (NameIs(text, "devices") || NameIs(text, "modules"));
    r.push_back({std::move(text), is_id});
  }
  return r;
}

Result<SasScope> ParseSasScope(std::string_view resource) {
  if (!resource.empty() && resource.back() == '/') resource.remove_suffix(1);
  std::vector<std::string_view> parts = Split(resource, '/');
  SasScope scope;
  for (std::string_view p : parts) {
    if (p.empty()) return Unauthenticated("the token's resource is malformed");
    if (scope.host.empty()) {
      scope.host = std::string(p);
    } else {
      scope.path.emplace_back(p);
    }
  }
  return scope;
}

bool ScopeCovers(const SasScope& scope, const SasResource& resource) {
  if (scope.path.size() > resource.size()) return false;
  for (size_t i = 0; i < scope.path.size(); ++i) {
    const SasResourceSegment& want = resource[i];
    bool same = want.is_id ? scope.path[i] == want.text : NameIs(scope.path[i], want.text);
    if (!same) return false;
  }
  return true;
}

Result<SasAudience> ParseSasAudience(std::string_view resource) {
  std::vector<std::string_view> parts = Split(resource, '/');
  for (std::string_view p : parts) {
    if (p.empty()) return Unauthenticated("the token's resource is malformed");
  }
  SasAudience a;
  a.host = std::string(parts[0]);
  if (parts.size() == 1) return a;
  if ((parts.size() == 3 || parts.size() == 5) && parts[1] == "devices") {
    a.device_id = std::string(parts[2]);
    if (parts.size() == 5) {
      if (parts[3] != "modules") return Unauthenticated("the token's resource is malformed");
      a.module_id = std::string(parts[4]);
    }
    return a;
  }
  return Unauthenticated("the token's resource is not a hub or a device");
}

}  // namespace coffre::hub
