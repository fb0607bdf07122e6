// Cluster mode's store through a failover, started as `coffre up --cluster` starts it (the cli
// library's EnsureClusterStore): 3 etcd, 3 Patroni + PostgreSQL 15 in a temp dir. Two writers
// append batches of 64 records to one partition, each through a PgPool (retried on a new
// connection, with the same batch id, through the failover) while the primary
// is killed (its postmaster, or its Patroni); then every acknowledged batch must read back
// exactly once, in order, the sequences dense. Prints the write pause: from the kill to the
// first commit acknowledged after it (the old primary's answers died with it). Everything is stopped by pid at the end, even
// on failure, and nothing may be left running in the temp dir. Skips where Patroni, etcd or
// PostgreSQL 15 are not installed (scripts/setup.sh installs them).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cli/daemon.h"
#include "cli/patroni_api.h"
#include "cli/stack_cluster_store.h"
#include "cli/stack_etcd.h"
#include "cli/stack_patroni.h"
#include "common/files.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_pool.h"
#include "test_util.h"

namespace coffre::pgstore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kWriters = 2;
constexpr int kPerBatch = 64;
constexpr int kPartition = 0;
constexpr auto kStartTimeout = seconds(60);
// What each step may take at most; the whole test stays under ctest's 90 s.
constexpr auto kFailoverDeadline = seconds(30);

Bytes Record(int writer, int batch, int i) {
  std::string text = std::to_string(writer) + "/" + std::to_string(batch) + "/" + std::to_string(i);
  Bytes b(text.size());
  std::memcpy(b.data(), text.data(), text.size());
  return b;
}

