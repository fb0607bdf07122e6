// The hub's storage write paths, on tmpfs (/dev/shm) so the disk's fsync does not drown the
// differences; same binary, same run: compare the rows (docs/BENCHMARKS.md).
// - BM_TelemetryAppendCommit: batches of 32 messages of 256 B from 16 devices interleaved, each
//   batch appended and committed. Arg 0: partition keys only; 1: per-device keys.
// - BM_MetadataRowWrite: a sealed row of 1,000 updated in turn. Arg 0: sealed and put, as
//   before the row digests; 1: SealedRows::Store, which keeps its table's digest.
// - BM_MetadataCheck: what a start spends comparing N rows with their table's digest.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "crypto/secure_heap.h"
#include <nlohmann/json.hpp>

#include "hub/device_keys.h"
#include "hub/sealed_rows.h"
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

// The hub's keys and a metadata store under /dev/shm, for the metadata benchmarks.
struct MetadataStore {
  std::filesystem::path dir = "/dev/shm/coffre-meta-bench-" + std::to_string(::getpid());
  crypto::SecretBytes service_key = std::move(crypto::SecretBytes::Random(32).value());
  std::unique_ptr<crypto::KeyProvider> provider;
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<HubKeys> keys;
  MetadataStore() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    provider = std::move(keys::ServiceKeyProvider::Create(service_key).value());
    kv = std::move(storage::RocksKvStore::Open(dir / "meta").value());
    keys = std::move(HubKeys::Open(*kv, *provider).value());
  }
  ~MetadataStore() {
    keys.reset();
    kv.reset();
    std::filesystem::remove_all(dir);
  }
};

void BM_MetadataRowWrite(benchmark::State& state) {
  bool digested = state.range(0) != 0;
  MetadataStore m;
  SealedRows rows(*m.kv, *m.keys);
  auto writer = std::move(m.keys->StartWriter(kRegistryScope).value());
  std::string text(300, 'x');  // about a device's or a twin's record
  int n = 0;
  for (auto _ : state) {
    std::string row = "twin/" + std::to_string(n++ % 1000);
    Status s;
    if (digested) {
      s = rows.Store(row, nlohmann::json{{"t", text}}, /*sync=*/false);
    } else {
      std::string record = nlohmann::json{{"t", text}}.dump();
      auto sealed = writer->Seal(AsBytes(row), AsBytes(record));
      s = sealed.has_value() ? m.kv->Put(row, *sealed, /*sync=*/false) : sealed.error();
    }
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
  }
}
BENCHMARK(BM_MetadataRowWrite)->Arg(0)->Arg(1)->Arg(0)->Arg(1);

void BM_MetadataCheck(benchmark::State& state) {
  MetadataStore m;
  SealedRows rows(*m.kv, *m.keys);
  std::string text(300, 'x');
  for (int64_t i = 0; i < state.range(0); ++i) {
    if (!rows.Store("dev/" + std::to_string(i), nlohmann::json{{"t", text}}, false).ok()) {
      state.SkipWithError("store failed");
      return;
    }
  }
  for (auto _ : state) {
    auto breaks = m.keys->row_digests().Recheck();
    if (!breaks.has_value() || !breaks->empty()) state.SkipWithError("the check failed");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MetadataCheck)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coffre::hub

int main(int argc, char** argv) {
  if (!coffre::crypto::InitSecureHeap().ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
