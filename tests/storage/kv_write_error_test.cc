// A metadata-store write that the disk fails for a reason other than a full disk (EIO on the
// write-ahead log): RocksDB 7.8 aborts the process on the write after a failed WAL write, so
// the store refuses every write after the first failed one, with UNAVAILABLE saying why, while
// reads go on; a restart (the store opened again) writes again, and every write acknowledged
// before the failure is there.
#include <rocksdb/env.h>

#include <gtest/gtest.h>

#include "fakes/crash_file_system.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::storage {
namespace {

using coffre::testing::StatusIs;

TEST(KvWriteErrorTest, AfterAFailedWriteTheStoreRefusesWritesAndServesReads) {
  coffre::testing::TempDir dir;
  auto files = std::make_shared<coffre::testing::CrashFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(files);
  {
    auto kv = std::move(RocksKvStore::Open(dir.path() / "meta", {env.get(), nullptr, nullptr}).value());
    COFFRE_ASSERT_OK(kv->Put("a", AsBytes(std::string_view("1")), true));
    files->Freeze();  // every write from here on fails, as on a disk that stopped writing
    Status failed = kv->Put("b", AsBytes(std::string_view("2")), true);
    EXPECT_FALSE(failed.ok());
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(kv->Put("c", AsBytes(std::string_view("3")), true),
                  StatusIs(StatusCode::kUnavailable, ::testing::HasSubstr("failed a write")));
      EXPECT_THAT(kv->Write({{"d", Bytes(1)}}, false), StatusIs(StatusCode::kUnavailable));
      EXPECT_THAT(kv->Delete("a", true), StatusIs(StatusCode::kUnavailable));
      EXPECT_THAT(kv->Sync(), StatusIs(StatusCode::kUnavailable));
    }
    EXPECT_EQ(kv->Get("a").value(), Bytes{std::byte{'1'}});
  }
  files->Crash();
  auto kv = std::move(RocksKvStore::Open(dir.path() / "meta", {env.get(), nullptr, nullptr}).value());
  EXPECT_EQ(kv->Get("a").value(), Bytes{std::byte{'1'}});
  COFFRE_EXPECT_OK(kv->Put("c", AsBytes(std::string_view("3")), true));
  EXPECT_EQ(kv->Get("c").value(), Bytes{std::byte{'3'}});
}

}  // namespace
}  // namespace coffre::storage