std::string Text(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

struct Ack {
  int writer = 0;
  int batch = 0;
  uint64_t first = 0;
  Clock::time_point at;            // when Append returned
};

// Processes whose working directory is under `dir`: a PostgreSQL left behind runs in its data
// directory.
std::vector<int> ProcessesIn(const std::filesystem::path& dir) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code gone;
    auto cwd = std::filesystem::read_symlink(entry.path() / "cwd", gone);
    if (!gone && cwd.string().rfind(dir.string(), 0) == 0 && cli::ProcessAlive(std::stoi(name))) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

class PgFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* exe : {cli::kEtcdBinary, cli::kPatroniBinary,
                            "/usr/lib/postgresql/15/bin/postgres"}) {
      if (::access(exe, X_OK) != 0) {
        GTEST_SKIP() << exe << " is not installed (scripts/setup.sh installs it)";
      }
    }
    // As root, PostgreSQL runs as postgres, which must cross the temp dir to reach the stack's.
    if (::geteuid() == 0 && ::chmod(temp_.path().c_str(), 0711) != 0) {
      GTEST_SKIP() << "cannot open the temp dir to postgres";
    }
    dir_ = temp_.path() / "stack";
    ASSERT_TRUE(EnsurePrivateDirectory(dir_).ok());
    // Ports from a random base: tests of other binaries may run beside this one.
    std::random_device random;
    uint16_t from = static_cast<uint16_t>(20000 + random() % 12000);  // below the ephemeral ports
    auto begun = Clock::now();
    Status up = cli::EnsureClusterStore(dir_, cluster_, from, kStartTimeout);
    ASSERT_TRUE(up.ok()) << up;
    std::cout << "[ cluster  ] started in " << Millis(Clock::now() - begun) << " ms\n";
    auto db = PgConnection::Connect(cluster_.postgres_conninfo);
    ASSERT_TRUE(db.has_value()) << db.error();
    ASSERT_TRUE(PgPartitionLog::Create(**db, 1).ok());
  }

  void TearDown() override {
    cli::StopClusterStore(dir_, cluster_, milliseconds(10000));
    // COFFRE_CLUSTER_LOGS=DIR keeps the Patroni and etcd logs (the temp dir goes).
    if (const char* keep = std::getenv("COFFRE_CLUSTER_LOGS"); keep != nullptr && *keep != '\0') {
      std::filesystem::path to = std::filesystem::path(keep) /
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name();
      std::error_code ec;
      std::filesystem::create_directories(to, ec);
      for (size_t i = 0; i < cluster_.postgres.size(); ++i) {
        std::string n = std::to_string(i);
        std::filesystem::copy_file(cli::ClusterDir(dir_) / ("pg-" + n) / "patroni.log",
                                   to / ("pg-" + n + ".log"),
                                   std::filesystem::copy_options::overwrite_existing, ec);
        std::filesystem::copy_file(cli::ClusterDir(dir_) / ("etcd-" + n + ".log"),
                                   to / ("etcd-" + n + ".log"),
                                   std::filesystem::copy_options::overwrite_existing, ec);
      }
    }
    for (const auto& m : cluster_.postgres) EXPECT_EQ(m.pid, 0);
    EXPECT_EQ(ProcessesIn(temp_.path()), std::vector<int>{}) << "left running in " << dir_;
  }

  static int64_t Millis(Clock::duration d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
  }

  std::vector<uint16_t> PatroniPorts() const {
    std::vector<uint16_t> ports;
    for (const auto& m : cluster_.postgres) ports.push_back(m.patroni_port);
    return ports;
  }

  // The index in cluster_.postgres of the running leader, or -1.
  int LeaderIndex(const std::vector<uint16_t>& ask) const {
    auto members = cli::PatroniClusterMembers(ask, milliseconds(1000));
    if (!members.has_value()) return -1;
    std::string leader = cli::LeaderName(*members);
    for (size_t i = 0; i < cluster_.postgres.size(); ++i) {
      if (cluster_.postgres[i].name == leader) return static_cast<int>(i);
    }
    return -1;
  }

  void StartWriters() {
    for (int w = 0; w < kWriters; ++w) {
      writers_.emplace_back([this, w] {
        auto pool = PgPool::Connect({cluster_.postgres_conninfo, 1, kFailoverDeadline});
        if (!pool.has_value()) {
          std::lock_guard lock(mu_);
          errors_.push_back("writer " + std::to_string(w) + ": " + pool.error().ToString());
          return;
        }
        for (int b = 0; !stop_; ++b) {
          std::vector<Bytes> batch;
          for (int i = 0; i < kPerBatch; ++i) batch.push_back(Record(w, b, i));
          std::string id = "w" + std::to_string(w) + "-b" + std::to_string(b);
          uint64_t at = 0;
          Status appended = (*pool)->Run([&](PgConnection& db) -> Status {
            COFFRE_ASSIGN_OR_RETURN(at, PgPartitionLog(db).Append(kPartition, id, batch));
            return Status::Ok();
          });
          Result<uint64_t> first = appended.ok() ? Result<uint64_t>(at) : appended;
          std::lock_guard lock(mu_);
          if (!first.has_value()) {
            errors_.push_back(id + ": " + first.error().ToString());
            return;
          }
          acks_.push_back({w, b, *first, Clock::now()});
        }
      });
    }
  }

  void StopWriters() {
    stop_ = true;
    for (auto& t : writers_) t.join();
    writers_.clear();
  }

  // Until each writer has `n` acks on connections made after `since`, or the deadline.
  bool WaitForAcksAfter(Clock::time_point since, int n, Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (!errors_.empty()) return false;
        std::map<int, int> after;
        for (const Ack& a : acks_) after[a.writer] += a.at > since ? 1 : 0;
        if (after.size() == kWriters && after[0] >= n && after[1] >= n) return true;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // The first commit on a connection made after the kill: the write pause.
  Clock::duration PauseAfter(Clock::time_point kill) {
    std::lock_guard lock(mu_);
    std::optional<Clock::time_point> first;
    for (const Ack& a : acks_) {
      if (a.at > kill && (!first || a.at < *first)) first = a.at;
    }
    return first ? *first - kill : Clock::duration::max();
  }

  // Every acknowledged batch exactly once, at its range, in each writer's order; nothing else.
  void ExpectEveryAckedBatchOnceDenseAndInOrder() {
    auto pool = PgPool::Connect({cluster_.postgres_conninfo, 1, seconds(20)});
    ASSERT_TRUE(pool.has_value()) << pool.error();
    uint64_t end = 0;
    std::vector<PgRecord> all;
    COFFRE_ASSERT_OK((*pool)->Run([&](PgConnection& db) -> Status {
      PgPartitionLog reader(db);
      COFFRE_ASSIGN_OR_RETURN(end, reader.End(kPartition));
      all.clear();
      while (all.size() < end) {
        COFFRE_ASSIGN_OR_RETURN(auto chunk, reader.Read(kPartition, all.size(), 10'000));
        if (chunk.empty()) {
          return DataLoss("End() is " + std::to_string(end) + " but reading stops at " +
                          std::to_string(all.size()));
        }
        for (auto& r : chunk) all.push_back(std::move(r));
      }
      return Status::Ok();
    }));
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].sequence, i) << "sequences are not dense";
    }
    std::set<std::string> seen;
    for (const PgRecord& r : all) {
      EXPECT_TRUE(seen.insert(Text(r.record)).second) << "written twice: " << Text(r.record);
    }
    std::lock_guard lock(mu_);
    EXPECT_EQ(end, acks_.size() * kPerBatch) << "records that no acknowledged batch wrote";
    std::map<int, uint64_t> last_first;
    for (const Ack& a : acks_) {
      ASSERT_LE(a.first + kPerBatch, all.size()) << "batch w" << a.writer << "-b" << a.batch << " lost";
      for (int i = 0; i < kPerBatch; ++i) {
        ASSERT_EQ(Text(all[a.first + i].record), Text(Record(a.writer, a.batch, i)))
            << "batch w" << a.writer << "-b" << a.batch << " is not where its ack said";
      }
      if (last_first.contains(a.writer)) {
        EXPECT_GT(a.first, last_first[a.writer]);
      }
      last_first[a.writer] = a.first;
    }
    std::cout << "[ verified ] " << acks_.size() << " acknowledged batches, " << all.size()
              << " records, each once and dense\n";
  }

  // The longest time in which no writer committed anything (from the first commit on).
  Clock::duration LongestGap() {
    std::lock_guard lock(mu_);
    std::vector<Clock::time_point> at;
    for (const Ack& a : acks_) at.push_back(a.at);
    std::sort(at.begin(), at.end());
    Clock::duration gap{};
    for (size_t i = 1; i < at.size(); ++i) gap = std::max(gap, at[i] - at[i - 1]);
    return gap;
  }

  void Report(const std::string& what, Clock::duration pause, const std::string& from,
              const std::string& to) {
    std::cout << "[ failover ] " << what << " (leader " << from << " -> " << to
              << "): writes paused " << Millis(pause) << " ms\n";
    RecordProperty("write_pause_ms", std::to_string(Millis(pause)));
  }

  testing::TempDir temp_;
  std::filesystem::path dir_;
  cli::StackCluster cluster_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> writers_;
  std::mutex mu_;
  std::vector<Ack> acks_;
  std::vector<std::string> errors_;
};

