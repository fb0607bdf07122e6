#include "crypto/hkdf.h"

#include <openssl/kdf.h>

#include "crypto/ossl.h"

namespace coffre::crypto {

Result<SecretBytes> HkdfSha256(const SecretBytes& key, std::string_view info) {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(32));
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  size_t len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), AsUChars(key.Reveal()),
                                 static_cast<int>(key.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                  static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(ctx.get(), AsUChars(out.RevealMutable()), &len) != 1 || len != 32) {
    return OsslError("HKDF-SHA256");
  }
  return out;
}

}  // namespace coffre::crypto
