// Fuzzes the AMQP front end's connection driver end to end below TLS, in process: a whole hub
// (hubservice::HubService, service-managed keys, a temporary directory), and one AMQP connection
// (amqp::AmqpServer::Accept) over an in-memory transport that hands over the input as what the
// client sends, in reads of varying size, then end-of-stream. Everything after the transport is
// the real thing: Proton's frame decoding and SASL (the hub's plugin), the connection's limits,
// the router and every node ($cbs, $management, partition receivers, refusals, the redirect).
// Byte 0: bit 0 grants the connection a claim for the whole hub (so receivers and management
// reads get past authorization), bits 1-3 pick the read size. A crash, a hang (the connection
// must end once the input does) or an uncaught exception is what this looks for.
// Seeds (fuzz/corpus/amqp_connection_fuzz) are the bytes rhea sends for put-token, management
// reads and partition receivers with selector filters, with and without SASL.
// Run with the suppressions of OpenSSL's per-thread DRBGs, as hub_routes_fuzz:
//   ASAN_OPTIONS=fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=tests/lsan.supp
//       build/fuzz/fuzz/amqp_connection_fuzz -max_total_time=300 NEW_INPUTS_DIR
//       fuzz/corpus/amqp_connection_fuzz
// (about 2 inputs a second here: each waits for its connection to end).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio.hpp>

#include "amqp/server.h"
#include "common/check.h"
#include "crypto/secure_heap.h"
#include "fuzz_hub.h"
#include "hub/access_policies.h"
#include "hubservice/hub_service.h"
#include "net/transport.h"

using namespace coffre;
namespace asio = boost::asio;

namespace {

template <typename T>
T Must(Result<T> r) {
  COFFRE_CHECK(r.has_value());
  return std::move(*r);
}

// The client's bytes, `chunk` at a time, then end-of-stream; what the hub writes is dropped.
class InputTransport final : public net::Transport {
 public:
  InputTransport(asio::io_context& ioc, std::string input, size_t chunk, bool* alive)
      : ioc_(ioc), input_(std::move(input)), chunk_(chunk), alive_(alive) {
    *alive_ = true;
  }
  ~InputTransport() override { *alive_ = false; }
  asio::any_io_executor executor() override { return ioc_.get_executor(); }
  void Open(Done done) override {
    asio::post(ioc_, [done = std::move(done)] { done({}); });
  }
  void ReadSome(asio::mutable_buffer into, IoDone done) override {
    size_t n = std::min({chunk_, into.size(), input_.size() - pos_});
    if (closed_ || n == 0) {
      asio::post(ioc_, [done = std::move(done)] { done(asio::error::eof, 0); });
      return;
    }
    std::memcpy(into.data(), input_.data() + pos_, n);
    pos_ += n;
    asio::post(ioc_, [done = std::move(done), n] { done({}, n); });
  }
  void Write(asio::const_buffer data, IoDone done) override {
    size_t n = data.size();
    asio::post(ioc_, [done = std::move(done), n, closed = closed_] {
      done(closed ? asio::error::broken_pipe : boost::system::error_code(), n);
    });
  }
  void Close() override { closed_ = true; }
  SSL* tls() override { return nullptr; }
  std::string remote_address() override { return "fuzz"; }

 private:
  asio::io_context& ioc_;
  std::string input_;
  size_t chunk_, pos_ = 0;
  bool closed_ = false;
  bool* alive_;
};

struct Hub {
  Hub() {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    hubservice::HubOptions o = fuzz::FuzzHubOptions("coffre-fuzz-amqp", dir);
    service = Must(hubservice::HubService::Start(std::move(o)));
  }
  std::filesystem::path dir;
  std::unique_ptr<hubservice::HubService> service;
  asio::io_context ioc;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Hub* hub = fuzz::HubForTheRun<Hub>();
  if (size == 0) return 0;
  static constexpr size_t kChunks[] = {1, 7, 64, 512, 4096, 16384, 65536, 1 << 20};
  size_t chunk = kChunks[(data[0] >> 1) & 7];
  std::vector<amqp::Claim> claims;
  if (data[0] & 1) claims.push_back({{}, false, hub::kServiceConnect, INT64_MAX, {}, {}, "service"});
  bool alive = false;
  hub->service->amqp().Accept(
      std::make_unique<InputTransport>(hub->ioc,
                                       std::string(reinterpret_cast<const char*>(data) + 1, size - 1),
                                       chunk, &alive),
      "fuzz", std::move(claims));
  // The connection must end once its input has: it reads end-of-stream.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  hub->ioc.restart();
  while (alive) {
    COFFRE_CHECK(std::chrono::steady_clock::now() < deadline);
    hub->ioc.run_one_for(std::chrono::milliseconds(50));
    if (hub->ioc.stopped()) hub->ioc.restart();
  }
  hub->ioc.poll();
  return 0;
}
