// Fuzzes envelope parsing and opening: any bytes must give a header or OpenFailed(), never a
// crash, and a failed open must leave its output zeroed.
#include <cstdint>
#include <cstdlib>

#include "common/check.h"
#include "crypto/envelope.h"
#include "crypto/secure_heap.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static crypto::AesGcm* aead = [] {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    auto key = crypto::SecretBytes::CopyOf(Bytes(32, std::byte{0x42}));
    return crypto::AesGcm::Create(*key).value().release();
  }();
  ByteSpan in(reinterpret_cast<const std::byte*>(data), size);
  auto header = crypto::ReadEnvelopeHeader(in);
  auto opened = crypto::OpenEnvelope(*aead, in, AsBytes("aad"));
  if (!header.has_value()) COFFRE_CHECK(opened.status() == crypto::OpenFailed());
  if (!opened.has_value()) COFFRE_CHECK(opened.status() == crypto::OpenFailed());
  return 0;
}
