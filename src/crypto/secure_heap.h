#pragma once
// OpenSSL's secure heap: one locked (mlock), dump-excluded (MADV_DONTDUMP), guard-paged arena
// whose blocks are zeroized on free. Every SecretBytes lives there. Locking the arena as a whole
// avoids per-object mlock, which would unlock neighbours sharing a page when one is freed.
// Call InitSecureHeap once at process start, before any thread creates a secret.

#include <cstddef>

#include "common/status.h"

namespace coffre::crypto {

struct SecureHeapInfo {
  bool initialized = false;
  bool locked = false;  // false if mlock was refused (RLIMIT_MEMLOCK); still dump-excluded
  size_t size = 0;
  size_t used = 0;
};

// `bytes` must be a power of two; 1 MiB holds 32768 keys of 32 bytes. Idempotent.
Status InitSecureHeap(size_t bytes = size_t{1} << 20);

SecureHeapInfo GetSecureHeapInfo();

}  // namespace coffre::crypto
