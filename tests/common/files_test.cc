#include "common/files.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre {
namespace {

TEST(FilesTest, WriteFileDurablyReplacesContentAndSetsMode) {
  testing::TempDir dir;
  auto path = dir.path() / "f";
  COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes("one"), 0600));
  COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes("two"), 0640));
  EXPECT_EQ(*ReadTextFile(path), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "f.tmp"));
}

TEST(FilesTest, ReadOfMissingFileIsNotFound) {
  testing::TempDir dir;
  EXPECT_THAT(ReadFile(dir.path() / "missing").status(),
              testing::StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace coffre
