#include "net/certificates.h"

#include <arpa/inet.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "common/files.h"
#include "crypto/ossl.h"
#include "crypto/random.h"

namespace coffre::net {

using crypto::BioPtr;
using crypto::EvpPkey;
using crypto::OsslError;
using crypto::X509Ptr;

namespace {

constexpr int kRenewBeforeDays = 30;

Result<EvpPkey> NewP256Key() {
  EvpPkey key(EVP_EC_gen("P-256"));
  if (!key) return OsslError("generate P-256 key");
  return key;
}

Result<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0) return Internal("read memory BIO");
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OsslError("write private key PEM");
  }
  return BioToString(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OsslError("write certificate PEM");
  return BioToString(bio.get());
}

Result<X509Ptr> CertFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return OsslError("parse certificate PEM", StatusCode::kInvalidArgument);
  return cert;
}

Result<EvpPkey> KeyFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return OsslError("parse private key PEM", StatusCode::kInvalidArgument);
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  crypto::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return OsslError("add X.509 extension");
  return Status::Ok();
}

// A certificate with a random serial, validity from one hour ago, subject CN.
Result<X509Ptr> NewCertificate(std::string_view common_name, EVP_PKEY* key, int valid_days) {
  X509Ptr cert(X509_new());
  if (!cert) return OsslError("X509_new");
  std::byte serial[16];
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(serial));
  serial[0] &= std::byte{0x7f};  // positive
  crypto::BignumPtr bn(BN_bin2bn(AsUChars(ByteSpan(serial)), sizeof serial, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
      X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), long{valid_days} * 24 * 3600) ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OsslError("fill certificate");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("Coffre local stack"), -1,
                                 -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OsslError("set certificate subject");
  }
  return cert;
}

Result<std::vector<std::string>> AltNames(X509* cert, int type) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != type) continue;
    if (type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      int len = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      if ((len == 4 || len == 16) &&
          ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                      sizeof text) != nullptr) {
        out.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace

Result<PemCertificate> GenerateCertificateAuthority(std::string_view common_name,
                                                    int valid_days) {
  COFFRE_ASSIGN_OR_RETURN(EvpPkey key, NewP256Key());
  COFFRE_ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(common_name, key.get(), valid_days));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return OsslError("set CA issuer");
  }
  COFFRE_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints,
                                      "critical,CA:TRUE,pathlen:0"));
  COFFRE_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  COFFRE_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return OsslError("sign CA");
  PemCertificate out;
  COFFRE_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  COFFRE_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

Result<PemCertificate> IssueServerCertificate(const PemCertificate& ca,
                                              const ServerIdentity& identity, int valid_days) {
  COFFRE_ASSIGN_OR_RETURN(X509Ptr ca_cert, CertFromPem(ca.cert_pem));
  COFFRE_ASSIGN_OR_RETURN(EvpPkey ca_key, KeyFromPem(ca.key_pem));
  COFFRE_ASSIGN_OR_RETURN(EvpPkey key, NewP256Key());
  COFFRE_ASSIGN_OR_RETURN(X509Ptr cert,
                          NewCertificate(identity.common_name, key.get(), valid_days));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return OsslError("set issuer");
  }
  std::string san;
  auto add_name = [&san](std::string_view kind, const std::string& value) {
    if (!san.empty()) san.append(",");
    san.append(kind).append(value);
  };
  for (const auto& dns : identity.dns_names) add_name("DNS:", dns);
  for (const auto& ip : identity.ip_addresses) add_name("IP:", ip);
  if (san.empty()) return InvalidArgument("a server certificate needs a DNS name or an IP");
  COFFRE_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints,
                                      "critical,CA:FALSE"));
  COFFRE_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage,
                                      "critical,digitalSignature"));
  COFFRE_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth"));
  COFFRE_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  COFFRE_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return OsslError("sign server certificate");
  }
  PemCertificate out;
  COFFRE_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  COFFRE_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

Result<CertificateInfo> DescribeCertificate(std::string_view cert_pem) {
  COFFRE_ASSIGN_OR_RETURN(X509Ptr cert, CertFromPem(cert_pem));
  return DescribeCertificate(cert.get());
}

