#pragma once
// Key material of one vault key version and the cryptographic operations on it. Private parts
// never leave: RSA keys are held as PKCS#8 DER and oct keys as raw bytes, both in SecretBytes,
// and parsed into OpenSSL only for the duration of one operation. RSA encryption (wrapKey) uses
// the public parts n and e alone.
// Every failure to decrypt or unwrap is the same INVALID_ARGUMENT error (no padding oracle).
// Stateless, thread-safe.

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

enum class KeyKind { kRsa, kOct };

struct KeyMaterial {
  KeyKind kind = KeyKind::kRsa;
  int bits = 0;
  crypto::SecretBytes secret;  // RSA: PKCS#8 DER (may be empty for Encrypt alone); oct: the key
  Bytes n, e;                  // RSA public parts (unsigned big-endian, no leading zero)
};

Result<KeyMaterial> GenerateRsa(int bits, uint32_t public_exponent = 65537);
Result<KeyMaterial> GenerateOct(int bits);

// From a JWK's base64url-decoded fields: RSA needs all of n, e, d, p, q, dp, dq, qi (and
// they must be consistent); oct needs k.
struct RsaPrivateParts {
  Bytes n, e, d, p, q, dp, dq, qi;
};
Result<KeyMaterial> ImportRsa(const RsaPrivateParts& parts);
Result<KeyMaterial> ImportOct(ByteSpan k);


// Algorithms: RSA-OAEP (SHA-1), RSA-OAEP-256 (SHA-256, MGF1-SHA-256); A128KW/A192KW/A256KW.
bool IsRsaAlgorithm(std::string_view alg);
bool IsKeyWrapAlgorithm(std::string_view alg);

Result<Bytes> Encrypt(const KeyMaterial& key, std::string_view alg, ByteSpan plaintext);
Result<Bytes> Decrypt(const KeyMaterial& key, std::string_view alg, ByteSpan ciphertext);

// The one error every failed decrypt or unwrap returns.
Status DecryptFailed();

}  // namespace coffre::vault
