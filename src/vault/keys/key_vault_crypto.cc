// KeyVault: the cryptographic operations on a key version (declared in key_vault.h).
#include <algorithm>
#include <mutex>

#include "vault/keys/key_records.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {

using nlohmann::json;
using namespace key_records;  // NOLINT: this folder's own storage helpers

Result<OperationResult> KeyVault::Operate(const std::string& name, const std::string& version,
                                          const std::string& op, const std::string& alg,
                                          ByteSpan value) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion v, LoadVersion(id, version));
  if (!v.enabled) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed on a disabled key.").WithDetail("KeyDisabled");
  }
  if (std::find(v.key_ops.begin(), v.key_ops.end(), op) == v.key_ops.end()) {
    return FailedPrecondition("Operation " + op +
                              " is not permitted on this key.").WithDetail("KeyOperationForbidden");
  }
  bool protects = op == "encrypt" || op == "wrapKey";
  int64_t now = clock_.NowSeconds();
  if (protects && v.nbf && now < *v.nbf) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed before the key's activation date.").WithDetail("KeyNotYetValid");
  }
  if (protects && v.exp && now >= *v.exp) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed on an expired key.").WithDetail("KeyExpired");
  }
  // RSA wrap and encrypt need only the public parts the version record holds: the private key
  // is neither read nor parsed for them.
  bool rsa = IsRsaKty(v.kty);
  crypto::SecretBytes secret;
  if (!rsa || !protects) {
    COFFRE_ASSIGN_OR_RETURN(secret, store_.GetSecret(MaterialKey(id, v.version)));
  }
  KeyMaterial material{rsa ? KeyKind::kRsa : KeyKind::kOct, v.key_size, std::move(secret),
                       std::move(v.n), std::move(v.e)};
  OperationResult out{v.name, v.version, {}};
  if (protects) {
    COFFRE_ASSIGN_OR_RETURN(out.value, Encrypt(material, alg, value));
  } else {
    COFFRE_ASSIGN_OR_RETURN(out.value, Decrypt(material, alg, value));
  }
  return out;
}

}  // namespace coffre::vault
