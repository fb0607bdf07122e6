#include "crypto/secure_heap.h"

#include <openssl/crypto.h>

#include <atomic>

namespace coffre::crypto {
namespace {

// OpenSSL's secure heap is process-wide by nature; this only remembers how its init went.
std::atomic<int> g_init_result{0};
std::atomic<size_t> g_size{0};

constexpr size_t kMinBlock = 32;

}  // namespace

Status InitSecureHeap(size_t bytes) {
  if (CRYPTO_secure_malloc_initialized()) return Status::Ok();
  if (bytes == 0 || (bytes & (bytes - 1)) != 0) {
    return InvalidArgument("secure heap size must be a power of two");
  }
  int r = CRYPTO_secure_malloc_init(bytes, kMinBlock);
  if (r == 0) return ResourceExhausted("cannot create OpenSSL's secure heap");
  g_init_result = r;
  g_size = bytes;
  return Status::Ok();
}

SecureHeapInfo GetSecureHeapInfo() {
  SecureHeapInfo info;
  info.initialized = CRYPTO_secure_malloc_initialized() != 0;
  info.locked = g_init_result.load() == 1;
  info.size = g_size.load();
  info.used = CRYPTO_secure_used();
  return info;
}

}  // namespace coffre::crypto
