#include "crypto/aes_gcm.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::crypto {
namespace {

using testing::Hex;
using testing::StatusIs;

struct Vector {
  std::string name;
  Bytes key, iv, plaintext, aad, ciphertext, tag;
};

std::vector<Vector> LoadVectors() {
  std::ifstream in(std::string(COFFRE_TEST_DATA_DIR) + "/aes256_gcm_vectors.txt");
  EXPECT_TRUE(in.good());
  std::vector<Vector> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, ':')) f.push_back(field);
    while (f.size() < 7) f.push_back("");
    out.push_back({f[0], Hex(f[1]), Hex(f[2]), Hex(f[3]), Hex(f[4]), Hex(f[5]), Hex(f[6])});
  }
  return out;
}

std::unique_ptr<AesGcm> MakeAead(ByteSpan key) {
  auto secret = SecretBytes::CopyOf(key);
  return std::move(AesGcm::Create(*secret).value());
}

GcmNonce ToNonce(ByteSpan b) {
  GcmNonce n{};
  std::copy(b.begin(), b.end(), n.begin());
  return n;
}

TEST(AesGcmTest, SealMatchesNistVectors) {
  auto vectors = LoadVectors();
  ASSERT_EQ(vectors.size(), 4u);
  for (const Vector& v : vectors) {
    SCOPED_TRACE(v.name);
    auto aead = MakeAead(v.key);
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, aead->Seal(ToNonce(v.iv), {v.aad}, v.plaintext));
    Bytes expected = v.ciphertext;
    expected.insert(expected.end(), v.tag.begin(), v.tag.end());
    EXPECT_EQ(HexEncode(sealed), HexEncode(expected));
  }
}

TEST(AesGcmTest, OpenMatchesNistVectors) {
  for (const Vector& v : LoadVectors()) {
    SCOPED_TRACE(v.name);
    auto aead = MakeAead(v.key);
    Bytes sealed = v.ciphertext;
    sealed.insert(sealed.end(), v.tag.begin(), v.tag.end());
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, aead->Open(ToNonce(v.iv), {v.aad}, sealed));
    EXPECT_EQ(opened, v.plaintext);
  }
}

TEST(AesGcmTest, AadPartsAreConcatenated) {
  Vector v = LoadVectors()[3];  // TC16 has AAD
  auto aead = MakeAead(v.key);
  ByteSpan aad(v.aad);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed,
                              aead->Seal(ToNonce(v.iv), {aad.first(7), aad.subspan(7)}, v.plaintext));
  EXPECT_EQ(HexEncode(ByteSpan(sealed).last(16)), HexEncode(v.tag));
}

class AesGcmTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v_ = LoadVectors()[3];
    aead_ = MakeAead(v_.key);
    sealed_ = v_.ciphertext;
    sealed_.insert(sealed_.end(), v_.tag.begin(), v_.tag.end());
  }
  Status OpenWith(ByteSpan iv, ByteSpan aad, ByteSpan sealed) {
    return aead_->Open(ToNonce(iv), {aad}, sealed).status();
  }
  Vector v_;
  std::unique_ptr<AesGcm> aead_;
  Bytes sealed_;
};

TEST_F(AesGcmTamperTest, EveryFlippedBitOfCiphertextOrTagFailsWithTheSameError) {
  for (size_t i = 0; i < sealed_.size(); ++i) {
    Bytes bad = sealed_;
    bad[i] ^= std::byte{0x01};
    EXPECT_EQ(OpenWith(v_.iv, v_.aad, bad), OpenFailed()) << "byte " << i;
  }
}

TEST_F(AesGcmTamperTest, ChangedNonceAadOrKeyFailsWithTheSameError) {
  Bytes iv = v_.iv;
  iv[11] ^= std::byte{0x80};
  EXPECT_EQ(OpenWith(iv, v_.aad, sealed_), OpenFailed());
  Bytes aad = v_.aad;
  aad[0] ^= std::byte{0x01};
  EXPECT_EQ(OpenWith(v_.iv, aad, sealed_), OpenFailed());
  EXPECT_EQ(OpenWith(v_.iv, {}, sealed_), OpenFailed());
  EXPECT_EQ(OpenWith(v_.iv, v_.aad, ByteSpan(sealed_).first(sealed_.size() - 1)), OpenFailed());
  EXPECT_EQ(OpenWith(v_.iv, v_.aad, ByteSpan(sealed_).first(3)), OpenFailed());
  Bytes other_key = v_.key;
  other_key[0] ^= std::byte{0x01};
  EXPECT_EQ(MakeAead(other_key)->Open(ToNonce(v_.iv), {v_.aad}, sealed_).status(), OpenFailed());
}

TEST_F(AesGcmTamperTest, FailedOpenLeavesNoPlaintextInTheOutput) {
  Bytes bad = sealed_;
  bad[20] ^= std::byte{0x01};
  Bytes out(bad.size() - kAesGcmTagSize, std::byte{0x55});
  EXPECT_EQ(aead_->Open(ToNonce(v_.iv), {v_.aad}, bad, out), OpenFailed());
  EXPECT_EQ(out, Bytes(out.size(), std::byte{0}));
}

TEST(AesGcmTest, CreateRejectsKeysThatAreNot32Bytes) {
  auto short_key = SecretBytes::Random(16);
  EXPECT_THAT(AesGcm::Create(*short_key).status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(AesGcmTest, ContextIsReusableAcrossManySealsAndOpens) {
  auto key = SecretBytes::Random(32);
  auto aead = std::move(AesGcm::Create(*key).value());
  for (int i = 0; i < 100; ++i) {
    GcmNonce nonce{};
    nonce[11] = std::byte(i);
    Bytes msg(static_cast<size_t>(i), std::byte(i));
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, aead->Seal(nonce, {AsBytes("aad")}, msg));
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, aead->Open(nonce, {AsBytes("aad")}, sealed));
    EXPECT_EQ(opened, msg);
  }
}

}  // namespace
}  // namespace coffre::crypto
