#include "crypto/aes_key_wrap.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/aes_gcm.h"
#include "crypto/ossl.h"

namespace coffre::crypto {
namespace {

const EVP_CIPHER* WrapCipher(size_t kek_size) {
  switch (kek_size) {
    case 16: return EVP_aes_128_wrap();
    case 24: return EVP_aes_192_wrap();
    case 32: return EVP_aes_256_wrap();
    default: return nullptr;
  }
}

bool Run(bool wrap, ByteSpan kek, ByteSpan in, MutableByteSpan out) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  int len = 0;
  int final_len = 0;
  return EVP_CipherInit_ex(ctx.get(), WrapCipher(kek.size()), nullptr, AsUChars(kek), nullptr,
                           wrap ? 1 : 0) == 1 &&
         EVP_CipherUpdate(ctx.get(), AsUChars(out), &len, AsUChars(in),
                          static_cast<int>(in.size())) == 1 &&
         EVP_CipherFinal_ex(ctx.get(), AsUChars(out) + len, &final_len) == 1 &&
         static_cast<size_t>(len + final_len) == out.size();
}

}  // namespace

Result<Bytes> AesKeyWrap(ByteSpan kek, ByteSpan key) {
  if (WrapCipher(kek.size()) == nullptr) return InvalidArgument("key wrap needs a 128, 192 or 256-bit key");
  if (key.size() < 16 || key.size() % 8 != 0) {
    return InvalidArgument("key wrap input must be at least 16 bytes and a multiple of 8");
  }
  Bytes out(key.size() + kKeyWrapOverhead);
  if (!Run(true, kek, key, out)) return OsslError("AES key wrap");
  return out;
}

Result<SecretBytes> AesKeyUnwrap(ByteSpan kek, ByteSpan wrapped) {
  if (WrapCipher(kek.size()) == nullptr || wrapped.size() < 16 + kKeyWrapOverhead ||
      wrapped.size() % 8 != 0) {
    return OpenFailed();
  }
  COFFRE_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(wrapped.size() - kKeyWrapOverhead));
  if (!Run(false, kek, wrapped, out.RevealMutable())) {
    ERR_clear_error();
    return OpenFailed();
  }
  return out;
}

}  // namespace coffre::crypto
