#include "keys/local_file_key_provider.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/files.h"
#include "crypto/aes_gcm.h"
#include "test_util.h"

namespace coffre::keys {
namespace {

using crypto::KeyState;
using crypto::SecretBytes;
using testing::StatusIs;

class LocalFileKeyProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "dev-key.json";
    COFFRE_ASSERT_OK(LocalFileKeyProvider::CreateKeyFile(path_, "dev-key"));
  }
  void SetEnabled(bool enabled) {
    std::string text = *ReadTextFile(path_);
    auto pos = text.find(enabled ? "false" : "true");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, enabled ? 5 : 4, enabled ? "true" : "false");
    COFFRE_ASSERT_OK(WriteFileDurably(path_, AsBytes(text), 0600));
  }
  testing::TempDir dir_;
  std::filesystem::path path_;
};

TEST_F(LocalFileKeyProviderTest, WrapsAndUnwrapsAKey) {
  LocalFileKeyProvider provider(path_);
  auto key = SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, provider.Wrap(*key));
  EXPECT_EQ(wrapped.algorithm, "A256KW");
  EXPECT_EQ(wrapped.ciphertext.size(), 40u);
  COFFRE_ASSERT_OK_AND_ASSIGN(SecretBytes back, provider.Unwrap(wrapped));
  EXPECT_TRUE(back == *key);
}

TEST_F(LocalFileKeyProviderTest, DescribesTheKey) {
  LocalFileKeyProvider provider(path_);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::KeyDescription d, provider.Describe());
  EXPECT_EQ(d.name, "dev-key");
  EXPECT_EQ(d.version, "1");
  EXPECT_TRUE(d.enabled());
  EXPECT_EQ(d.id, "file://" + path_.string() + "#dev-key/1");
}

TEST_F(LocalFileKeyProviderTest, CreatedKeyFileIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LocalFileKeyProviderTest, RefusesAKeyFileOthersCanRead) {
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  LocalFileKeyProvider provider(path_);
  auto key = SecretBytes::Random(32);
  EXPECT_THAT(provider.Wrap(*key).status(),
              StatusIs(StatusCode::kPermissionDenied, ::testing::HasSubstr("0600")));
  EXPECT_THAT(provider.Describe().status(), StatusIs(StatusCode::kPermissionDenied));
  ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
  EXPECT_THAT(provider.Describe().status(), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(LocalFileKeyProviderTest, DisabledKeyRefusesWrapAndUnwrapUntilEnabled) {
  LocalFileKeyProvider provider(path_);
  auto key = SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, provider.Wrap(*key));
  SetEnabled(false);
  EXPECT_EQ(provider.Describe()->state, KeyState::kDisabled);
  EXPECT_THAT(provider.Unwrap(wrapped).status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(provider.Wrap(*key).status(), StatusIs(StatusCode::kFailedPrecondition));
  SetEnabled(true);
  COFFRE_EXPECT_OK(provider.Unwrap(wrapped).status());
}

TEST_F(LocalFileKeyProviderTest, EveryUnwrapFailureIsTheSameError) {
  LocalFileKeyProvider provider(path_);
  auto key = SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, provider.Wrap(*key));
  for (size_t i = 0; i < wrapped.ciphertext.size(); ++i) {
    crypto::WrappedKey bad = wrapped;
    bad.ciphertext[i] ^= std::byte{0x01};
    EXPECT_EQ(provider.Unwrap(bad).status(), crypto::OpenFailed()) << "byte " << i;
  }
  crypto::WrappedKey short_one = wrapped;
  short_one.ciphertext.resize(8);
  EXPECT_EQ(provider.Unwrap(short_one).status(), crypto::OpenFailed());
  crypto::WrappedKey odd = wrapped;
  odd.ciphertext.pop_back();
  EXPECT_EQ(provider.Unwrap(odd).status(), crypto::OpenFailed());

  // A key wrapped by a different key file with the same name and version.
  auto other_path = dir_.path() / "other.json";
  COFFRE_ASSERT_OK(LocalFileKeyProvider::CreateKeyFile(other_path, "dev-key"));
  LocalFileKeyProvider other(other_path);
  crypto::WrappedKey foreign = wrapped;
  foreign.key_id = other.Describe()->id;
  EXPECT_EQ(other.Unwrap(foreign).status(), crypto::OpenFailed());
}

TEST_F(LocalFileKeyProviderTest, MissingOrMalformedFileIsAClearError) {
  LocalFileKeyProvider missing(dir_.path() / "nope.json");
  EXPECT_THAT(missing.Describe().status(), StatusIs(StatusCode::kNotFound));
  auto bad = dir_.path() / "bad.json";
  for (std::string_view text : {"not json", "[]", R"({"name":"k","version":"1","enabled":true})",
                                R"({"name":"k","version":"1","enabled":true,"k":"AAAA"})"}) {
    COFFRE_ASSERT_OK(WriteFileDurably(bad, AsBytes(text), 0600));
    EXPECT_THAT(LocalFileKeyProvider(bad).Describe().status(),
                StatusIs(StatusCode::kInvalidArgument))
        << text;
  }
}

TEST_F(LocalFileKeyProviderTest, CreateRefusesToOverwrite) {
  EXPECT_THAT(LocalFileKeyProvider::CreateKeyFile(path_, "again"),
              StatusIs(StatusCode::kAlreadyExists));
}

}  // namespace
}  // namespace coffre::keys
