// mqtt_hostile: opens --connections hostile connections to an MQTT port on loopback and holds
// them --hold seconds, to measure what they cost the broker (its RSS, read by the caller) and
// whether it cuts them. Modes: silent (TCP, nothing sent), handshake (TLS, then nothing),
// partial (TLS, then the first --bytes of a CONNECT announcing --announce bytes), trickle (TLS,
// then one byte of a CONNECT per second). Connections come from --sources loopback addresses
// (127.0.0.1, .2, ...), --connecting at a time. Prints "holding" once all are attempted, then one
// JSON line: how many were still open at the end of the hold and how many the server closed.
// Loopback only, bounded in count and time.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <CLI/CLI.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Options {
  uint16_t port = 8883;
  int connections = 2000;
  int sources = 1;
  int connecting = 64;
  std::string mode = "partial";
  size_t announce = 16000;  // the CONNECT's announced remaining length
  size_t bytes = 15000;     // how much of it is sent
  double hold = 10;
};

struct Stats {
  int attempted = 0, established = 0, closed_by_server = 0, failed = 0;
};

class Hostile : public std::enable_shared_from_this<Hostile> {
 public:
  Hostile(asio::io_context& ioc, ssl::context& ctx, const Options& o, Stats& st, int index)
      : o_(o), st_(st), stream_(ioc, ctx), trickle_(ioc), index_(index) {}

  template <class Done>
  void Start(Done done) {
    auto& socket = stream_.lowest_layer();
    boost::system::error_code ec;
    socket.open(tcp::v4(), ec);
    // 127.0.0.1 + (index % sources): each address is its own source to the broker.
    auto source = asio::ip::make_address_v4(0x7f000001u + static_cast<uint32_t>(index_ % o_.sources));
    socket.bind({source, 0}, ec);
    ++st_.attempted;
    socket.async_connect({asio::ip::make_address("127.0.0.1"), o_.port},
                         [self = shared_from_this(), done](boost::system::error_code e) {
                           if (e) {
                             ++self->st_.failed;
                             return done();
                           }
                           if (self->o_.mode == "silent") {
                             ++self->st_.established;
                             self->Watch(self->stream_.next_layer());
                             return done();
                           }
                           self->stream_.async_handshake(
                               ssl::stream_base::client, [self, done](boost::system::error_code h) {
                                 if (h) {
                                   ++self->st_.failed;
                                   return done();
                                 }
                                 ++self->st_.established;
                                 self->AfterHandshake();
                                 done();
                               });
                         });
  }

  void Close() {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    trickle_.cancel();
  }

 private:
  void AfterHandshake() {
    if (o_.mode == "partial") {
      size_t remaining = o_.announce;
      payload_.push_back(0x10);
      do {
        uint8_t b = remaining % 128;
        remaining /= 128;
        if (remaining > 0) b |= 0x80;
        payload_.push_back(static_cast<char>(b));
      } while (remaining > 0);
      payload_.resize(payload_.size() + o_.bytes, 'x');
      asio::async_write(stream_, asio::buffer(payload_),
                        [self = shared_from_this()](boost::system::error_code, size_t) {});
    } else if (o_.mode == "trickle") {
      payload_ = std::string("\x10\x7f\x00\x04MQTT\x04\x02\x00\xb4", 12) + std::string(117, 'x');
      Trickle(0);
    }
    Watch(stream_);
  }

  void Trickle(size_t at) {
    if (at >= payload_.size()) return;
    asio::async_write(stream_, asio::buffer(payload_.data() + at, 1),
                      [self = shared_from_this(), at](boost::system::error_code ec, size_t) {
                        if (ec) return;
                        self->trickle_.expires_after(std::chrono::seconds(1));
                        self->trickle_.async_wait([self, at](boost::system::error_code e) {
                          if (!e) self->Trickle(at + 1);
                        });
                      });
  }

  // Counts the server closing the connection (a read ends with an error).
  template <class Stream>
  void Watch(Stream& s) {
    s.async_read_some(asio::buffer(sink_), [self = shared_from_this(), &s](boost::system::error_code ec, size_t) {
      if (ec) {
        if (ec != asio::error::operation_aborted) ++self->st_.closed_by_server;
        return;
      }
      self->Watch(s);
    });
  }

  const Options& o_;
  Stats& st_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer trickle_;
  int index_;
  std::string payload_;
  std::array<char, 512> sink_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mqtt_hostile: hold hostile pre-CONNECT connections against a loopback MQTT port"};
  app.add_option("--port", o.port)->required();
  app.add_option("--connections", o.connections)->check(CLI::Range(1, 20000));
  app.add_option("--sources", o.sources, "loopback source addresses 127.0.0.1 upward")
      ->check(CLI::Range(1, 250));
  app.add_option("--connecting", o.connecting, "connects in flight")->check(CLI::Range(1, 1000));
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"silent", "handshake", "partial", "trickle"}));
  app.add_option("--announce", o.announce, "partial: the CONNECT's announced remaining length")
      ->check(CLI::Range(size_t{1}, size_t{268'435'455}));
  app.add_option("--bytes", o.bytes, "partial: bytes of it sent")->check(CLI::Range(size_t{0}, size_t{1 << 20}));
  app.add_option("--hold", o.hold, "seconds to hold them")->check(CLI::Range(0.0, 600.0));
  CLI11_PARSE(app, argc, argv);

  asio::io_context ioc(1);
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  Stats st;
  std::vector<std::shared_ptr<Hostile>> all;
  int next = 0, in_flight = 0;
  bool holding = false;
  asio::steady_timer hold(ioc);
  std::function<void()> more = [&] {
    while (next < o.connections && in_flight < o.connecting) {
      ++in_flight;
      auto h = std::make_shared<Hostile>(ioc, ctx, o, st, next++);
      all.push_back(h);
      h->Start([&] {
        --in_flight;
        asio::post(ioc, more);
      });
    }
    if (next == o.connections && in_flight == 0 && !holding) {
      holding = true;
      std::printf("holding\n");
      std::fflush(stdout);
      hold.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(o.hold)));
      hold.async_wait([&](boost::system::error_code) {
        int open = st.established - st.closed_by_server;
        std::printf("{\"mode\":\"%s\",\"attempted\":%d,\"established\":%d,\"failed\":%d,"
                    "\"closed_by_server\":%d,\"open_at_end\":%d}\n",
                    o.mode.c_str(), st.attempted, st.established, st.failed, st.closed_by_server, open);
        for (auto& h : all) h->Close();
        ioc.stop();
      });
    }
  };
  asio::post(ioc, more);
  asio::steady_timer bound(ioc, std::chrono::seconds(900));  // never more than 15 minutes
  bound.async_wait([&](boost::system::error_code ec) {
    if (!ec) ioc.stop();
  });
  ioc.run();
  return 0;
}
