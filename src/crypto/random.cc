#include "crypto/random.h"

#include <openssl/rand.h>

#include "common/encoding.h"

namespace coffre::crypto {

Status RandomBytes(MutableByteSpan out) {
  if (out.empty()) return Status::Ok();
  if (RAND_bytes(AsUChars(out), static_cast<int>(out.size())) != 1) {
    return Internal("the random generator failed");
  }
  return Status::Ok();
}

Result<std::string> RandomUuid() {
  Bytes raw(16);
  COFFRE_RETURN_IF_ERROR(RandomBytes(raw));
  raw[6] = (raw[6] & std::byte{0x0f}) | std::byte{0x40};  // version 4
  raw[8] = (raw[8] & std::byte{0x3f}) | std::byte{0x80};  // RFC 4122 variant
  std::string hex = HexEncode(raw);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace coffre::crypto
