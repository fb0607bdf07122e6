// Seal and open throughput of the customer layer's AEAD, raw (AesGcm) and as envelopes (header
// + AAD + counter nonce through EnvelopeWriter). Compare with `openssl speed -evp aes-256-gcm`:
// bench/crypto_vs_openssl.sh runs both and prints the ratios recorded in docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "crypto/envelope.h"
#include "crypto/envelope_writer.h"
#include "crypto/secure_heap.h"
#include "storage/record_chain.h"

namespace coffre::crypto {
namespace {

// A DataKeyStore in memory: the benchmark measures sealing, not the store.
class MemoryStore : public DataKeyStore {
 public:
  Result<uint64_t> ReserveEpoch(uint32_t) override { return ++epoch_; }
  Status PutWrapped(DataKeyId, ByteSpan w) override {
    wrapped_.assign(w.begin(), w.end());
    return Status::Ok();
  }
  Result<Bytes> GetWrapped(DataKeyId) override { return wrapped_; }
  Status DeleteWrapped(DataKeyId) override { return Status::Ok(); }

 private:
  uint64_t epoch_ = 0;
  Bytes wrapped_;
};

std::unique_ptr<AesGcm> NewAead() {
  auto key = SecretBytes::Random(32);
  return std::move(AesGcm::Create(*key).value());
}

void BM_AesGcmSeal(benchmark::State& state) {
  auto aead = NewAead();
  Bytes in(static_cast<size_t>(state.range(0)), std::byte{7});
  Bytes out(in.size() + kAesGcmTagSize);
  GcmNonce nonce{};
  uint64_t counter = 0;
  for (auto _ : state) {
    PutU64(nonce.data() + 4, counter++);
    benchmark::DoNotOptimize(aead->Seal(nonce, {}, in, out));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_AesGcmOpen(benchmark::State& state) {
  auto aead = NewAead();
  Bytes in(static_cast<size_t>(state.range(0)), std::byte{7});
  GcmNonce nonce{};
  Bytes sealed = *aead->Seal(nonce, {}, in);
  Bytes out(in.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(aead->Open(nonce, {}, sealed, out));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_EnvelopeSeal(benchmark::State& state) {
  auto root = std::move(RootKey::Generate().value());
  MemoryStore store;
  auto writer = std::move(EnvelopeWriter::Start(1, *root, store).value());
  Bytes in(static_cast<size_t>(state.range(0)), std::byte{7});
  Bytes out(SealedEnvelopeSize(in.size()));
  const std::string aad = "hub/telemetry/0/123456789";
  for (auto _ : state) {
    benchmark::DoNotOptimize(writer->Seal(AsBytes(aad), in, out));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

// Per-device keys (crypto/device_key.h): the same seal under the device's subkey of the
// writer, one of `devices` taken in turn (their subkeys derived on first use, then cached).
void BM_EnvelopeSealForDevice(benchmark::State& state) {
  auto root = std::move(RootKey::Generate().value());
  MemoryStore store;
  auto writer = std::move(EnvelopeWriter::Start(1, *root, store).value());
  std::vector<DeviceKey> devices(100);
  for (size_t i = 0; i < devices.size(); ++i) {
    devices[i].number = i + 1;
    devices[i].key = std::move(SecretBytes::Random(32).value());
  }
  Bytes in(static_cast<size_t>(state.range(0)), std::byte{7});
  Bytes out(SealedEnvelopeSize(in.size()) + kDeviceKeyFieldSize);
  const std::string aad = "hub/telemetry/0/123456789";
  size_t next = 0;
  for (auto _ : state) {
    const DeviceKey& device = devices[next++ % devices.size()];
    benchmark::DoNotOptimize(writer->SealForDevice(device, AsBytes(aad), in, out));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_EnvelopeOpen(benchmark::State& state) {
  auto aead = NewAead();
  Bytes in(static_cast<size_t>(state.range(0)), std::byte{7});
  EnvelopeHeader header;
  const std::string aad = "hub/telemetry/0/123456789";
  Bytes env = *SealEnvelope(*aead, header, AsBytes(aad), in);
  Bytes out(in.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(OpenEnvelope(*aead, env, AsBytes(aad), out));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

// The sizes `openssl speed` reports (16 B to 16 KiB) plus 256 B and 64 KiB.
#define COFFRE_SIZES Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Arg(65536)
BENCHMARK(BM_AesGcmSeal)->COFFRE_SIZES;
BENCHMARK(BM_AesGcmOpen)->COFFRE_SIZES;
BENCHMARK(BM_EnvelopeSeal)->COFFRE_SIZES;
BENCHMARK(BM_EnvelopeSealForDevice)->COFFRE_SIZES;
BENCHMARK(BM_EnvelopeOpen)->COFFRE_SIZES;

// The telemetry chain's cost per record (storage/record_chain.h): one SHA-256 over the link,
// the record's header fields and its sealed bytes (a payload plus the envelope's 44).
void BM_ChainLink(benchmark::State& state) {
  Bytes sealed(static_cast<size_t>(state.range(0)) + 44, std::byte{7});
  storage::ChainLink link{};
  uint64_t sequence = 0;
  for (auto _ : state) {
    link = storage::NextLink(link, sequence++, 1'800'000'000'000, sealed);
    benchmark::DoNotOptimize(link);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChainLink)->COFFRE_SIZES;

}  // namespace
}  // namespace coffre::crypto

int main(int argc, char** argv) {
  if (!coffre::crypto::InitSecureHeap().ok()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
