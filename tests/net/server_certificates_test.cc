// A server's certificate pair replaced while it runs: the next handshake shows the new one, a
// bad new pair is refused and the old one kept, and a watched pair is picked up on change.
#include "net/server_certificates.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/files.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "net/tls_test_client.h"
#include "test_util.h"

namespace coffre::net {
namespace {

class ServerCertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = GenerateCertificateAuthority("test CA", 10).value();
    COFFRE_ASSERT_OK(WriteFileDurably(ca_file(), AsBytes(ca_.cert_pem)));
    Issue("first");
  }

  std::filesystem::path ca_file() const { return dir_.path() / "ca.pem"; }
  std::filesystem::path cert_file() const { return dir_.path() / "server.pem"; }
  std::filesystem::path key_file() const { return dir_.path() / "server-key.pem"; }

  // A new certificate for localhost whose subject is CN=`name`, written over the old files.
  void Issue(const std::string& name) {
    ServerIdentity id;
    id.common_name = name;
    PemCertificate pair = IssueServerCertificate(ca_, id, 10).value();
    COFFRE_ASSERT_OK(WriteFileDurably(cert_file(), AsBytes(pair.cert_pem)));
    COFFRE_ASSERT_OK(WriteFileDurably(key_file(), AsBytes(pair.key_pem)));
  }

  void Serve(std::shared_ptr<ServerCertificates> certificates) {
    HttpsServerOptions options;
    options.certificates = std::move(certificates);
    options.threads = 1;
    server_ = HttpsServer::Start(options, [](const HttpRequest&) {
                return HttpResponse{};
              }).value();
  }

  // The subject a new connection is shown.
  std::string Shown() { return testing::TlsClient(server_->port(), ca_file()).PeerSubject(); }

  testing::TempDir dir_;
  PemCertificate ca_;
  std::unique_ptr<HttpsServer> server_;
};

TEST_F(ServerCertificatesTest, TheNextHandshakeShowsTheReloadedPair) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto certificates,
                              ServerCertificates::Load(cert_file(), key_file()));
  Serve(certificates);
  testing::TlsClient before(server_->port(), ca_file());
  EXPECT_EQ(before.PeerSubject(), "/O=Coffre local stack/CN=first");
  EXPECT_EQ(certificates->subject(), "/O=Coffre local stack/CN=first");

  Issue("second");
  EXPECT_EQ(Shown(), "/O=Coffre local stack/CN=first");  // not reloaded yet
  COFFRE_ASSERT_OK(certificates->Reload());
  EXPECT_EQ(certificates->generation(), 2u);
  EXPECT_EQ(Shown(), "/O=Coffre local stack/CN=second");
  EXPECT_EQ(before.PeerSubject(), "/O=Coffre local stack/CN=first");  // an open connection keeps its own
}

TEST_F(ServerCertificatesTest, ABadNewPairIsRefusedAndTheOldOneStays) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto certificates,
                              ServerCertificates::Load(cert_file(), key_file()));
  Serve(certificates);
  std::string first_key = *ReadTextFile(key_file());
  Issue("second");
  COFFRE_ASSERT_OK(WriteFileDurably(key_file(), AsBytes(first_key)));  // the old key: no match
  Status s = certificates->Reload();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("is not the key of"), std::string::npos) << s;
  EXPECT_EQ(s.message().find("PRIVATE KEY"), std::string::npos) << "no key material in errors";
  COFFRE_ASSERT_OK(WriteFileDurably(cert_file(), AsBytes("not a certificate")));
  EXPECT_FALSE(certificates->Reload().ok());
  EXPECT_EQ(certificates->generation(), 1u);
  EXPECT_EQ(Shown(), "/O=Coffre local stack/CN=first");

  EXPECT_FALSE(ServerCertificates::Load(cert_file(), key_file()).has_value());
  EXPECT_FALSE(ServerCertificates::Load(dir_.path() / "none.pem", key_file()).has_value());
}

TEST_F(ServerCertificatesTest, AWatchedPairIsReloadedWhenItsFilesChange) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto certificates,
                              ServerCertificates::Load(cert_file(), key_file()));
  certificates->Watch(std::chrono::milliseconds(20));
  Serve(certificates);
  Issue("renewed");
  // Bounded: the watcher looks every 20 ms; 10 s is far beyond any scheduling delay.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (certificates->generation() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(certificates->generation(), 2u);
  EXPECT_EQ(Shown(), "/O=Coffre local stack/CN=renewed");
}

}  // namespace
}  // namespace coffre::net
