#include "storage/file_cipher.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "crypto/aes_key_wrap.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::storage {
namespace {

using testing::FilesContaining;
using testing::Hex;
using testing::StatusIs;

crypto::SecretBytes Key(std::byte fill) {
  return std::move(crypto::SecretBytes::CopyOf(Bytes(32, fill)).value());
}

// A header carrying a chosen file key and counter base, wrapped under `service`.
Bytes HeaderFor(const crypto::SecretBytes& service, ByteSpan file_key, ByteSpan iv) {
  Bytes header(kFileCipherHeaderBytes);
  auto made = FileCipher::CreateNew(service, header);  // for the magic and the key id
  EXPECT_TRUE(made.has_value());
  Bytes wrapped = *crypto::AesKeyWrap(service.Reveal(), file_key);
  std::copy(wrapped.begin(), wrapped.end(), header.begin() + 24);
  std::copy(iv.begin(), iv.end(), header.begin() + 64);
  return header;
}

// NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt.
TEST(FileCipherTest, MatchesTheNistCtrVector) {
  auto service = Key(std::byte{1});
  Bytes header = HeaderFor(service, Hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
                           Hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  auto cipher = std::move(FileCipher::FromHeader(service, header).value());
  Bytes data = Hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                   "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  COFFRE_ASSERT_OK(cipher->Apply(0, data));
  EXPECT_EQ(HexEncode(data), "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
                             "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
}

TEST(FileCipherTest, AnySliceAtAnyOffsetMatchesTheWholeStream) {
  auto service = Key(std::byte{2});
  Bytes header(kFileCipherHeaderBytes);
  auto cipher = std::move(FileCipher::CreateNew(service, header).value());
  Bytes plain(10000);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = std::byte(i * 7);
  Bytes whole = plain;
  COFFRE_ASSERT_OK(cipher->Apply(0, whole));
  EXPECT_NE(whole, plain);
  for (auto [offset, len] : {std::pair<size_t, size_t>{0, 1}, {1, 15}, {15, 2}, {16, 16},
                             {17, 4000}, {4095, 3}, {9999, 1}, {333, 9667}}) {
    Bytes slice(plain.begin() + offset, plain.begin() + offset + len);
    COFFRE_ASSERT_OK(cipher->Apply(offset, slice));
    EXPECT_TRUE(std::equal(slice.begin(), slice.end(), whole.begin() + offset)) << offset;
    COFFRE_ASSERT_OK(cipher->Apply(offset, slice));  // decrypts
    EXPECT_TRUE(std::equal(slice.begin(), slice.end(), plain.begin() + offset)) << offset;
  }
}

TEST(FileCipherTest, CounterCarriesIntoTheHighHalf) {
  auto service = Key(std::byte{3});
  Bytes key(32, std::byte{9});
  Bytes header = HeaderFor(service, key, Hex("0000000000000000ffffffffffffffff"));
  auto cipher = std::move(FileCipher::FromHeader(service, header).value());
  Bytes a(32), b(16);
  COFFRE_ASSERT_OK(cipher->Apply(0, a));
  // Block 1 uses counter 0000000000000001 0000000000000000.
  Bytes header2 = HeaderFor(service, key, Hex("00000000000000010000000000000000"));
  auto cipher2 = std::move(FileCipher::FromHeader(service, header2).value());
  COFFRE_ASSERT_OK(cipher2->Apply(0, b));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), a.begin() + 16));
}

TEST(FileCipherTest, AnotherServiceKeyOrAForeignHeaderIsRefused) {
  auto service = Key(std::byte{4});
  Bytes header(kFileCipherHeaderBytes);
  COFFRE_ASSERT_OK(FileCipher::CreateNew(service, header).status());
  EXPECT_THAT(FileCipher::FromHeader(Key(std::byte{5}), header).status(),
              StatusIs(StatusCode::kPermissionDenied));
  Bytes tampered = header;
  tampered[30] ^= std::byte{1};
  EXPECT_THAT(FileCipher::FromHeader(service, tampered).status(),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(FileCipher::FromHeader(service, Bytes(kFileCipherHeaderBytes)).status(),
              StatusIs(StatusCode::kDataLoss));
}

TEST(FileCipherTest, ServiceKeyFileIsPrivate) {
  testing::TempDir dir;
  auto path = dir.path() / "service.key";
  COFFRE_ASSERT_OK(CreateServiceKeyFile(path));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto key, LoadServiceKeyFile(path));
  EXPECT_EQ(key.size(), 32u);
  EXPECT_THAT(FilesContaining(dir.path(), key.Reveal()), ::testing::Not(::testing::IsEmpty()))
      << "the key file holds the key (base64url), as it must";
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_THAT(LoadServiceKeyFile(path).status(), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(CreateServiceKeyFile(path), StatusIs(StatusCode::kAlreadyExists));
}

class EncryptedRocksTest : public ::testing::Test {
 protected:
  // Writes a value nobody sealed, so only the infrastructure layer can hide it.
  void WriteKnownPlaintext(const RocksKvStore::Options& options) {
    auto kv = std::move(RocksKvStore::Open(dir_.path() / "db", options).value());
    for (int i = 0; i < 50; ++i) {
      COFFRE_ASSERT_OK(kv->Put("row/" + std::to_string(i), AsBytes(kPlain), true));
    }
    COFFRE_ASSERT_OK(kv->DestroyDeletedData());  // flush into table files too
    COFFRE_ASSERT_OK(kv->Put("row/late", AsBytes(kPlain), true));  // and one in the WAL only
  }
  static constexpr std::string_view kPlain = "KNOWN-PLAINTEXT-coffre-0123456789";
  testing::TempDir dir_;
};

TEST_F(EncryptedRocksTest, WithoutTheServiceKeyThePlaintextIsOnDisk) {
  WriteKnownPlaintext({});
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes(kPlain)), ::testing::Not(::testing::IsEmpty()));
}

TEST_F(EncryptedRocksTest, WithTheServiceKeyNoFileHoldsThePlaintextAndItReadsBack) {
  auto key = Key(std::byte{6});
  WriteKnownPlaintext({nullptr, &key});
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes(kPlain)), ::testing::IsEmpty());
  auto kv = std::move(RocksKvStore::Open(dir_.path() / "db", {nullptr, &key}).value());
  EXPECT_EQ(AsChars(*kv->Get("row/7")), kPlain);
  EXPECT_EQ(AsChars(*kv->Get("row/late")), kPlain);
}

TEST_F(EncryptedRocksTest, AWrongServiceKeyCannotOpenTheStore) {
  auto key = Key(std::byte{7});
  WriteKnownPlaintext({nullptr, &key});
  auto wrong = Key(std::byte{8});
  EXPECT_FALSE(RocksKvStore::Open(dir_.path() / "db", {nullptr, &wrong}).has_value());
  EXPECT_FALSE(RocksKvStore::Open(dir_.path() / "db").has_value());
}

}  // namespace
}  // namespace coffre::storage
