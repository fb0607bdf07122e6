#include "net/server_certificates.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"
#include "crypto/ossl.h"
#include "crypto/secret_bytes.h"
#include "net/certificates.h"

namespace coffre::net {

using crypto::BioPtr;
using crypto::EvpPkey;
using crypto::X509Ptr;

namespace {

constexpr auto kWarnBefore = std::chrono::hours(24 * 14);
constexpr auto kWarnEvery = std::chrono::hours(24);

// What changes when a file is rewritten or a symlink is pointed elsewhere; empty if unreadable.
std::string Stamp(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

int64_t EpochMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct ServerCertificates::Pair {
  X509Ptr cert;
  EvpPkey key;
  STACK_OF(X509)* chain = nullptr;  // the intermediates after the leaf
  CertificateInfo info;
  ~Pair() { sk_X509_pop_free(chain, X509_free); }
};

ServerCertificates::ServerCertificates(std::filesystem::path cert_file,
                                       std::filesystem::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

ServerCertificates::~ServerCertificates() {
  {
    std::lock_guard lock(watch_mu_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Result<std::shared_ptr<ServerCertificates>> ServerCertificates::Load(
    std::filesystem::path cert_file, std::filesystem::path key_file) {
  std::shared_ptr<ServerCertificates> certificates(
      new ServerCertificates(std::move(cert_file), std::move(key_file)));
  COFFRE_RETURN_IF_ERROR(certificates->Reload());
  return certificates;
}

Result<std::shared_ptr<const ServerCertificates::Pair>> ServerCertificates::ReadPair(
    const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
  auto pair = std::make_shared<Pair>();
  const std::string cert_name = "TLS certificate " + cert_file.string();
  COFFRE_ASSIGN_OR_RETURN(std::string cert_pem, ReadTextFile(cert_file));
  BioPtr bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  pair->cert.reset(bio ? PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!pair->cert) {
    ERR_clear_error();
    return InvalidArgument(cert_name + ": no PEM certificate in it");
  }
  pair->chain = sk_X509_new_null();
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(pair->chain, next);
  }
  ERR_clear_error();  // the end of the file reads as an error

  COFFRE_ASSIGN_OR_RETURN(std::string key_pem, ReadTextFile(key_file));
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  pair->key.reset(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                          : nullptr);
  crypto::Cleanse(key_pem);
  if (!pair->key) {
    ERR_clear_error();
    return InvalidArgument("TLS key " + key_file.string() + ": no unencrypted PEM private key in it");
  }
  if (X509_check_private_key(pair->cert.get(), pair->key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("TLS key " + key_file.string() + " is not the key of " + cert_name);
  }
  COFFRE_ASSIGN_OR_RETURN(pair->info, DescribeCertificate(cert_pem));
  return std::shared_ptr<const Pair>(std::move(pair));
}

Status ServerCertificates::Reload() {
  // Stamped before reading: a file that changes while it is read is read again next time.
  std::string stamp = Stamp(cert_file_) + "|" + Stamp(key_file_);
  auto pair = ReadPair(cert_file_, key_file_);
  std::lock_guard lock(mu_);
  if (!pair.has_value()) {
    // Not retried until a file changes again (Watch), so a half-written pair is not reported
    // every period.
    stamp_ = stamp;
    return pair.error();
  }
  stamp_ = stamp;
  pair_ = std::move(*pair);
  ++generation_;
  return Status::Ok();
}

std::shared_ptr<const ServerCertificates::Pair> ServerCertificates::current() const {
  std::lock_guard lock(mu_);
  return pair_;
}

int ServerCertificates::OnHandshake(SSL* ssl, void* self) {
  auto pair = static_cast<ServerCertificates*>(self)->current();
  return SSL_use_cert_and_key(ssl, pair->cert.get(), pair->key.get(), pair->chain, 1) == 1 ? 1
                                                                                           : 0;
}

Status ServerCertificates::Install(SSL_CTX* ctx) {
  auto pair = current();
  if (SSL_CTX_use_cert_and_key(ctx, pair->cert.get(), pair->key.get(), pair->chain, 1) != 1) {
    return crypto::OsslError("install the TLS certificate");
  }
  SSL_CTX_set_cert_cb(ctx, &ServerCertificates::OnHandshake, this);
  return Status::Ok();
}

std::chrono::system_clock::time_point ServerCertificates::not_after() const {
  return current()->info.not_after;
}

std::string ServerCertificates::subject() const { return current()->info.subject; }

uint64_t ServerCertificates::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void ServerCertificates::Watch(std::chrono::milliseconds period) {
  WarnIfExpiring();
  watcher_ = std::thread([this, period] { WatchLoop(period); });
}

void ServerCertificates::WatchLoop(std::chrono::milliseconds period) {
  std::unique_lock lock(watch_mu_);
  while (!watch_cv_.wait_for(lock, period, [this] { return stopping_; })) {
    std::string now = Stamp(cert_file_) + "|" + Stamp(key_file_);
    bool changed;
    {
      std::lock_guard pair_lock(mu_);
      changed = now != stamp_;
    }
    if (changed) {
      if (Status s = Reload(); s.ok()) {
        LogLine("tls", "certificate reloaded from " + cert_file_.string() + " (" + subject() +
                           ", expires " + FormatIsoTime(EpochMs(not_after())) + ")");
        warned_at_ = {};
      } else {
        LogLine(LogLevel::kError, "tls", "certificate not reloaded, the one in use stays: " +
                                             s.ToString());
      }
    }
    WarnIfExpiring();
  }
}

void ServerCertificates::WarnIfExpiring() {
  auto now = std::chrono::system_clock::now();
  auto expires = not_after();
  if (expires - now > kWarnBefore || now - warned_at_ < kWarnEvery) return;
  warned_at_ = now;
  LogLine(LogLevel::kWarning, "tls",
          std::string("warning: the certificate in ") + cert_file_.string() + " (" + subject() +
              (expires <= now ? ") has expired at " : ") expires at ") +
              FormatIsoTime(EpochMs(expires)) +
              ": renew it; a new one is picked up on change or SIGHUP");
}

}  // namespace coffre::net