TEST_F(PgFailoverTest, KillingThePrimarysPostgresLosesNoAcknowledgedBatch) {
  const int old_leader = LeaderIndex(PatroniPorts());
  ASSERT_GE(old_leader, 0);
  StartWriters();
  // Some batches on the first primary, then its postmaster is killed mid-stream.
  bool warmed = WaitForAcksAfter(Clock::time_point{}, 5, Clock::now() + seconds(15));
  std::ifstream pid_file(cli::PostgresDataDir(dir_, static_cast<size_t>(old_leader)) / "postmaster.pid");
  int postmaster = 0;
  pid_file >> postmaster;
  const auto kill = Clock::now();
  if (warmed && postmaster > 0) ::kill(postmaster, SIGKILL);
  bool resumed = warmed && postmaster > 0 && WaitForAcksAfter(kill, 5, kill + kFailoverDeadline);
  StopWriters();
  ASSERT_TRUE(warmed) << "no writes before the kill";
  ASSERT_GT(postmaster, 0) << "no postmaster.pid for the leader";
  for (const std::string& e : errors_) ADD_FAILURE() << "a writer gave up: " << e;
  ASSERT_TRUE(resumed) << "writes did not resume within " << kFailoverDeadline.count() << " s";
  const Clock::duration pause = PauseAfter(kill);
  int new_leader = LeaderIndex(PatroniPorts());
  Report("kill -9 of the primary's postmaster, to the first commit after it", pause,
         cluster_.postgres[old_leader].name,
         new_leader >= 0 ? cluster_.postgres[new_leader].name : "?");
  std::cout << "[ failover ] longest time without any commit: " << Millis(LongestGap()) << " ms\n";
  // A crashed primary fails over (primary_start_timeout 0), to its synchronous standby.
  EXPECT_NE(new_leader, old_leader);
  ExpectEveryAckedBatchOnceDenseAndInOrder();
}

