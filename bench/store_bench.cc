// What the telemetry store's write path costs per message, with and without per-device keys
// (docs/BENCHMARKS.md, "What per-device keys cost"): batches of 32 messages of 256 B from 16
// devices interleaved, each batch appended and committed, on tmpfs (/dev/shm) so the disk's
// fsync does not drown the difference. Arg 0: partition keys only; 1: device keys. Same binary,
// same run: compare the two rows.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "crypto/secure_heap.h"
#include "hub/device_keys.h"
#include "hub/telemetry_store.h"
#include "keys/service_key_provider.h"
#include "storage/rocks_kv_store.h"

namespace coffre::hub {
namespace {

constexpr int kDevices = 16;
constexpr int kBatch = 32;

void BM_TelemetryAppendCommit(benchmark::State& state) {
  bool device_keys = state.range(0) != 0;
  std::filesystem::path dir = "/dev/shm/coffre-store-bench-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto service_key = std::move(crypto::SecretBytes::Random(32).value());
    auto provider = keys::ServiceKeyProvider::Create(service_key);
    auto kv = storage::RocksKvStore::Open(dir / "meta");
    if (!provider.has_value() || !kv.has_value()) {
      state.SkipWithError("cannot open the metadata store or the key provider");
      return;
    }
    auto keys = HubKeys::Open(**kv, **provider);
    if (!keys.has_value()) {
      state.SkipWithError(keys.status().message().c_str());
      return;
    }
    SealedRows rows(**kv, **keys);
    DeviceKeys per_device(**keys, rows, SystemClock());
    TelemetryStoreOptions options;
    options.hub_name = "bench.example";
    options.partitions = 1;
    options.log.service_key = &service_key;
    if (device_keys) options.device_keys = &per_device;
    auto opened = TelemetryStore::Open(dir / "telemetry", **keys, **kv, options);
    if (!opened.has_value()) {
      state.SkipWithError(opened.status().message().c_str());
      return;
    }
    auto& store = *opened;
    std::vector<TelemetryMessage> batch(kBatch);
    for (int i = 0; i < kBatch; ++i) {
      batch[i].device_id = "bench-device-" + std::to_string(i % kDevices);
      batch[i].body = Bytes(256, std::byte{'x'});
      batch[i].properties.system.message_id = "m-" + std::to_string(i);
    }
    for (auto _ : state) {
      for (auto& m : batch) m.enqueued_ms = 1'800'000'000'000;
      if (!store->Append(0, batch).has_value() || !store->Commit(0).ok()) {
        state.SkipWithError("append failed");
        break;
      }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBatch);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TelemetryAppendCommit)->Arg(0)->Arg(1)->Arg(0)->Arg(1)->MinTime(2.0);

}  // namespace
}  // namespace coffre::hub

int main(int argc, char** argv) {
  if (!coffre::crypto::InitSecureHeap().ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
