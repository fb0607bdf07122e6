#pragma once
// Certificate generation for the local stack: a private CA and server certificates it issues
// (ECDSA P-256, SHA-256), so TLS works on localhost without any outside CA. Stateless,
// thread-safe.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"

struct x509_st;

namespace coffre::net {

struct PemCertificate {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8 private key; files holding it are mode 0600
};

struct ServerIdentity {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
};

Result<PemCertificate> GenerateCertificateAuthority(std::string_view common_name, int valid_days);

Result<PemCertificate> IssueServerCertificate(const PemCertificate& ca,
                                              const ServerIdentity& identity, int valid_days);

// What a certificate says, for checks and for `coffre` to print.
struct CertificateInfo {
  std::string subject;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::system_clock::time_point not_after;
  bool is_ca = false;
};
Result<CertificateInfo> DescribeCertificate(std::string_view cert_pem);
Result<CertificateInfo> DescribeCertificate(x509_st* cert);  // OpenSSL's X509

// True if `cert_pem` was signed by the CA certificate `ca_pem`.
Result<bool> IsIssuedBy(std::string_view cert_pem, std::string_view ca_pem);

// The local stack's TLS files in `tls_dir`: ca.pem, ca-key.pem, server.pem, server-key.pem.
// Made on the first call; reused on the next ones while they cover `identity` and stay valid
// for at least 30 more days, otherwise the server certificate is issued anew (and the CA too
// if it is the one running out).
struct StackCertificates {
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  bool created = false;  // false if reused
};
Result<StackCertificates> EnsureStackCertificates(const std::filesystem::path& tls_dir,
                                                  const ServerIdentity& identity);

}  // namespace coffre::net
