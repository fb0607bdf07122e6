// The cluster store's raw write rate: W writers, each appending batches of B records of S bytes
// to a partition of its own through PgPartitionLog (one transaction per batch, as the hub's
// group commits), for T seconds per batch size. Prints rows/s, transactions/s and the mean
// commit time per batch size, as JSON lines. Point it at `coffre up --cluster`'s conninfo
// (connection.json: cluster.postgres_conninfo) to measure quorum-synchronous commits.
//   pg_store_bench --conninfo "..." [--writers 4] [--sizes 1,16,64,256] [--bytes 300] [--seconds 5]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "crypto/random.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_pool.h"

int main(int argc, char** argv) {
  using namespace coffre;
  using Clock = std::chrono::steady_clock;
  CLI::App app{"pg_store_bench: rows/s of cluster mode's store per transaction size"};
  std::string conninfo;
  int writers = 4, seconds = 5;
  size_t bytes = 300;
  std::vector<size_t> sizes = {1, 16, 64, 256};
  app.add_option("--conninfo", conninfo, "libpq connection string")->required();
  app.add_option("--writers", writers, "concurrent writers, one partition each")->check(CLI::Range(1, 64));
  app.add_option("--sizes", sizes, "records per transaction")->delimiter(',');
  app.add_option("--bytes", bytes, "bytes per record")->check(CLI::Range(1, 1 << 20));
  app.add_option("--seconds", seconds, "per size")->check(CLI::Range(1, 600));
  CLI11_PARSE(app, argc, argv);

  auto setup = pgstore::PgPool::Connect({conninfo, 1});
  if (!setup.has_value()) {
    std::fprintf(stderr, "pg_store_bench: %s\n", setup.error().ToString().c_str());
    return 1;
  }
  // Partitions of its own, far from a hub's (0..31), so a hub's store is never touched.
  const int first_partition = 1000;
  Status created = (*setup)->Run([&](pgstore::PgConnection& db) {
    return pgstore::PgPartitionLog::Create(db, first_partition + writers);
  });
  if (!created.ok()) {
    std::fprintf(stderr, "pg_store_bench: %s\n", created.ToString().c_str());
    return 1;
  }
  for (size_t size : sizes) {
    std::atomic<uint64_t> rows{0}, commits{0}, commit_ns{0};
    std::atomic<bool> failed{false};
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        auto pool = pgstore::PgPool::Connect({conninfo, 1});
        if (!pool.has_value()) {
          failed = true;
          return;
        }
        std::vector<Bytes> batch(size, Bytes(bytes, std::byte{0x5a}));
        while (Clock::now() < until) {
          std::string id = crypto::RandomUuid().value();
          auto started = Clock::now();
          Status done = (*pool)->Run([&](pgstore::PgConnection& db) {
            return pgstore::PgPartitionLog(db).Append(first_partition + w, id, batch).status();
          });
          if (!done.ok()) {
            std::fprintf(stderr, "pg_store_bench: %s\n", done.ToString().c_str());
            failed = true;
            return;
          }
          commit_ns += static_cast<uint64_t>((Clock::now() - started).count());
          rows += size;
          ++commits;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) return 1;
    std::printf("{\"writers\":%d,\"records_per_txn\":%zu,\"bytes\":%zu,\"rows_per_s\":%.0f,"
                "\"txn_per_s\":%.0f,\"mean_commit_ms\":%.2f}\n",
                writers, size, bytes, static_cast<double>(rows) / seconds,
                static_cast<double>(commits) / seconds,
                commits > 0 ? static_cast<double>(commit_ns) / 1e6 / static_cast<double>(commits) : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
