#include "crypto/envelope.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::crypto {
namespace {

class EnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = SecretBytes::Random(32);
    aead_ = std::move(AesGcm::Create(*key).value());
    header_.key_id = 0x01020304;
    header_.epoch = 0x1112131415161718;
    for (size_t i = 0; i < header_.nonce.size(); ++i) header_.nonce[i] = std::byte(0xa0 + i);
  }
  Bytes SealOk(ByteSpan aad, ByteSpan plaintext) {
    auto r = SealEnvelope(*aead_, header_, aad, plaintext);
    EXPECT_TRUE(r.has_value()) << r.status();
    return r.has_value() ? *r : Bytes{};
  }
  std::unique_ptr<AesGcm> aead_;
  EnvelopeHeader header_;
};

TEST_F(EnvelopeTest, HeaderLayoutIsAsDocumented) {
  Bytes env = SealOk(AsBytes("id"), AsBytes("hello"));
  ASSERT_EQ(env.size(), SealedEnvelopeSize(5));
  EXPECT_EQ(HexEncode(ByteSpan(env).first(kEnvelopeHeaderSize)),
            "01010000"                    // version 1, AES-256-GCM, flags 0
            "01020304"                    // key id
            "1112131415161718"            // epoch
            "a0a1a2a3a4a5a6a7a8a9aaab");  // nonce
}

TEST_F(EnvelopeTest, OpensWhatItSealedAndReadsTheHeaderBack) {
  Bytes env = SealOk(AsBytes("hub/t/0/42"), AsBytes("telemetry"));
  COFFRE_ASSERT_OK_AND_ASSIGN(EnvelopeHeader h, ReadEnvelopeHeader(env));
  EXPECT_EQ(h, header_);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, OpenEnvelope(*aead_, env, AsBytes("hub/t/0/42")));
  EXPECT_EQ(AsChars(opened), "telemetry");
}

TEST_F(EnvelopeTest, EmptyPlaintextRoundTrips) {
  Bytes env = SealOk(AsBytes("x"), {});
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, OpenEnvelope(*aead_, env, AsBytes("x")));
  EXPECT_TRUE(opened.empty());
}

TEST_F(EnvelopeTest, TamperingWithAnyByteFailsWithTheSameError) {
  Bytes env = SealOk(AsBytes("identity"), AsBytes("a record worth protecting"));
  for (size_t i = 0; i < env.size(); ++i) {
    for (uint8_t bit : {0x01, 0x80}) {
      Bytes bad = env;
      bad[i] ^= std::byte{bit};
      EXPECT_EQ(OpenEnvelope(*aead_, bad, AsBytes("identity")).status(), OpenFailed())
          << "byte " << i << " bit " << int(bit);
    }
  }
}

TEST_F(EnvelopeTest, RecordMovedToAnotherIdentityFailsWithTheSameError) {
  Bytes env = SealOk(AsBytes("hub-a/telemetry/0/41"), AsBytes("r"));
  EXPECT_EQ(OpenEnvelope(*aead_, env, AsBytes("hub-a/telemetry/0/42")).status(), OpenFailed());
  EXPECT_EQ(OpenEnvelope(*aead_, env, AsBytes("hub-b/telemetry/0/41")).status(), OpenFailed());
  EXPECT_EQ(OpenEnvelope(*aead_, env, {}).status(), OpenFailed());
}

TEST_F(EnvelopeTest, TruncatedEnvelopesFailWithTheSameError) {
  Bytes env = SealOk(AsBytes("id"), AsBytes("payload"));
  for (size_t n = 0; n < env.size(); ++n) {
    EXPECT_EQ(OpenEnvelope(*aead_, ByteSpan(env).first(n), AsBytes("id")).status(), OpenFailed());
  }
}

// The allow-list holds even for an authentic envelope: a correctly tagged record that claims an
// unknown version, algorithm or flag is refused before decryption.
TEST_F(EnvelopeTest, ReaderRefusesAuthenticEnvelopesOutsideTheAllowList) {
  EnvelopeHeader v2 = header_;
  v2.version = 2;
  EnvelopeHeader alg2 = header_;
  alg2.algorithm = EnvelopeAlgorithm(2);
  EnvelopeHeader digest = header_;
  digest.flags = kEnvelopeFlagSegmentDigest;
  EnvelopeHeader scoped_and_digest = header_;
  scoped_and_digest.flags = kEnvelopeFlagDeviceScope | kEnvelopeFlagSegmentDigest;
  for (const EnvelopeHeader& h : {v2, alg2, digest, scoped_and_digest}) {
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env, SealEnvelope(*aead_, h, AsBytes("id"), AsBytes("p")));
    EXPECT_EQ(ReadEnvelopeHeader(env).status(), OpenFailed());
    EXPECT_EQ(OpenEnvelope(*aead_, env, AsBytes("id")).status(), OpenFailed());
  }
}

// A device-scoped envelope carries its device key number after the nonce, authenticated with
// the rest of the header: changing it, or dropping the flag, fails to open.
TEST_F(EnvelopeTest, DeviceScopedEnvelopesCarryTheirDeviceKeyNumber) {
  EnvelopeHeader scoped = header_;
  scoped.flags = kEnvelopeFlagDeviceScope;
  scoped.device_key = 0x0102030405060708;
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env, SealEnvelope(*aead_, scoped, AsBytes("id"), AsBytes("pay")));
  ASSERT_EQ(env.size(), SealedEnvelopeSize(3) + kDeviceKeyFieldSize);
  EXPECT_EQ(HexEncode(ByteSpan(env).subspan(kEnvelopeHeaderSize, 8)), "0102030405060708");
  COFFRE_ASSERT_OK_AND_ASSIGN(EnvelopeHeader read, ReadEnvelopeHeader(env));
  EXPECT_EQ(read, scoped);
  EXPECT_EQ(OpenedEnvelopeSize(env), 3u);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes plain, OpenEnvelope(*aead_, env, AsBytes("id")));
  EXPECT_EQ(AsChars(plain), "pay");
  Bytes renumbered = env;
  renumbered[kEnvelopeHeaderSize + 7] ^= std::byte{1};
  EXPECT_EQ(OpenEnvelope(*aead_, renumbered, AsBytes("id")).status(), OpenFailed());
  Bytes unflagged = env;
  unflagged[3] = std::byte{0};  // flags, low byte (big-endian u16 at 2)
  EXPECT_EQ(OpenEnvelope(*aead_, unflagged, AsBytes("id")).status(), OpenFailed());
  for (size_t n = 0; n < env.size(); ++n) {
    EXPECT_EQ(OpenEnvelope(*aead_, ByteSpan(env).first(n), AsBytes("id")).status(), OpenFailed());
  }
}

TEST_F(EnvelopeTest, SealRejectsAWrongOutputSize) {
  Bytes out(10);
  EXPECT_THAT(SealEnvelope(*aead_, header_, {}, AsBytes("p"), out),
              testing::StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffre::crypto
