#pragma once
// ServerCertificates: a TLS server's certificate chain and private key, read from PEM files
// (a public CA's, e.g. from an ACME client, or the local stack's) and handed to every new
// handshake of the contexts it is installed in. Reload() reads the files again: when the new
// pair loads and its key matches, the next handshake uses it, while open connections keep the
// one they started with; a bad new pair is refused and the old one kept. Watch() reloads when
// either file changes (size, time or inode: ACME clients swap symlinks) and warns, once a day,
// in the two weeks before the certificate expires. Thread-safe; install in contexts that it
// outlives (they hold a shared_ptr).

#include <openssl/ssl.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace coffre::net {

class ServerCertificates {
 public:
  // Fails if the files cannot be read, are not PEM, or the key is not the certificate's.
  static Result<std::shared_ptr<ServerCertificates>> Load(std::filesystem::path cert_file,
                                                          std::filesystem::path key_file);
  ~ServerCertificates();
  ServerCertificates(const ServerCertificates&) = delete;
  ServerCertificates& operator=(const ServerCertificates&) = delete;

  // The current pair as the context's own, and a callback that gives each new handshake the
  // current pair.
  Status Install(SSL_CTX* ctx);

  // Reads the files again; on error, the pair in use stays (and the error says why).
  Status Reload();

  // Reloads (logging what happened) every `period` when a file changed; warns before expiry.
  void Watch(std::chrono::milliseconds period);

  std::chrono::system_clock::time_point not_after() const;
  std::string subject() const;
  // How many times a new pair was taken since Load (1 after Load).
  uint64_t generation() const;
  const std::filesystem::path& cert_file() const { return cert_file_; }

 private:
  struct Pair;
  ServerCertificates(std::filesystem::path cert_file, std::filesystem::path key_file);
  static Result<std::shared_ptr<const Pair>> ReadPair(const std::filesystem::path& cert_file,
                                                      const std::filesystem::path& key_file);
  std::shared_ptr<const Pair> current() const;
  static int OnHandshake(SSL* ssl, void* self);
  void WatchLoop(std::chrono::milliseconds period);
  void WarnIfExpiring();

  const std::filesystem::path cert_file_, key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<const Pair> pair_;  // guarded by mu_
  uint64_t generation_ = 0;           // guarded by mu_
  std::string stamp_;                 // the files' stamps at the last load; guarded by mu_

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;  // guarded by watch_mu_
  std::chrono::system_clock::time_point warned_at_{};
  std::thread watcher_;
};

}  // namespace coffre::net
