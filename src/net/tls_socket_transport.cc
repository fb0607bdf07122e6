// A byte stream over TLS (MQTT, AMQP) with OpenSSL on the (non-blocking) socket: Asio reads the
// socket's bytes, OpenSSL takes them from there (its read BIO is the transport's input) and writes
// its records to the socket itself. Why not asio::ssl::stream: its engine keeps two 17 KB buffers
// per connection for as long as the connection lives (most of an idle device's memory), copies
// every record through them, and hands back one record per read. Here one ReadSome drains every
// record already read (read-ahead), so many small PUBLISHes cost one read and one parse.
//
// Why Asio reads rather than OpenSSL on the socket: waiting for readiness (async_wait) re-arms
// the socket in epoll at every wait (an epoll_ctl), and OpenSSL's own read tried the empty socket
// again first; a device that sends one message at a time paid both for every message. An Asio
// read is registered once and tried at once only when the last read may have left bytes behind.
// The input is 512 bytes inside the transport (an idle device's records fit); a read that fills
// them moves the next reads to a 16 KB heap buffer, which a busy connection keeps and another
// gives up at its next read once one does not fill it.
//
// OpenSSL's own buffers go back as soon as a read drains them (SSL_MODE_RELEASE_BUFFERS, on the
// context), so an idle device holds none; but on a busy connection that meant cleansing
// (SSL_OP_CLEANSE_PLAINTEXT) and freeing 17 KB at every read, so a connection that waits for
// input kBusyWaits times within a kIdleRelease period keeps them, and a timer (only then) gives
// them back once a period passes with fewer. Every operation is tried first and waits only on
// SSL_ERROR_WANT_READ/WANT_WRITE.
// Single-threaded like every Transport: the connection's io_context runs all of it.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <vector>

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
constexpr uint64_t kBusyWaits = 16;  // input waits within one period that make a connection busy
constexpr size_t kSmallInput = 512;
constexpr size_t kLargeInput = 16 * 1024 + 512;  // a whole TLS record and then some

// Bytes read from the socket that OpenSSL has not taken yet.
struct Input {
  const unsigned char* data = nullptr;
  size_t size = 0;
};

// The read BIO: hands OpenSSL the bytes of Input, and "retry" once they are gone.
int InputRead(BIO* bio, char* out, size_t len, size_t* taken) {
  auto* in = static_cast<Input*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (in->size == 0) {
    BIO_set_retry_read(bio);
    return 0;
  }
  size_t n = std::min(len, in->size);
  std::memcpy(out, in->data, n);
  in->data += n;
  in->size -= n;
  *taken = n;
  return 1;
}

long InputCtrl(BIO* bio, int cmd, long, void*) {
  if (cmd == BIO_CTRL_PENDING) return static_cast<long>(static_cast<Input*>(BIO_get_data(bio))->size);
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int InputCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* InputMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "coffre transport input");
    if (m != nullptr) {
      BIO_meth_set_read_ex(m, InputRead);
      BIO_meth_set_ctrl(m, InputCtrl);
      BIO_meth_set_create(m, InputCreate);
    }
    return m;
  }();
  return method;
}

class TlsSocketTransport final : public Transport {
 public:
  TlsSocketTransport(tcp::socket socket, asio::ssl::context& tls)
      : socket_(std::move(socket)), ssl_(SSL_new(tls.native_handle())),
        idle_timer_(socket_.get_executor()), alive_(std::make_shared<bool>(true)) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    BIO* in = InputMethod() != nullptr ? BIO_new(InputMethod()) : nullptr;
    BIO* out = BIO_new_socket(static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
    if (ssl_ && !ec && in != nullptr && out != nullptr) {
      BIO_set_data(in, &input_);
      SSL_set_bio(ssl_.get(), in, out);  // the SSL owns both now
      SSL_set_read_ahead(ssl_.get(), 1);
      SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_set_accept_state(ssl_.get());
    } else {
      BIO_free(in);
      BIO_free(out);
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
    ReadInto(into, std::move(done), /*direct=*/false);
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
  // `direct`: called from one of this transport's own completions, not from the caller's frame,
  // so `done` may run at once instead of being posted.
  void ReadInto(asio::mutable_buffer into, IoDone done, bool direct) {
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
        if (error == SSL_ERROR_WANT_READ) NoteInputWait();
        return Await(error, [this, into, done = std::move(done)](boost::system::error_code ec) mutable {
          waiting_ = false;
          if (ec) return done(ec, 0);
          ReadInto(into, std::move(done), /*direct=*/true);
        });
      }
      if (total > 0) break;  // the error again on the next read, after these bytes
      return done(ErrorOf(error), 0);
    }
    if (direct) return done({}, total);
    // Completed from the executor, never inside the caller's frame.
    asio::post(socket_.get_executor(), [done = std::move(done), total] { done({}, total); });
  }

