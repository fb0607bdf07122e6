#include "storage/record_chain.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "common/check.h"

namespace coffre::storage {
namespace {

constexpr char kDomain[] = "coffre-chain-v1";

struct DigestContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

ChainLink NextLink(const ChainLink& link, uint64_t sequence, int64_t time_ms, ByteSpan payload) {
  // One context per thread, reused: each partition writer hashes every record it appends.
  thread_local std::unique_ptr<EVP_MD_CTX, DigestContextFree> ctx(EVP_MD_CTX_new());
  // Fetched once: OpenSSL 3 looks EVP_sha256() up in its provider at every init otherwise.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::byte fixed[sizeof kDomain - 1 + kChainLinkBytes + 8 + 8 + 4];
  std::byte* p = fixed;
  std::memcpy(p, kDomain, sizeof kDomain - 1);
  p += sizeof kDomain - 1;
  std::memcpy(p, link.data(), kChainLinkBytes);
  p += kChainLinkBytes;
  PutU64(p, sequence);
  PutU64(p + 8, static_cast<uint64_t>(time_ms));
  PutU32(p + 16, static_cast<uint32_t>(payload.size()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = ctx && sha256 != nullptr && EVP_DigestInit_ex(ctx.get(), sha256, nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), fixed, sizeof fixed) == 1 &&
            EVP_DigestUpdate(ctx.get(), payload.data(), payload.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), digest, &digest_size) == 1;
  COFFRE_CHECK(ok && digest_size >= kChainLinkBytes);  // SHA-256 cannot fail but for memory
  ChainLink next;
  std::memcpy(next.data(), digest, kChainLinkBytes);
  return next;
}

}  // namespace coffre::storage
