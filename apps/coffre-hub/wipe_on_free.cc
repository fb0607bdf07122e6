// Wipe on free, for the whole hub process: every heap block is overwritten with zeros before it
// goes back to the allocator, whether C++ (operator new/delete, so every std::string, vector,
// JSON value and Beast buffer) or OpenSSL (its allocator, so TLS record buffers). Secrets that
// pass through ordinary heap on their way (a vault reply carrying the unwrapped root key in
// base64url, a device key read from the registry, a telemetry body) therefore leave no copy
// behind once freed: what a scan of the process memory after Inaccessible relies on
// (docs/SECURITY.md). Keys themselves live in OpenSSL's secure heap, zeroized on their own.

#include <malloc.h>
#include <openssl/crypto.h>
#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace {

void Wipe(void* p) {
  if (p != nullptr) explicit_bzero(p, malloc_usable_size(p));
}

void* OsslMalloc(size_t n, const char*, int) { return std::malloc(n); }

void OsslFree(void* p, const char*, int) {
  Wipe(p);
  std::free(p);
}

// realloc would free the old block unwiped: copy, wipe, free instead.
void* OsslRealloc(void* p, size_t n, const char*, int) {
  if (p == nullptr) return std::malloc(n);
  if (n == 0) {
    OsslFree(p, nullptr, 0);
    return nullptr;
  }
  void* q = std::malloc(n);
  if (q == nullptr) return nullptr;
  size_t old = malloc_usable_size(p);
  std::memcpy(q, p, old < n ? old : n);
  OsslFree(p, nullptr, 0);
  return q;
}

// Before any other static initializer: Boost.Asio initialises OpenSSL from one, and OpenSSL
// takes new allocator functions only before its first allocation.
bool openssl_wipes = false;

__attribute__((constructor(101))) void InstallOpenSslWipeOnFree() {
  openssl_wipes = CRYPTO_set_mem_functions(OsslMalloc, OsslRealloc, OsslFree) == 1;
}

void* Allocate(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* AllocateAligned(size_t n, std::align_val_t align) {
  void* p = nullptr;
  size_t a = static_cast<size_t>(align);
  if (posix_memalign(&p, a < sizeof(void*) ? sizeof(void*) : a, n == 0 ? 1 : n) != 0) {
    throw std::bad_alloc();
  }
  return p;
}

}  // namespace

// For main to check (and say) that OpenSSL's allocations are wiped too.
bool OpenSslWipesOnFree() { return openssl_wipes; }

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return std::malloc(n == 0 ? 1 : n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return std::malloc(n == 0 ? 1 : n); }
void* operator new(size_t n, std::align_val_t a) { return AllocateAligned(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return AllocateAligned(n, a); }

void operator delete(void* p) noexcept { Wipe(p); std::free(p); }
void operator delete[](void* p) noexcept { Wipe(p); std::free(p); }
void operator delete(void* p, size_t) noexcept { Wipe(p); std::free(p); }
void operator delete[](void* p, size_t) noexcept { Wipe(p); std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Wipe(p); std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Wipe(p); std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Wipe(p); std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Wipe(p); std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Wipe(p); std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { Wipe(p); std::free(p); }
