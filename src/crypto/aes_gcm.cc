#include "crypto/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>

namespace coffre::crypto {
namespace {

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

Status OpenFailed() { return DataLoss("sealed data could not be opened"); }

Result<std::unique_ptr<AesGcm>> AesGcm::Create(const SecretBytes& key) {
  if (key.size() != kAesGcmKeySize) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  CipherCtx enc(EVP_CIPHER_CTX_new());
  CipherCtx dec(EVP_CIPHER_CTX_new());
  if (!enc || !dec) return OsslError("EVP_CIPHER_CTX_new", StatusCode::kResourceExhausted);
  const unsigned char* k = AsUChars(key.Reveal());
  // The nonce length is the 96-bit default; the key is installed once here.
  if (EVP_EncryptInit_ex(enc.get(), EVP_aes_256_gcm(), nullptr, k, nullptr) != 1 ||
      EVP_DecryptInit_ex(dec.get(), EVP_aes_256_gcm(), nullptr, k, nullptr) != 1) {
    return OsslError("AES-256-GCM key setup");
  }
  return std::unique_ptr<AesGcm>(new AesGcm(std::move(enc), std::move(dec)));
}

Status AesGcm::Seal(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad,
                    ByteSpan plaintext, MutableByteSpan out) {
  if (out.size() != plaintext.size() + kAesGcmTagSize || !FitsInt(plaintext.size())) {
    return InvalidArgument("AES-GCM seal: output size must be plaintext size + 16");
  }
  EVP_CIPHER_CTX* ctx = enc_.get();
  int len = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, AsUChars(ByteSpan(nonce))) != 1) {
    return OsslError("AES-GCM seal: set nonce");
  }
  for (ByteSpan part : aad) {
    if (part.empty()) continue;
    if (!FitsInt(part.size()) ||
        EVP_EncryptUpdate(ctx, nullptr, &len, AsUChars(part), static_cast<int>(part.size())) != 1) {
      return OsslError("AES-GCM seal: AAD");
    }
  }
  unsigned char* o = AsUChars(out);
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx, o, &len, AsUChars(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return OsslError("AES-GCM seal: encrypt");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx, o + total, &len) != 1) return OsslError("AES-GCM seal: final");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kAesGcmTagSize, o + total) != 1) {
    return OsslError("AES-GCM seal: tag");
  }
  return Status::Ok();
}

Status AesGcm::Open(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad, ByteSpan sealed,
                    MutableByteSpan out) {
  if (sealed.size() < kAesGcmTagSize || out.size() != sealed.size() - kAesGcmTagSize ||
      !FitsInt(sealed.size())) {
    return OpenFailed();
  }
  EVP_CIPHER_CTX* ctx = dec_.get();
  auto fail = [&] {
    OPENSSL_cleanse(out.data(), out.size());
    ERR_clear_error();
    return OpenFailed();
  };
  int len = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, AsUChars(ByteSpan(nonce))) != 1) {
    return fail();
  }
  for (ByteSpan part : aad) {
    if (part.empty()) continue;
    if (!FitsInt(part.size()) ||
        EVP_DecryptUpdate(ctx, nullptr, &len, AsUChars(part), static_cast<int>(part.size())) != 1) {
      return fail();
    }
  }
  ByteSpan ct = sealed.first(sealed.size() - kAesGcmTagSize);
  ByteSpan tag = sealed.last(kAesGcmTagSize);
  unsigned char* o = AsUChars(out);
  int total = 0;
  if (!ct.empty()) {
    if (EVP_DecryptUpdate(ctx, o, &len, AsUChars(ct), static_cast<int>(ct.size())) != 1) {
      return fail();
    }
    total = len;
  }
  // OpenSSL's ctrl takes a non-const pointer but only reads the expected tag.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kAesGcmTagSize,
                          const_cast<unsigned char*>(AsUChars(tag))) != 1) {
    return fail();
  }
  if (EVP_DecryptFinal_ex(ctx, o + total, &len) != 1) return fail();
  return Status::Ok();
}

Result<Bytes> AesGcm::Seal(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad,
                           ByteSpan plaintext) {
  Bytes out(plaintext.size() + kAesGcmTagSize);
  COFFRE_RETURN_IF_ERROR(Seal(nonce, aad, plaintext, out));
  return out;
}

Result<Bytes> AesGcm::Open(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad,
                           ByteSpan sealed) {
  if (sealed.size() < kAesGcmTagSize) return OpenFailed();
  Bytes out(sealed.size() - kAesGcmTagSize);
  COFFRE_RETURN_IF_ERROR(Open(nonce, aad, sealed, out));
  return out;
}

}  // namespace coffre::crypto