  void Handshake(Done done) {
    ERR_clear_error();
    int ok = SSL_do_handshake(ssl_.get());
    if (ok == 1) return asio::post(socket_.get_executor(), [done = std::move(done)] { done({}); });
    int error = SSL_get_error(ssl_.get(), ok);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      return Await(error, [this, done = std::move(done)](boost::system::error_code ec) mutable {
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
        return Await(error, [this, data, written, done = std::move(done)](
                                boost::system::error_code ec) mutable {
          if (ec) return done(ec, written);
          WriteFrom(data, written, std::move(done));
        });
      }
      return done(ErrorOf(error), written);
    }
    asio::post(socket_.get_executor(), [done = std::move(done), written] { done({}, written); });
  }

  // OpenSSL wants bytes (WANT_READ: its input is empty) or room (WANT_WRITE: the socket is full).
  void Await(int want, Done then) {
    if (want == SSL_ERROR_WANT_WRITE) {
      return socket_.async_wait(tcp::socket::wait_write, std::move(then));
    }
    input_waiters_.push_back(std::move(then));
    if (!reading_) ReadInput();
  }

  // One socket read for everyone waiting on input (a read, and a write that wants a read).
  void ReadInput() {
    if (large_ && shrink_) large_.reset();
    shrink_ = false;
    unsigned char* into = large_ ? large_.get() : small_.data();
    size_t room = large_ ? kLargeInput : kSmallInput;
    reading_ = true;
    // The waiters' callbacks hold their connection, which holds this transport: if Asio destroys
    // the read unrun (its io_context went away), the guard lets go of them, or neither is freed.
    auto guard = std::make_unique<ReadGuard>(this);
    socket_.async_read_some(asio::buffer(into, room), [this, into, room, guard = std::move(guard)](
                                                          boost::system::error_code ec, size_t n) {
      guard->ran = true;
      reading_ = false;
      if (!ec) {
        input_ = {into, n};
        if (room == kSmallInput && n == kSmallInput) {
          large_.reset(new unsigned char[kLargeInput]);  // for the next read; these bytes stay put
        } else if (room == kLargeInput && n < kLargeInput && !keep_buffers_) {
          shrink_ = true;  // at the next read, once OpenSSL has taken these
        }
      }
      std::vector<Done> waiters;
      waiters.swap(input_waiters_);
      // Each waiter left holds its connection, so this transport lives while one is left; one
      // that comes after a waiter closed the socket (its fd may be another's now) must not use it.
      for (Done& w : waiters) w(socket_.is_open() ? ec : asio::error::operation_aborted);
    });
  }

  struct ReadGuard {
    explicit ReadGuard(TlsSocketTransport* t) : transport(t) {}
    ~ReadGuard() {
      if (ran) return;
      std::vector<Done> waiters;
      waiters.swap(transport->input_waiters_);  // released here, the transport untouched after
    }
    TlsSocketTransport* transport;
    bool ran = false;
  };

  // A connection that waits for input kBusyWaits times within a kIdleRelease period is busy: it
  // keeps OpenSSL's buffers, and the idle timer watches for the period that makes it idle again.
  void NoteInputWait() {
    waiting_ = true;
    ++waits_;
    if (keep_buffers_) return ArmIdleRelease();
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= kIdleRelease) {
      window_start_ = now;
      window_waits_ = 0;
    }
    if (++window_waits_ < kBusyWaits) return;
    keep_buffers_ = true;
    SSL_clear_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
    ArmIdleRelease();
  }

  void ArmIdleRelease() {
    if (idle_armed_) return;
    idle_armed_ = true;
    uint64_t waits_then = waits_;
    idle_timer_.expires_after(kIdleRelease);
    idle_timer_.async_wait([this, alive = alive_, waits_then](boost::system::error_code ec) {
      if (!*alive) return;  // the transport is gone (a completion already queued)
      idle_armed_ = false;
      if (ec) return;
      if (waits_ - waits_then >= kBusyWaits) return ArmIdleRelease();  // still busy
      keep_buffers_ = false;
      window_waits_ = 0;
      shrink_ = large_ != nullptr;  // the read waiting on it keeps it until its bytes come
      SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
      if (waiting_) SSL_free_buffers(ssl_.get());  // kept if they hold data
    });
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
  Input input_;
  std::array<unsigned char, kSmallInput> small_;  // not zeroed: written before it is read
  std::unique_ptr<unsigned char[]> large_;
  bool shrink_ = false;   // large_ goes at the next read
  bool reading_ = false;  // a socket read is pending
  std::vector<Done> input_waiters_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<bool> alive_;  // false once destroyed: the idle timer's handler checks it
  uint64_t waits_ = 0;           // input waits started
  std::chrono::steady_clock::time_point window_start_;
  uint64_t window_waits_ = 0;    // input waits since window_start_
  bool keep_buffers_ = false;    // busy: OpenSSL's buffers stay between reads
  bool waiting_ = false;         // a read is waiting for bytes
  bool idle_armed_ = false;
};

}  // namespace

std::unique_ptr<Transport> MakeTlsTransport(tcp::socket socket, asio::ssl::context& tls) {
  return std::make_unique<TlsSocketTransport>(std::move(socket), tls);
}

}  // namespace coffre::net