Result<CertificateInfo> DescribeCertificate(X509* cert) {
  CertificateInfo info;
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  info.subject = buf;
  COFFRE_ASSIGN_OR_RETURN(info.dns_names, AltNames(cert, GEN_DNS));
  COFFRE_ASSIGN_OR_RETURN(info.ip_addresses, AltNames(cert, GEN_IPADD));
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    return OsslError("read notAfter", StatusCode::kInvalidArgument);
  }
  info.not_after = std::chrono::system_clock::from_time_t(timegm(&tm));
  info.is_ca = X509_check_ca(cert) != 0;
  return info;
}

Result<bool> IsIssuedBy(std::string_view cert_pem, std::string_view ca_pem) {
  COFFRE_ASSIGN_OR_RETURN(X509Ptr cert, CertFromPem(cert_pem));
  COFFRE_ASSIGN_OR_RETURN(X509Ptr ca, CertFromPem(ca_pem));
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  return ca_key != nullptr && X509_verify(cert.get(), ca_key) == 1;
}

namespace {

bool Covers(const CertificateInfo& info, const ServerIdentity& identity) {
  auto has_all = [](const std::vector<std::string>& have, const std::vector<std::string>& want) {
    return std::all_of(want.begin(), want.end(), [&](const std::string& w) {
      return std::find(have.begin(), have.end(), w) != have.end();
    });
  };
  return has_all(info.dns_names, identity.dns_names) &&
         has_all(info.ip_addresses, identity.ip_addresses);
}

bool FreshEnough(const CertificateInfo& info) {
  return info.not_after - std::chrono::system_clock::now() >
         std::chrono::hours(24 * kRenewBeforeDays);
}

Status WriteText(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  return WriteFileDurably(path, AsBytes(text), mode);
}

}  // namespace

Result<StackCertificates> EnsureStackCertificates(const std::filesystem::path& tls_dir,
                                                  const ServerIdentity& identity) {
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(tls_dir));
  StackCertificates files{tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server-key.pem"};
  std::filesystem::path ca_key_file = tls_dir / "ca-key.pem";

  PemCertificate ca;
  Result<std::string> ca_cert = ReadTextFile(files.ca_file);
  Result<std::string> ca_key = ReadTextFile(ca_key_file);
  bool ca_ok = false;
  if (ca_cert.has_value() && ca_key.has_value()) {
    Result<CertificateInfo> info = DescribeCertificate(*ca_cert);
    ca_ok = info.has_value() && info->is_ca && FreshEnough(*info) && KeyFromPem(*ca_key).has_value();
  }
  if (ca_ok) {
    ca = {std::move(*ca_cert), std::move(*ca_key)};
  } else {
    COFFRE_ASSIGN_OR_RETURN(ca, GenerateCertificateAuthority("Coffre local CA", 3650));
    COFFRE_RETURN_IF_ERROR(WriteText(ca_key_file, ca.key_pem, 0600));
    COFFRE_RETURN_IF_ERROR(WriteText(files.ca_file, ca.cert_pem, 0644));
    files.created = true;
  }

  bool server_ok = false;
  if (!files.created) {
    Result<std::string> cert = ReadTextFile(files.cert_file);
    Result<std::string> key = ReadTextFile(files.key_file);
    if (cert.has_value() && key.has_value()) {
      Result<CertificateInfo> info = DescribeCertificate(*cert);
      Result<bool> issued = IsIssuedBy(*cert, ca.cert_pem);
      server_ok = info.has_value() && Covers(*info, identity) && FreshEnough(*info) &&
                  issued.has_value() && *issued && KeyFromPem(*key).has_value();
    }
  }
  if (!server_ok) {
    COFFRE_ASSIGN_OR_RETURN(PemCertificate server, IssueServerCertificate(ca, identity, 825));
    COFFRE_RETURN_IF_ERROR(WriteText(files.key_file, server.key_pem, 0600));
    COFFRE_RETURN_IF_ERROR(WriteText(files.cert_file, server.cert_pem, 0644));
    files.created = true;
  }
  return files;
}

}  // namespace coffre::net