// Patroni killed, its PostgreSQL lives on as a primary nobody leads: after ttl the synchronous
// standby takes the lock, and the orphan can acknowledge nothing more (its synchronous standby
// now follows the new leader), so its clients wait. What frees them is the operator's restart
// of the node (`coffre up --cluster` again): Patroni demotes the orphan, its sessions end,
// and the writers retry on the new primary.
TEST_F(PgFailoverTest, KillingThePrimarysPatroniLosesNoAcknowledgedBatch) {
  const int old_leader = LeaderIndex(PatroniPorts());
  ASSERT_GE(old_leader, 0);
  StartWriters();
  bool warmed = WaitForAcksAfter(Clock::time_point{}, 5, Clock::now() + seconds(15));
  const auto kill = Clock::now();
  if (warmed) ::kill(cluster_.postgres[old_leader].pid, SIGKILL);
  // The others see a new leader once the old one's lock expires.
  std::vector<uint16_t> others;
  for (size_t i = 0; i < cluster_.postgres.size(); ++i) {
    if (static_cast<int>(i) != old_leader) others.push_back(cluster_.postgres[i].patroni_port);
  }
  int new_leader = -1;
  while (warmed && Clock::now() < kill + kFailoverDeadline) {
    new_leader = LeaderIndex(others);
    if (new_leader >= 0 && new_leader != old_leader) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  const auto elected = Clock::now();
  Status restarted = warmed ? cli::EnsureClusterStore(dir_, cluster_, 0, seconds(30))
                            : Unavailable("not started");
  const auto restarted_at = Clock::now();
  bool resumed = restarted.ok() && WaitForAcksAfter(kill, 5, Clock::now() + kFailoverDeadline);
  StopWriters();
  ASSERT_TRUE(warmed) << "no writes before the kill";
  ASSERT_GE(new_leader, 0) << "no new leader within " << kFailoverDeadline.count() << " s";
  ASSERT_NE(new_leader, old_leader);
  ASSERT_TRUE(restarted.ok()) << restarted;
  for (const std::string& e : errors_) ADD_FAILURE() << "a writer gave up: " << e;
  ASSERT_TRUE(resumed) << "writes did not resume after the restart";
  // Its PostgreSQL kept committing until the standby took the lock; the pause is from there.
  std::cout << "[ failover ] new leader " << Millis(elected - kill)
            << " ms after the kill; its Patroni restarted " << Millis(restarted_at - kill)
            << " ms after it\n";
  Report("kill -9 of the primary's Patroni, longest time without any commit", LongestGap(),
         cluster_.postgres[old_leader].name, cluster_.postgres[new_leader].name);
  ExpectEveryAckedBatchOnceDenseAndInOrder();
}

}  // namespace
}  // namespace coffre::pgstore
