#pragma once
// Pkcs11AesKey: an AES-256 secret key object kept on a PKCS#11 token, found by its label
// (CKA_LABEL) or generated there: a token object, private, sensitive and not extractable, for
// encrypt and decrypt only, so its value never leaves the token. The token seals and opens
// with CKM_AES_GCM (96-bit IV from the caller, 128-bit tag, AAD) on the caller's behalf.
// Thread-compatible, like the session it uses.

#include <p11-kit/pkcs11.h>

#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "keys/pkcs11_session.h"

namespace coffre::keys {

class Pkcs11AesKey {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kIvSize = 12;
  static constexpr size_t kTagSize = 16;
  static constexpr const char* kMechanism = "CKM_AES_GCM";

  // session must outlive the key. NOT_FOUND when no secret key object on the token has the
  // label; FAILED_PRECONDITION when several do, or when it is not a sensitive, non-extractable
  // AES-256 key allowed to encrypt and decrypt.
  static Result<Pkcs11AesKey> Find(Pkcs11Session& session, std::string_view label);
  // A new key object on the token (C_GenerateKey, CKM_AES_KEY_GEN) with the properties above.
  static Result<Pkcs11AesKey> Generate(Pkcs11Session& session, std::string_view label);

  // ciphertext || tag.
  Result<Bytes> Seal(ByteSpan iv, ByteSpan aad, ByteSpan plaintext) const;
  // The plaintext, written by the token straight into secure memory. PERMISSION_DENIED when
  // the tag does not verify (another key, other AAD, damaged bytes).
  Result<crypto::SecretBytes> Open(ByteSpan iv, ByteSpan aad, ByteSpan sealed) const;

  const std::string& label() const { return label_; }

 private:
  Pkcs11AesKey(Pkcs11Session& session, std::string label, CK_OBJECT_HANDLE handle)
      : session_(&session), label_(std::move(label)), handle_(handle) {}
  std::string Describe() const;

  Pkcs11Session* session_;  // not null; a pointer so the key can move
  std::string label_;
  CK_OBJECT_HANDLE handle_;
};

}  // namespace coffre::keys
