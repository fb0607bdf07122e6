#include "crypto/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace coffre::crypto {

Result<Bytes> HmacSha256(const SecretBytes& key, ByteSpan data) {
  Bytes mac(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.Reveal().data(), static_cast<int>(key.size()), AsUChars(data),
           data.size(), AsUChars(MutableByteSpan(mac)), &len) == nullptr ||
      len != kHmacSha256Size) {
    return Internal("HMAC-SHA256 failed");
  }
  mac.resize(len);
  return mac;
}

}  // namespace coffre::crypto
