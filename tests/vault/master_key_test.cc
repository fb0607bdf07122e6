#include "vault/seal/master_key.h"

#include <sys/stat.h>

#include <cstdlib>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

// A damaged master.json may hold any JSON type in any field: each is a DATA_LOSS, never a throw
// (a throw would end the vault at start instead of saying what is wrong with the file).
TEST(MasterKeyTest, AFileWithWrongTypedFieldsIsDataLossNotAThrow) {
  testing::TempDir dir;
  auto path = dir.path() / "master.json";
  COFFRE_ASSERT_OK(CreateMasterKeyFile(path, "long enough pass").status());
  const nlohmann::json good = nlohmann::json::parse(*ReadTextFile(path));
  for (const char* field : {"version", "salt", "sealed", "t_cost", "m_cost_kib", "parallelism"}) {
    for (const nlohmann::json& value :
         {nlohmann::json("3"), nlohmann::json(nullptr), nlohmann::json(-1),
          nlohmann::json::array({1}), nlohmann::json(1e300), nlohmann::json::object()}) {
      nlohmann::json damaged = good;
      damaged[field] = value;
      COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes(damaged.dump()), 0600));
      EXPECT_THAT(UnsealMasterKey(path, "long enough pass").status(),
                  StatusIs(StatusCode::kDataLoss))
          << field << " = " << value.dump();
    }
  }
  COFFRE_ASSERT_OK(WriteFileDurably(path, AsBytes("[1, 2]"), 0600));
  EXPECT_THAT(UnsealMasterKey(path, "long enough pass").status(), StatusIs(StatusCode::kDataLoss));
}

// The default costs (what a deployment gets) and the suite's cheap ones
// (COFFRE_TEST_ONLY_FAST_KDF=1, which test_main sets): the file records its costs, and opening
// uses the file's, whatever the variable says then.
TEST(MasterKeyTest, RecordsItsArgon2CostsAndOpensWithTheRecordedOnes) {
  testing::TempDir dir;
  auto costs = [](const std::filesystem::path& path) {
    nlohmann::json j = nlohmann::json::parse(*ReadTextFile(path));
    return std::pair{j["t_cost"].get<uint32_t>(), j["m_cost_kib"].get<uint32_t>()};
  };
  ASSERT_EQ(::unsetenv("COFFRE_TEST_ONLY_FAST_KDF"), 0);
  auto slow = dir.path() / "default.json";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto slow_master, CreateMasterKeyFile(slow, "correct horse battery"));
  EXPECT_EQ(costs(slow), (std::pair<uint32_t, uint32_t>{3, 64 * 1024}));

  ASSERT_EQ(::setenv("COFFRE_TEST_ONLY_FAST_KDF", "1", 1), 0);
  auto fast = dir.path() / "fast.json";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto fast_master, CreateMasterKeyFile(fast, "correct horse battery"));
  EXPECT_EQ(costs(fast), (std::pair<uint32_t, uint32_t>{1, 8 * 1024}));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto slow_again, UnsealMasterKey(slow, "correct horse battery"));
  EXPECT_TRUE(slow_again == slow_master);

  ASSERT_EQ(::unsetenv("COFFRE_TEST_ONLY_FAST_KDF"), 0);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto fast_again, UnsealMasterKey(fast, "correct horse battery"));
  EXPECT_TRUE(fast_again == fast_master);
  EXPECT_THAT(UnsealMasterKey(fast, "correct horse batterz").status(),
              StatusIs(StatusCode::kPermissionDenied));
  ASSERT_EQ(::setenv("COFFRE_TEST_ONLY_FAST_KDF", "1", 1), 0);
}

}  // namespace
}  // namespace coffre::vault
