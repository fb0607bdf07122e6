#include "keys/vault_key_provider.h"

#include "common/encoding.h"
#include "crypto/aes_gcm.h"
#include "keys/vault_replies.h"

namespace coffre::keys {
namespace {

using nlohmann::json;

bool ValidSegment(std::string_view s) {
  if (s.empty() || s.size() > 127) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<KeyUri> ParseKeyUri(std::string_view uri) {
  COFFRE_ASSIGN_OR_RETURN(net::Origin origin, net::ParseOrigin(uri));
  auto bad = [&] {
    return InvalidArgument("not a key URI (https://vault/keys/NAME[/VERSION]): " + std::string(uri));
  };
  size_t path_start = uri.find('/', uri.find("://") + 3);
  if (path_start == std::string_view::npos) return bad();
  std::string_view path = uri.substr(path_start);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.substr(0, 6) != "/keys/") return bad();
  std::string_view rest = path.substr(6);
  KeyUri out;
  out.vault_url = origin.ToString();
  size_t slash = rest.find('/');
  out.name = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) out.version = std::string(rest.substr(slash + 1));
  if (!ValidSegment(out.name) || (!out.version.empty() && !ValidSegment(out.version))) return bad();
  return out;
}

Result<std::unique_ptr<VaultKeyProvider>> VaultKeyProvider::Create(
    VaultKeyProviderOptions options) {
  COFFRE_ASSIGN_OR_RETURN(KeyUri uri, ParseKeyUri(options.key_uri));
  COFFRE_ASSIGN_OR_RETURN(auto client, VaultHttpClient::Create(uri.vault_url, options.ca_file,
                                                               options.token, options.timeout));
  return std::unique_ptr<VaultKeyProvider>(
      new VaultKeyProvider(std::move(options), std::move(uri), std::move(client)));
}

std::string VaultKeyProvider::KeyPath() const {
  return "/keys/" + uri_.name + "/" + uri_.version;
}

Result<std::string> VaultKeyProvider::WrapAlgorithm() {
  if (kty_.empty()) {
    COFFRE_ASSIGN_OR_RETURN(VaultReply reply, client_->Call("GET", KeyPath()));
    COFFRE_RETURN_IF_ERROR(VaultHttpClient::ToStatus(reply));
    COFFRE_ASSIGN_OR_RETURN(KeyReply key, ReadKeyReply(reply.body, options_.clock->NowSeconds()));
    kty_ = std::move(key.kty);
  }
  if (kty_ == "RSA" || kty_ == "RSA-HSM") return std::string("RSA-OAEP-256");
  if (kty_ == "oct" || kty_ == "oct-HSM") return std::string("A256KW");
  return FailedPrecondition("key " + uri_.name + " has type '" + kty_ +
                            "', which cannot wrap keys (RSA or oct needed)");
}

Result<crypto::WrappedKey> VaultKeyProvider::Wrap(const crypto::SecretBytes& key) {
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string alg, WrapAlgorithm());
  std::string value = Base64UrlEncode(key.Reveal());
  json body = {{"alg", alg}, {"value", value}};
  crypto::Cleanse(value);
  Result<VaultReply> reply = client_->Call("POST", KeyPath() + "/wrapkey", &body);
  crypto::Cleanse(body["value"].get_ref<std::string&>());
  if (!reply.has_value()) return reply.error();
  COFFRE_RETURN_IF_ERROR(VaultHttpClient::ToStatus(*reply));
  COFFRE_ASSIGN_OR_RETURN(auto kid_wrapped, ReadWrapReply(reply->body));
  return crypto::WrappedKey{std::move(kid_wrapped.first), alg, std::move(kid_wrapped.second)};
}

Result<crypto::SecretBytes> VaultKeyProvider::Unwrap(const crypto::WrappedKey& wrapped) {
  // Unwrap with the version that wrapped it, at the configured vault only.
  COFFRE_ASSIGN_OR_RETURN(KeyUri kid, ParseKeyUri(wrapped.key_id));
  if (kid.vault_url != uri_.vault_url || kid.name != uri_.name || kid.version.empty()) {
    return crypto::OpenFailed();
  }
  std::lock_guard<std::mutex> guard(mu_);
  json body = {{"alg", wrapped.algorithm}, {"value", Base64UrlEncode(wrapped.ciphertext)}};
  COFFRE_ASSIGN_OR_RETURN(
      VaultReply reply,
      client_->Call("POST", "/keys/" + kid.name + "/" + kid.version + "/unwrapkey", &body));
  Status status = VaultHttpClient::ToStatus(reply);
  if (status.code() == StatusCode::kInvalidArgument) return crypto::OpenFailed();
  COFFRE_RETURN_IF_ERROR(status);
  return ReadUnwrapReply(reply.body);
}

Result<crypto::KeyDescription> VaultKeyProvider::Describe() {
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_ASSIGN_OR_RETURN(VaultReply reply, client_->Call("GET", KeyPath()));
  COFFRE_RETURN_IF_ERROR(VaultHttpClient::ToStatus(reply));
  COFFRE_ASSIGN_OR_RETURN(KeyReply key, ReadKeyReply(reply.body, options_.clock->NowSeconds()));
  kty_ = std::move(key.kty);
  return std::move(key.description);
}

}  // namespace coffre::keys
