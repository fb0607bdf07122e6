#include "vault/seal/master_key.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "file_scan.h"
#include "test_util.h"
#include "vault/seal/master_key_file.h"
#include "vault/seal/master_lineage.h"

namespace coffre::vault {
namespace {

using testing::FilesContaining;
using testing::StatusIs;

TEST(MasterKeyTest, UnsealsWithThePassphraseOnly) {
  testing::TempDir dir;
  auto path = dir.path() / "master.json";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto master, CreateMasterKeyFile(path, "correct horse battery"));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto again, UnsealMasterKey(path, "correct horse battery"));
  EXPECT_TRUE(master == again);
  EXPECT_THAT(UnsealMasterKey(path, "correct horse batterz").status(),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(FilesContaining(dir.path(), master.Reveal()), ::testing::IsEmpty());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  COFFRE_ASSERT_OK_AND_ASSIGN(MasterKeySealing sealing, ReadMasterKeySealing(path));
  EXPECT_EQ(sealing.kdf, "argon2id");
  EXPECT_EQ(sealing.lineage, *MasterKeyLineage(master));
}

TEST(MasterKeyTest, RefusesShortPassphrasesOverwritesAndDamagedFiles) {
  testing::TempDir dir;
  auto path = dir.path() / "master.json";
  EXPECT_THAT(CreateMasterKeyFile(path, "short").status(), StatusIs(StatusCode::kInvalidArgument));
  COFFRE_ASSERT_OK(CreateMasterKeyFile(path, "long enough pass").status());
  EXPECT_THAT(CreateMasterKeyFile(path, "long enough pass").status(),
              StatusIs(StatusCode::kAlreadyExists));
  std::string text = *ReadTextFile(path);
  auto pos = text.find("\"sealed\": \"") + 12;
  text[pos] = text[pos] == 'A' ? 'B' : 'A';
  COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes(text), 0600));
  EXPECT_THAT(UnsealMasterKey(path, "long enough pass").status(),
              StatusIs(StatusCode::kPermissionDenied));
  COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes("{}"), 0600));
  EXPECT_THAT(UnsealMasterKey(path, "long enough pass").status(), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace coffre::vault
