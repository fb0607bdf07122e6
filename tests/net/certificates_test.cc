#include "net/certificates.h"

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/files.h"
#include "crypto/ossl.h"
#include "test_util.h"

namespace coffre::net {
namespace {

crypto::X509Ptr ParseCert(const std::string& pem) {
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// What a TLS client does with the server certificate: chain to the CA, then match the name.
bool VerifiesFor(const std::string& cert_pem, const std::string& ca_pem, const std::string& host) {
  auto cert = ParseCert(cert_pem);
  auto ca = ParseCert(ca_pem);
  std::unique_ptr<X509_STORE, crypto::OsslFree<X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, crypto::OsslFree<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) != 1) return false;
  if (host.find_first_not_of("0123456789.:") == std::string::npos) {
    return X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1;
  }
  return X509_check_host(cert.get(), host.c_str(), host.size(), 0, nullptr) == 1;
}

TEST(CertificatesTest, ServerCertificateVerifiesForLocalhostNamesAgainstItsCa) {
  COFFRE_ASSERT_OK_AND_ASSIGN(PemCertificate ca, GenerateCertificateAuthority("test CA", 10));
  COFFRE_ASSERT_OK_AND_ASSIGN(PemCertificate server, IssueServerCertificate(ca, {}, 10));
  EXPECT_TRUE(VerifiesFor(server.cert_pem, ca.cert_pem, "localhost"));
  EXPECT_TRUE(VerifiesFor(server.cert_pem, ca.cert_pem, "127.0.0.1"));
  EXPECT_TRUE(VerifiesFor(server.cert_pem, ca.cert_pem, "::1"));
  EXPECT_FALSE(VerifiesFor(server.cert_pem, ca.cert_pem, "example.com"));

  COFFRE_ASSERT_OK_AND_ASSIGN(PemCertificate other_ca, GenerateCertificateAuthority("other", 10));
  EXPECT_FALSE(VerifiesFor(server.cert_pem, other_ca.cert_pem, "localhost"));
  EXPECT_TRUE(*IsIssuedBy(server.cert_pem, ca.cert_pem));
  EXPECT_FALSE(*IsIssuedBy(server.cert_pem, other_ca.cert_pem));
}

TEST(CertificatesTest, DescribeReadsNamesAndRoles) {
  COFFRE_ASSERT_OK_AND_ASSIGN(PemCertificate ca, GenerateCertificateAuthority("test CA", 10));
  ServerIdentity id;
  id.dns_names.push_back("hub.example");
  COFFRE_ASSERT_OK_AND_ASSIGN(PemCertificate server, IssueServerCertificate(ca, id, 10));
  COFFRE_ASSERT_OK_AND_ASSIGN(CertificateInfo info, DescribeCertificate(server.cert_pem));
  EXPECT_FALSE(info.is_ca);
  EXPECT_THAT(info.dns_names, ::testing::ElementsAre("localhost", "hub.example"));
  EXPECT_THAT(info.ip_addresses, ::testing::ElementsAre("127.0.0.1", "::1"));
  EXPECT_TRUE(DescribeCertificate(ca.cert_pem)->is_ca);
  EXPECT_FALSE(DescribeCertificate("not a pem").has_value());
}

TEST(CertificatesTest, StackCertificatesAreMadeOnceAndReused) {
  testing::TempDir dir;
  auto tls = dir.path() / "tls";
  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates first, EnsureStackCertificates(tls, {}));
  EXPECT_TRUE(first.created);
  std::string ca = *ReadTextFile(first.ca_file);
  std::string cert = *ReadTextFile(first.cert_file);
  EXPECT_TRUE(VerifiesFor(cert, ca, "localhost"));
  struct stat st {};
  ASSERT_EQ(::stat(first.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((tls / "ca-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates second, EnsureStackCertificates(tls, {}));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(*ReadTextFile(second.ca_file), ca);
  EXPECT_EQ(*ReadTextFile(second.cert_file), cert);
}

TEST(CertificatesTest, ServerCertificateIsReissuedForANewHostNameUnderTheSameCa) {
  testing::TempDir dir;
  auto tls = dir.path() / "tls";
  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates first, EnsureStackCertificates(tls, {}));
  std::string ca = *ReadTextFile(first.ca_file);
  ServerIdentity id;
  id.dns_names.push_back("hub.internal");
  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates second, EnsureStackCertificates(tls, id));
  EXPECT_TRUE(second.created);
  EXPECT_EQ(*ReadTextFile(second.ca_file), ca);
  EXPECT_TRUE(VerifiesFor(*ReadTextFile(second.cert_file), ca, "hub.internal"));
}

TEST(CertificatesTest, CorruptServerFilesAreReplaced) {
  testing::TempDir dir;
  auto tls = dir.path() / "tls";
  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates first, EnsureStackCertificates(tls, {}));
  COFFRE_ASSERT_OK(WriteFileDurably(first.cert_file, AsBytes("garbage"), 0644));
  COFFRE_ASSERT_OK_AND_ASSIGN(StackCertificates second, EnsureStackCertificates(tls, {}));
  EXPECT_TRUE(second.created);
  EXPECT_TRUE(VerifiesFor(*ReadTextFile(second.cert_file), *ReadTextFile(second.ca_file),
                          "localhost"));
}

}  // namespace
}  // namespace coffre::net
