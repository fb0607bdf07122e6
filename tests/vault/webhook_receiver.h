#pragma once
// WebhookReceiver: a real HTTPS server on 127.0.0.1 (any free port, a certificate for localhost
// from a fresh CA) that records every request and answers with the statuses a test queues
// (200 once they run out), optionally after a delay. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common/files.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "test_util.h"

namespace coffre::testing {

class WebhookReceiver {
 public:
  struct Received {
    net::HttpRequest request;
    std::chrono::steady_clock::time_point at;
  };

  WebhookReceiver() {
    net::StackCertificates certs =
        net::EnsureStackCertificates(dir_.path() / "tls", net::ServerIdentity{}).value();
    ca_pem_ = ReadTextFile(certs.ca_file).value();
    net::HttpsServerOptions options;
    options.cert_file = certs.cert_file;
    options.key_file = certs.key_file;
    options.threads = 2;
    server_ = std::move(net::HttpsServer::Start(options, [this](const net::HttpRequest& r) {
                          return Answer(r);
                        }).value());
  }
  ~WebhookReceiver() { server_->Stop(); }

  std::string url(std::string_view path = "/hook") const {
    return "https://localhost:" + std::to_string(server_->port()) + std::string(path);
  }
  const std::string& ca_pem() const { return ca_pem_; }

  void QueueStatuses(std::vector<unsigned> statuses) {
    std::lock_guard<std::mutex> guard(mu_);
    statuses_.insert(statuses_.end(), statuses.begin(), statuses.end());
  }
  void set_delay(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> guard(mu_);
    delay_ = d;
  }

  // Waits (at most `timeout`) until `n` requests have arrived; returns all received so far.
  std::vector<Received> WaitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
    return received_;
  }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> guard(mu_);
    return received_;
  }

 private:
  net::HttpResponse Answer(const net::HttpRequest& r) {
    std::chrono::milliseconds delay;
    net::HttpResponse response;
    {
      std::lock_guard<std::mutex> guard(mu_);
      received_.push_back({r, std::chrono::steady_clock::now()});
      if (!statuses_.empty()) {
        response.status = statuses_.front();
        statuses_.pop_front();
      }
      delay = delay_;
    }
    arrived_.notify_all();
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return response;
  }

  TempDir dir_;
  std::string ca_pem_;
  std::unique_ptr<net::HttpsServer> server_;
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<Received> received_;  // guarded by mu_
  std::deque<unsigned> statuses_;   // guarded by mu_
  std::chrono::milliseconds delay_{0};
};

}  // namespace coffre::testing
