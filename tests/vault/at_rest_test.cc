// What an attacker with the vault's files can read or change: nothing useful.
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include "crypto/ossl.h"
#include "file_scan.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using testing::FilesContaining;
using testing::StatusIs;

Bytes Param(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &bn), 1);
  crypto::BignumPtr owned(bn);
  Bytes out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, AsUChars(MutableByteSpan(out)));
  return out;
}

struct KnownRsa {
  RsaPrivateParts parts;
  KnownRsa() {
    crypto::EvpPkey pkey(EVP_RSA_gen(2048));
    parts.n = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_N);
    parts.e = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_E);
    parts.d = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_D);
    parts.p = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_FACTOR1);
    parts.q = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_FACTOR2);
    parts.dp = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1);
    parts.dq = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2);
    parts.qi = Param(pkey.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
  }
};

ImportKeyRequest OctImport(const Bytes& k) {
  ImportKeyRequest r;
  r.kty = "oct-HSM";
  r.material = std::move(ImportOct(k).value());
  return r;
}

TEST(AtRestTest, RawFilesHoldNoKeyMaterialInAnyEncoding) {
  VaultFixture f;
  Bytes oct(32);
  for (size_t i = 0; i < oct.size(); ++i) oct[i] = std::byte(0x90 + i);
  KnownRsa rsa;
  COFFRE_ASSERT_OK(f.vault().Import("aes", OctImport(oct)).status());
  ImportKeyRequest r;
  r.kty = "RSA";
  r.material = std::move(ImportRsa(rsa.parts).value());
  COFFRE_ASSERT_OK(f.vault().Import("rsa", std::move(r)).status());
  COFFRE_ASSERT_OK(f.vault().Create("generated", {"oct-HSM", {}, {}, {}, {}, {}}).status());
  // In the write-ahead log now; flush and compact so they are in table files too.
  COFFRE_ASSERT_OK(f.kv().DestroyDeletedData());
  COFFRE_ASSERT_OK(f.vault().Create("late", {"RSA", 2048, {}, {}, {}, {}}).status());

  EXPECT_THAT(FilesContaining(f.dir(), oct), ::testing::IsEmpty());
  for (const Bytes* secret : {&rsa.parts.d, &rsa.parts.p, &rsa.parts.q}) {
    EXPECT_THAT(FilesContaining(f.dir(), *secret), ::testing::IsEmpty());
  }
  // The public modulus is sealed too (attributes and public parts are records like any other).
  EXPECT_THAT(FilesContaining(f.dir(), rsa.parts.n), ::testing::IsEmpty());
  // The probe works: key names in storage keys are visible, as documented.
  EXPECT_THAT(FilesContaining(f.dir(), AsBytes("ver/aes/")), ::testing::Not(::testing::IsEmpty()));
}

TEST(AtRestTest, TamperedOrSwappedRecordsAreRefusedNotTrusted) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion a, f.vault().Create("a", {"oct-HSM", {}, {}, {}, {}, {}}));
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion b, f.vault().Create("b", {"oct-HSM", {}, {}, {}, {}, {}}));
  UpdateKeyRequest disable;
  disable.attributes.enabled = false;
  COFFRE_ASSERT_OK(f.vault().Update("b", "", disable).status());

  // Someone with the disk copies a's (enabled) attributes over b's (disabled) ones.
  std::string a_key = "ver/a/" + a.version, b_key = "ver/b/" + b.version;
  Bytes a_sealed = *f.kv().Get(a_key);
  COFFRE_ASSERT_OK(f.kv().Put(b_key, a_sealed, true));
  EXPECT_THAT(f.vault().Get("b", "").status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(f.vault().Operate("b", "", "wrapKey", "A256KW", Bytes(32)).status(),
              StatusIs(StatusCode::kDataLoss));

  // A flipped bit anywhere in a record.
  Bytes flipped = a_sealed;
  flipped[flipped.size() / 2] ^= std::byte{0x04};
  COFFRE_ASSERT_OK(f.kv().Put(a_key, flipped, true));
  EXPECT_THAT(f.vault().Get("a", "").status(), StatusIs(StatusCode::kDataLoss));
}

TEST(AtRestTest, EditedPrincipalRecordGrantsNothing) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto hub, f.access().SetPrincipal("hub", {"get"}, false, true));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto owner,
                              f.access().SetPrincipal("owner", {"get", "purge"}, true, true));
  // Copy the owner's record over the hub's: the seal names the record, so it does not open.
  COFFRE_ASSERT_OK(f.kv().Put("principal/hub", *f.kv().Get("principal/owner"), true));
  Result<Principal> who = f.access().Authenticate(*hub.token);
  EXPECT_FALSE(who.has_value());
  EXPECT_THAT(FilesContaining(f.dir(), AsBytes(*hub.token)), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(f.dir(), AsBytes(*owner.token)), ::testing::IsEmpty());
}

TEST(AtRestTest, PurgeLeavesNoCopyOfTheSealedKeyInAnyFile) {
  VaultFixture f(VaultSettings{false, 7});
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f.vault().Create("doomed", {"RSA", 2048, {}, {}, {}, {}}));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed_material, f.kv().Get("mat/doomed/" + v.version));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed_attributes, f.kv().Get("ver/doomed/" + v.version));
  Bytes material_tail(sealed_material.end() - 64, sealed_material.end());
  Bytes attributes_tail(sealed_attributes.end() - 32, sealed_attributes.end());
  COFFRE_ASSERT_OK(f.kv().DestroyDeletedData());  // into a table file as well
  COFFRE_ASSERT_OK(f.vault().Create("keeper", {"RSA", 2048, {}, {}, {}, {}}).status());
  ASSERT_THAT(FilesContaining(f.dir(), material_tail), ::testing::Not(::testing::IsEmpty()))
      << "the probe must see the sealed key before the purge";

  COFFRE_ASSERT_OK(f.vault().Delete("doomed").status());
  COFFRE_ASSERT_OK(f.vault().Purge("doomed"));
  EXPECT_THAT(FilesContaining(f.dir(), material_tail), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(f.dir(), attributes_tail), ::testing::IsEmpty());
  COFFRE_EXPECT_OK(f.vault().Get("keeper", "").status());
}

}  // namespace
}  // namespace coffre::vault
