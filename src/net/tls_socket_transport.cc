// A byte stream over TLS (MQTT, AMQP) with OpenSSL reading and writing the (non-blocking) socket itself, and Asio only
// waiting for readiness. Why not asio::ssl::stream: its engine keeps two 17 KB buffers per
// connection for as long as the connection lives (most of an idle device's memory), copies every
// record through them, and hands back one record per read. Here one ReadSome drains every record
// already there (read-ahead), so many small PUBLISHes cost one read and one parse. OpenSSL's own
// buffers go back as soon as a read drains them (SSL_MODE_RELEASE_BUFFERS, on the context), so an
// idle device holds none; but on a busy connection that meant cleansing (SSL_OP_CLEANSE_PLAINTEXT)
// and freeing 17 KB at every read, so a connection that read at least kBusyWaits times in a
// kIdleRelease period keeps its buffers until a period passes without a read. Every operation is
// tried first and waits only on SSL_ERROR_WANT_READ/WANT_WRITE.
// Single-threaded like every Transport: the connection's io_context runs all of it.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/transport.h"

namespace coffre::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// A busy connection keeps OpenSSL's buffers; one that idles for a period gives them back.
constexpr auto kIdleRelease = std::chrono::milliseconds(250);
constexpr uint64_t kBusyWaits = 16;  // read waits within one period that make a connection busy

class TlsSocketTransport final : public Transport {
 public:
  TlsSocketTransport(tcp::socket socket, asio::ssl::context& tls)
      : socket_(std::move(socket)), ssl_(SSL_new(tls.native_handle())),
        idle_timer_(socket_.get_executor()), alive_(std::make_shared<bool>(true)) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ssl_ && !ec && SSL_set_fd(ssl_.get(), socket_.native_handle()) == 1) {
      SSL_set_read_ahead(ssl_.get(), 1);
      SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_set_accept_state(ssl_.get());
    } else {
      ssl_.reset();
    }
  }

  ~TlsSocketTransport() override { *alive_ = false; }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  void Open(Done done) override {
    if (!ssl_) return done(asio::error::no_memory);
    Handshake(std::move(done));
  }

  void ReadSome(asio::mutable_buffer into, IoDone done) override {
    size_t total = 0;
    while (total < into.size()) {
      ERR_clear_error();
      size_t n = 0;
      int ok = SSL_read_ex(ssl_.get(), static_cast<char*>(into.data()) + total,
                           into.size() - total, &n);
      if (ok == 1) {
        total += n;
        continue;
      }
      int error = SSL_get_error(ssl_.get(), ok);
      if (total > 0 && (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)) break;
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        ArmIdleRelease();
        ++waits_;
        return Wait(error, [this, into, done = std::move(done)](boost::system::error_code ec) mutable {
          waiting_ = false;
          if (ec) return done(ec, 0);
          ReadSome(into, std::move(done));
        });
      }
      if (total > 0) break;  // the error again on the next read, after these bytes
      return done(ErrorOf(error), 0);
    }
    // Completed from the executor, never inside the caller's frame.
    asio::post(socket_.get_executor(), [done = std::move(done), total] { done({}, total); });
  }

  void Write(asio::const_buffer data, IoDone done) override { WriteFrom(data, 0, std::move(done)); }

  void Close() override {
    idle_timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  SSL* tls() override { return ssl_.get(); }
  std::string remote_address() override { return PeerAddress(socket_); }

 private:
  void Handshake(Done done) {
    ERR_clear_error();
    int ok = SSL_do_handshake(ssl_.get());
    if (ok == 1) return asio::post(socket_.get_executor(), [done = std::move(done)] { done({}); });
    int error = SSL_get_error(ssl_.get(), ok);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      return Wait(error, [this, done = std::move(done)](boost::system::error_code ec) mutable {
        if (ec) return done(ec);
        Handshake(std::move(done));
      });
    }
    done(ErrorOf(error));
  }

  // Writes data[written..] entirely (records as they fit the socket), then completes.
  void WriteFrom(asio::const_buffer data, size_t written, IoDone done) {
    while (written < data.size()) {
      ERR_clear_error();
      size_t n = 0;
      int ok = SSL_write_ex(ssl_.get(), static_cast<const char*>(data.data()) + written,
                            data.size() - written, &n);
      if (ok == 1) {
        written += n;
        continue;
      }
      int error = SSL_get_error(ssl_.get(), ok);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        return Wait(error, [this, data, written, done = std::move(done)](
                               boost::system::error_code ec) mutable {
          if (ec) return done(ec, written);
          WriteFrom(data, written, std::move(done));
        });
      }
      return done(ErrorOf(error), written);
    }
    asio::post(socket_.get_executor(), [done = std::move(done), written] { done({}, written); });
  }

  // While reads wait, a timer per kIdleRelease period counts them: kBusyWaits or more, and the
  // connection keeps OpenSSL's buffers between reads; none since the timer was set, and the
  // buffers are freed now (SSL_free_buffers keeps them if they hold data) and released at each
  // drain again. Armed only from a read wait: an idle device costs one timer per message.
  void ArmIdleRelease() {
    waiting_ = true;
    if (idle_armed_) return;
    idle_armed_ = true;
    uint64_t waits_then = waits_;
    idle_timer_.expires_after(kIdleRelease);
    idle_timer_.async_wait([this, alive = alive_, waits_then](boost::system::error_code ec) {
      if (!*alive) return;  // the transport is gone (a completion already queued)
      idle_armed_ = false;
      if (ec) return;
      uint64_t waits = waits_ - waits_then;  // the wait that armed the timer counts one
      if (waits >= kBusyWaits) {
        SSL_clear_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
      } else {
        SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
        if (waiting_ && waits == 1) SSL_free_buffers(ssl_.get());
      }
      if (waiting_ && waits > 1) ArmIdleRelease();
    });
  }

  template <class Handler>
  void Wait(int want, Handler&& handler) {
    socket_.async_wait(want == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                       std::forward<Handler>(handler));
  }

  // SSL_get_error's verdict as an error_code: a clean close is eof, a TLS failure carries
  // OpenSSL's reason.
  static boost::system::error_code ErrorOf(int error) {
    if (error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
    if (error == SSL_ERROR_SSL) {
      unsigned long e = ERR_get_error();
      ERR_clear_error();
      return {static_cast<int>(e ? e : 1), asio::error::get_ssl_category()};
    }
    if (error == SSL_ERROR_SYSCALL && errno != 0 && errno != EAGAIN) {
      return {errno, boost::system::system_category()};
    }
    return asio::error::eof;
  }

  tcp::socket socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<bool> alive_;  // false once destroyed: the idle timer's handler checks it
  uint64_t waits_ = 0;           // read waits started
  bool waiting_ = false;         // a read is waiting for bytes
  bool idle_armed_ = false;
};

}  // namespace

std::unique_ptr<Transport> MakeTlsTransport(tcp::socket socket, asio::ssl::context& tls) {
  return std::make_unique<TlsSocketTransport>(std::move(socket), tls);
}

}  // namespace coffre::net
