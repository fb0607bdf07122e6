// The cluster store's metadata writes as one and as two hub nodes make them: each node its own
// pool and row cipher over one database, T threads per node, each updating rows (300 bytes)
// for S seconds per mode. Modes: "put", a blind synced write (what every metadata write was
// before read-modify-write became a transaction); "transact", the same write as
// KvStore::Transact (advisory lock, read, write, commit) on a row of the thread's own; and
// "shared", Transact on one row all threads of both nodes update. Prints writes/s and the
// mean time per write, as JSON lines. Point it at `coffre up --cluster`'s conninfo
// (connection.json: cluster.postgres_conninfo) for quorum-synchronous commits.
//   pg_metadata_bench --conninfo "..." [--nodes 1] [--threads 4] [--seconds 5]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "crypto/secret_bytes.h"
#include "crypto/secure_heap.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"

int main(int argc, char** argv) {
  using namespace coffre;
  using Clock = std::chrono::steady_clock;
  CLI::App app{"pg_metadata_bench: metadata writes/s of 1 or 2 hub nodes on one cluster store"};
  std::string conninfo;
  int nodes = 1, threads = 4, seconds = 5;
  app.add_option("--conninfo", conninfo, "libpq connection string")->required();
  app.add_option("--nodes", nodes, "hub nodes (pools with a row cipher each)")->check(CLI::Range(1, 8));
  app.add_option("--threads", threads, "writers per node")->check(CLI::Range(1, 64));
  app.add_option("--seconds", seconds, "per mode")->check(CLI::Range(1, 600));
  CLI11_PARSE(app, argc, argv);

  if (!crypto::InitSecureHeap().ok()) return 1;  // the row cipher's key lives there
  auto key = crypto::SecretBytes::Random(32);
  struct Node {
    std::unique_ptr<pgstore::PgPool> pool;
    std::unique_ptr<pgstore::PgRowCipher> cipher;
    std::unique_ptr<pgstore::PgKvStore> kv;
  };
  std::vector<Node> hub(static_cast<size_t>(nodes));
  for (Node& n : hub) {
    auto pool = pgstore::PgPool::Connect({conninfo, static_cast<size_t>(threads)});
    if (!pool.has_value()) {
      std::fprintf(stderr, "pg_metadata_bench: %s\n", pool.error().ToString().c_str());
      return 1;
    }
    n.pool = std::move(*pool);
    n.cipher = std::move(pgstore::PgRowCipher::Create(*key).value());
    auto kv = pgstore::PgKvStore::Open(*n.pool, *n.cipher);
    if (!kv.has_value()) {
      std::fprintf(stderr, "pg_metadata_bench: %s\n", kv.error().ToString().c_str());
      return 1;
    }
    n.kv = std::move(*kv);
  }
  const Bytes value(300, std::byte{0x5a});
  for (std::string mode : {"put", "transact", "shared"}) {
    std::atomic<uint64_t> writes{0}, write_ns{0};
    std::atomic<bool> failed{false};
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> running;
    for (int n = 0; n < nodes; ++n) {
      for (int t = 0; t < threads; ++t) {
        running.emplace_back([&, n, t] {
          storage::KvStore& kv = *hub[static_cast<size_t>(n)].kv;
          // Rows of the bench's own, never a hub's ("bench/" is no table of the hub's).
          const std::string row = mode == "shared" ? "bench/shared"
                                                   : "bench/" + std::to_string(n) + "/" + std::to_string(t);
          while (Clock::now() < until && !failed) {
            auto started = Clock::now();
            Status done = mode == "put" ? kv.Put(row, value, true)
                                        : kv.Transact({row}, [&](storage::KvTxn& txn) -> Status {
                                            (void)txn.Get(row);
                                            txn.Put(row, value);
                                            return Status::Ok();
                                          }, true);
            if (!done.ok()) {
              std::fprintf(stderr, "pg_metadata_bench: %s\n", done.ToString().c_str());
              failed = true;
              return;
            }
            write_ns += static_cast<uint64_t>((Clock::now() - started).count());
            ++writes;
          }
        });
      }
    }
    for (auto& t : running) t.join();
    if (failed) return 1;
    std::printf("{\"nodes\":%d,\"threads_per_node\":%d,\"mode\":\"%s\",\"writes_per_s\":%.0f,"
                "\"mean_ms\":%.2f}\n",
                nodes, threads, mode.c_str(), static_cast<double>(writes) / seconds,
                writes > 0 ? static_cast<double>(write_ns) / 1e6 / static_cast<double>(writes) : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
