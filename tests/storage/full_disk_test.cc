// A real full filesystem: a small tmpfs mounted for the test (root only; skipped, with the
// reason, where mounting is not allowed). Through the DiskReserve the stores keep in front of
// the disk: what was written before the disk filled stays readable, writes are refused while it
// is full (RESOURCE_EXHAUSTED, before RocksDB could meet the full disk: Debian's RocksDB 7.8
// aborts the process on the write after a failed WAL write), and they succeed again once space
// returns, without reopening anything.

#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "storage/rocks_kv_store.h"
#include "storage/segment_log.h"
#include "test_util.h"

namespace coffre::storage {
namespace {

class SmallFilesystem {
 public:
  explicit SmallFilesystem(size_t bytes) {
    path_ = dir_.path() / "fs";
    std::filesystem::create_directories(path_);
    std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      why_not_ = std::string("cannot mount a tmpfs here: ") + std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (why_not_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  const std::string& why_not() const { return why_not_; }
  const std::filesystem::path& path() const { return path_; }

  // Writes a file until the filesystem is full.
  void Fill() {
    std::ofstream out(path_ / "filler", std::ios::binary);
    std::string block(64 * 1024, 'f');
    for (int i = 0; i < 100000 && out.write(block.data(), static_cast<std::streamsize>(block.size())); ++i) {
      out.flush();
    }
  }
  void Free() { std::filesystem::remove(path_ / "filler"); }

 private:
  testing::TempDir dir_;
  std::filesystem::path path_;
  std::string why_not_;
};

TEST(FullDiskTest, TheMetadataStoreRefusesWritesWhileFullAndResumesWhenSpaceReturns) {
  SmallFilesystem fs(8 << 20);
  if (!fs.why_not().empty()) GTEST_SKIP() << fs.why_not();
  DiskReserve reserve(fs.path(), 1 << 20);
  auto kv = std::move(RocksKvStore::Open(fs.path() / "meta", {nullptr, nullptr, &reserve}).value());
  Bytes value(16 * 1024, std::byte{7});
  int stored = 0;
  for (; stored < 20; ++stored) COFFRE_ASSERT_OK(kv->Put("k" + std::to_string(stored), value, true));
  fs.Fill();
  Status refused;
  for (int i = 0; i < 2000 && refused.ok(); ++i) {
    refused = kv->Put("k" + std::to_string(stored), value, true);
    if (refused.ok()) ++stored;
  }
  ASSERT_FALSE(refused.ok()) << "the full filesystem took every write";
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("the disk is full"), std::string::npos) << refused;
  EXPECT_TRUE(reserve.full());
  for (int i = 0; i < stored; ++i) EXPECT_TRUE(kv->Get("k" + std::to_string(i)).has_value()) << i;
  fs.Free();
  Status again = kv->Put("after", value, true);
  for (int i = 0; i < 50 && !again.ok(); ++i) {  // recovery may take a moment (bounded: 5 s)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    again = kv->Put("after", value, true);
  }
  COFFRE_EXPECT_OK(again);
  for (int i = 0; i < stored; ++i) EXPECT_TRUE(kv->Get("k" + std::to_string(i)).has_value()) << i;
}

TEST(FullDiskTest, TheSegmentLogRefusesANewSegmentWhileFullAndResumesWhenSpaceReturns) {
  SmallFilesystem fs(4 << 20);
  if (!fs.why_not().empty()) GTEST_SKIP() << fs.why_not();
  DiskReserve reserve(fs.path(), 512 * 1024);
  SegmentLogOptions options{256 * 1024};
  options.reserve = &reserve;
  auto log = std::move(SegmentLog::Open(fs.path() / "log", options).value());
  Bytes payload(1000, std::byte{3});
  uint64_t seq = 0;
  auto append = [&]() -> Status {
    std::vector<LogRecord> batch;
    for (uint64_t k = 0; k < 10; ++k) batch.push_back({log->next_sequence() + k, 1000, payload});
    COFFRE_RETURN_IF_ERROR(log->Append(batch));
    return log->Sync();
  };
  for (int i = 0; i < 30; ++i) COFFRE_ASSERT_OK(append());
  fs.Fill();
  Status refused;
  for (int i = 0; i < 1000 && refused.ok(); ++i) refused = append();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused;
  seq = log->durable_sequence();
  fs.Free();
  COFFRE_ASSERT_OK(append());
  EXPECT_GT(log->durable_sequence(), seq);
  auto all = log->Read(0, SIZE_MAX, SIZE_MAX);
  ASSERT_TRUE(all.has_value()) << all.status();
  EXPECT_EQ(all->size(), log->durable_sequence());
  log.reset();
  auto reopened = std::move(SegmentLog::Open(fs.path() / "log", options).value());
  EXPECT_TRUE(reopened->gaps().empty());
  EXPECT_EQ(reopened->durable_sequence(), all->size());
}

}  // namespace
}  // namespace coffre::storage
