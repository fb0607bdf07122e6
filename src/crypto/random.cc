#include "crypto/random.h"

#include <openssl/rand.h>

namespace coffre::crypto {

Status RandomBytes(MutableByteSpan out) {
  if (out.empty()) return Status::Ok();
  if (RAND_bytes(AsUChars(out), static_cast<int>(out.size())) != 1) {
    return Internal("the random generator failed");
  }
  return Status::Ok();
}

}  // namespace coffre::crypto
