#include "hub/device_auth.h"

#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <ctime>

#include "common/encoding.h"
#include "common/strings.h"
#include "hub/sas_token.h"

namespace coffre::hub {

void AddPeerCertificate(const x509_st* cert, DeviceCredentials& c) {
  if (cert == nullptr) return;
  auto thumbprint = [cert](const EVP_MD* md) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, md, digest, &len);
    return HexEncode(ByteSpan(reinterpret_cast<const std::byte*>(digest), len));
  };
  c.certificate_sha1 = thumbprint(EVP_sha1());
  c.certificate_sha256 = thumbprint(EVP_sha256());
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) c.certificate_not_after = timegm(&tm);
}
Status DeviceAuthenticator::Refuse(AuthRefusal why) const {
  if (metrics_ != nullptr) metrics_->Refused(Caller::kDevice, why);
  return Unauthenticated("Not authorized");
}

Result<MqttUsername> ParseMqttUsername(std::string_view username) {
  size_t q = username.find("/?");
  if (q == std::string_view::npos) {
    return InvalidArgument("the user name must end with /?api-version=...");
  }
  MqttUsername out;
  out.query = std::string(username.substr(q + 2));
  std::string_view path = username.substr(0, q);
  std::vector<std::string_view> parts = Split(path, '/');
  if (parts.size() < 2 || parts.size() > 3) {
    return InvalidArgument("the user name must be {host}/{device}[/{module}]/?...");
  }
  for (std::string_view p : parts) {
    if (p.empty()) return InvalidArgument("the user name has an empty part");
  }
  out.host = std::string(parts[0]);
  out.device_id = std::string(parts[1]);
  if (parts.size() == 3) out.module_id = std::string(parts[2]);
  return out;
}

bool DeviceAuthenticator::AcceptedHost(std::string_view host) const {
  for (const std::string& h : hosts_) {
    if (h.size() == host.size() && ::strncasecmp(h.data(), host.data(), h.size()) == 0) return true;
  }
  return false;
}

Result<DeviceAuthenticator::IdentityCredentials> DeviceAuthenticator::LoadIdentity(
    std::string_view device_id, std::optional<std::string_view> module_id) {
  Result<DeviceIdentity> device = registry_.Get(std::string(device_id));
  if (!device.has_value()) {
    if (device.error().code() == StatusCode::kNotFound) return Refuse(AuthRefusal::kUnknownIdentity);
    return device.error();  // the hub itself is failing: not the device's fault
  }
  if (device->status != DeviceStatus::kEnabled) return Refuse(AuthRefusal::kDisabled);
  if (!module_id) {
    return IdentityCredentials{device->auth_type,          device->primary_key,
                               device->secondary_key,      device->primary_thumbprint,
                               device->secondary_thumbprint, device->generation_id};
  }
  // A module opens with its own credentials only: never the device's.
  Result<ModuleIdentity> module = registry_.GetModule(std::string(device_id), std::string(*module_id));
  if (!module.has_value()) {
    if (module.error().code() == StatusCode::kNotFound) return Refuse(AuthRefusal::kUnknownIdentity);
    return module.error();
  }
  return IdentityCredentials{module->auth_type,          module->primary_key,
                             module->secondary_key,      module->primary_thumbprint,
                             module->secondary_thumbprint, module->generation_id};
}

Result<AuthenticatedDevice> DeviceAuthenticator::AuthenticateCertificate(const DeviceCredentials& c,
                                                                        const MqttUsername& user) {
  std::optional<std::string_view> module;
  if (user.module_id) module = *user.module_id;
  COFFRE_ASSIGN_OR_RETURN(IdentityCredentials id, LoadIdentity(user.device_id, module));
  if (id.auth_type != AuthType::kSelfSigned) return Refuse(AuthRefusal::kAuthType);
  auto same = [](const std::string& a, const std::optional<std::string>& b) {
    return b && !a.empty() && a.size() == b->size() &&
           ::strncasecmp(a.data(), b->data(), a.size()) == 0;
  };
  bool match = false;
  for (const std::string* t : {&id.primary_thumbprint, &id.secondary_thumbprint}) {
    match = match || same(*t, c.certificate_sha1) || same(*t, c.certificate_sha256);
  }
  if (!match || c.certificate_not_after < clock_.NowSeconds()) {
    return Refuse(AuthRefusal::kCertificate);
  }
  AuthenticatedDevice who{user.device_id, user.module_id, c.certificate_not_after};
  who.auth_type = "x509Certificate";
  who.generation_id = id.generation_id;
  return who;
}

Result<AuthenticatedDevice> DeviceAuthenticator::AuthenticateMqtt(const DeviceCredentials& c) {
  Result<MqttUsername> parsed = ParseMqttUsername(c.username);
  if (!parsed.has_value()) {
    (void)Refuse(AuthRefusal::kMalformed);
    return parsed.error();
  }
  const MqttUsername& user = *parsed;
  std::string expected_client = user.device_id + (user.module_id ? "/" + *user.module_id : "");
  if (c.client_id != expected_client) {
    (void)Refuse(AuthRefusal::kClientId);
    return FailedPrecondition("the client id does not match the user name");
  }
  if (!AcceptedHost(user.host)) return Refuse(AuthRefusal::kHost);
  if (!c.password && (c.certificate_sha1 || c.certificate_sha256)) {
    return AuthenticateCertificate(c, user);
  }
  if (!c.password) {
    (void)Refuse(AuthRefusal::kMalformed);
    return InvalidArgument("no password (SAS token) was given");
  }
  std::optional<std::string_view> module;
  if (user.module_id) module = *user.module_id;
  return AuthenticateToken(user.device_id, module, *c.password);
}

Result<AuthenticatedDevice> DeviceAuthenticator::AuthenticateToken(
    std::string_view device_id, std::optional<std::string_view> module_id, std::string_view password) {
  Result<SasToken> token = ParseSasToken(password);
  if (!token.has_value()) return Refuse(AuthRefusal::kMalformed);
  if (token->key_name) return AuthenticatePolicyToken(device_id, module_id, password, token->expiry);
  // A device's (or module's) own key: the token names exactly that identity.
  Result<SasAudience> audience = ParseSasAudience(token->resource);
  if (!audience.has_value()) return Refuse(AuthRefusal::kMalformed);
  if (!AcceptedHost(audience->host)) return Refuse(AuthRefusal::kHost);
  if (audience->device_id != device_id || audience->module_id != module_id) {
    return Refuse(AuthRefusal::kSignature);  // a token for another identity
  }
  COFFRE_ASSIGN_OR_RETURN(IdentityCredentials id, LoadIdentity(device_id, module_id));
  if (id.auth_type != AuthType::kSas) return Refuse(AuthRefusal::kAuthType);
  Status verified =
      VerifySasTokenWithKeyPair(*token, id.primary_key, id.secondary_key, clock_.NowSeconds());
  if (!verified.ok()) {
    return Refuse(IsSasExpiry(verified) ? AuthRefusal::kExpired : AuthRefusal::kSignature);
  }
  std::optional<std::string> module;
  if (module_id) module = std::string(*module_id);
  AuthenticatedDevice who{std::string(device_id), module, token->expiry};
  who.generation_id = id.generation_id;
  return who;
}

// A shared access policy's token (a protocol gateway's): DeviceConnect, an sr that covers the
// identity, and an identity that exists and is enabled, whatever its own authentication type.
Result<AuthenticatedDevice> DeviceAuthenticator::AuthenticatePolicyToken(
    std::string_view device_id, std::optional<std::string_view> module_id, std::string_view password,
    int64_t expiry) {
  if (policies_ == nullptr) return Refuse(AuthRefusal::kUnknownIdentity);
  AuthRefusal why = AuthRefusal::kSignature;
  Result<AccessPolicy> policy =
      policies_->Check(password, kDeviceConnect, DeviceResource(device_id, module_id), &why);
  if (!policy.has_value()) {
    StatusCode code = policy.error().code();
    if (code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied) {
      return Refuse(why);
    }
    return policy.error();
  }
  COFFRE_ASSIGN_OR_RETURN(IdentityCredentials id, LoadIdentity(device_id, module_id));
  std::optional<std::string> module;
  if (module_id) module = std::string(*module_id);
  AuthenticatedDevice who{std::string(device_id), module, expiry};
  who.generation_id = id.generation_id;
  return who;
}

}  // namespace coffre::hub
