#include "load_client.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <utility>

#include "mqtt/codec.h"

namespace coffre::load {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::string Replace(std::string s, const std::string& what, const std::string& with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

Client::Client(asio::io_context& ioc, ssl::context& ctx, Shared& shared, int index,
               Identity identity, SSL_SESSION* resume)
    : shared_(shared), index_(index), socket_(ioc), tls_(socket_, ctx), pace_(ioc),
      jitter_(static_cast<uint32_t>(index) + 1), identity_(std::move(identity)),
      topic_(Replace(shared.o.topic_format, "{id}", identity_.id)),
      payload_(shared.o.size, std::byte{'x'}), chunk_size_(shared.o.tls ? 16384 : 65536),
      chunk_(new char[chunk_size_]), resuming_(resume != nullptr) {
  // One TLS record holds at most 16 KiB, so a TLS read never fills more of the chunk.
  if (resume != nullptr) SSL_set_session(tls_.native_handle(), resume);
}

void Client::Start(const tcp::endpoint& endpoint) {
  // Over IPv4 the clients come from --sources loopback addresses (127.0.0.1 on, round robin), as
  // devices come from many: a broker's per-source cap on connections still authenticating
  // (coffre-hub: 100) is for one address, not a fleet, and each source address has its own
  // ephemeral ports (about 28,000 here). IP_BIND_ADDRESS_NO_PORT: the port is picked at connect.
  if (endpoint.address().is_v4() && shared_.o.sources > 0) {
    boost::system::error_code ec;
    socket_.open(tcp::v4(), ec);
    int one = 1;
    if (!ec) ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    auto source = asio::ip::make_address_v4(0x7f000001u + static_cast<uint32_t>(index_ % shared_.o.sources));
    if (!ec) socket_.bind({source, 0}, ec);
    if (ec) return Fail("bind " + source.to_string() + ": " + ec.message());
  }
  socket_.async_connect(endpoint, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return self->Fail("connect: " + ec.message());
    self->socket_.set_option(tcp::no_delay(true));
    if (!self->shared_.o.tls) return self->SendConnect();
    self->tls_.async_handshake(ssl::stream_base::client, [self](boost::system::error_code e) {
      if (e && self->resuming_ && self->shared_.on_resume_refused) {
        return self->shared_.on_resume_refused(self->index_, e.message());
      }
      if (e) return self->Fail("TLS: " + e.message());
      if (SSL_session_reused(self->tls_.native_handle()) == 1) ++self->shared_.resumed;
      self->SendConnect();
    });
  });
}

template <class Handler>
void Client::WriteRaw(const Bytes& data, Handler h) {
  if (shared_.o.tls) {
    asio::async_write(tls_, asio::buffer(data), h);
  } else {
    asio::async_write(socket_, asio::buffer(data), h);
  }
}

template <class Handler>
void Client::ReadSome(Handler h) {
  if (shared_.o.tls) {
    tls_.async_read_some(asio::buffer(chunk_.get(), chunk_size_), h);
  } else {
    socket_.async_read_some(asio::buffer(chunk_.get(), chunk_size_), h);
  }
}

void Client::SendConnect() {
  mqtt::Connect c;
  c.client_id = identity_.id;
  c.keep_alive = 120;
  std::string username = shared_.o.devices_file.empty()
                             ? shared_.o.username
                             : shared_.o.hub_host + "/" + identity_.id + "/?api-version=2021-04-12";
  if (!username.empty()) c.username = username;
  if (!identity_.password.empty()) c.password = AsBytes(identity_.password);
  auto out = std::make_shared<Bytes>();
  mqtt::EncodeConnect(*out, c);
  WriteRaw(*out, [self = shared_from_this(), out](boost::system::error_code ec, size_t) {
    if (ec) return self->Fail("CONNECT: " + ec.message());
    self->Read();
  });
}

void Client::Read() {
  ReadSome([self = shared_from_this()](boost::system::error_code ec, size_t n) {
    if (ec) {
      if (!self->shared_.stopping) self->Fail("read: " + ec.message());
      return;
    }
    auto* data = reinterpret_cast<std::byte*>(self->chunk_.get());
    self->in_.insert(self->in_.end(), data, data + n);
    size_t used = 0;
    for (;;) {
      auto d = mqtt::DecodePacket(ByteSpan(self->in_).subspan(used), 1 << 20);
      if (!d.has_value()) return self->Fail("bad packet from the broker");
      if (!d->has_value()) break;
      self->OnPacket((*d)->packet);
      used += (*d)->size;
    }
    self->in_.erase(self->in_.begin(), self->in_.begin() + static_cast<long>(used));
    if (!self->shared_.stopping) self->Read();
  });
}

void Client::OnConnAck() {
  // The CONNACK was read, so was every TLS 1.3 NewSessionTicket sent before it: the session now
  // holds a ticket if the broker sends them.
  bool keep = shared_.o.resume || !shared_.o.sessions_file.empty();
  if (keep && shared_.o.tls) session_.reset(SSL_get1_session(tls_.native_handle()));
  ++shared_.connected;
  if (shared_.on_connack) shared_.on_connack();
  if (!shared_.publish) return;
  if (shared_.connected == shared_.o.clients) {
    shared_.start = Clock::now();
    shared_.start_all();
  }
}

void Client::OnPacket(const mqtt::Packet& p) {
  if (auto* ack = std::get_if<mqtt::ConnAck>(&p)) {
    if (ack->code != mqtt::ConnectCode::kAccepted) {
      return Fail("CONNACK " + std::to_string(static_cast<int>(ack->code)));
    }
    return OnConnAck();
  }
  if (auto* ack = std::get_if<mqtt::PacketIdOnly>(&p); ack && ack->type == mqtt::PacketType::kPubAck) {
    if (fence_sent_ && ack->packet_id == fence_id_) {
      if (++shared_.fenced == shared_.o.clients) Stop();
      return;
    }
    auto it = sent_at_.find(ack->packet_id);
    if (it == sent_at_.end()) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->second).count();
    sent_at_.erase(it);
    shared_.latencies_us.push_back(static_cast<uint32_t>(us));
    ++shared_.completed;
    --inflight_;
    Pump();
  }
}

// Paced: one message credit per tick. --rate: this client's share, every client ticking in step
// from the start. --per-client-rate: the first tick at a random point of the first interval, then
// each interval drawn from 0.8-1.2 times the mean, so a fleet does not fire in lockstep.
void Client::Pace() {
  if (shared_.stopping) return;
  const Options& o = shared_.o;
  bool per_client = o.per_client_rate > 0;
  double interval = per_client ? 1.0 / o.per_client_rate : o.clients / o.rate;
  double step = interval;
  if (next_tick_ == Clock::time_point()) {
    next_tick_ = Clock::now();
    step = per_client ? std::uniform_real_distribution<double>(0, interval)(jitter_) : 0;
  } else if (per_client) {
    step = std::uniform_real_distribution<double>(0.8 * interval, 1.2 * interval)(jitter_);
  }
  next_tick_ += Seconds(step);
  pace_.expires_at(next_tick_);
  pace_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    ++self->credits_;
    self->Pump();
    self->Pace();
  });
}

// Keeps --inflight publishes outstanding (QoS 1), or streams (QoS 0).
void Client::Pump() {
  if (writing_ || shared_.stopping) return;
  if (shared_.connected < shared_.o.clients) return;  // all start together
  bool time_up = Clock::now() >= shared_.deadline;
  if (shared_.o.qos == 0 && (time_up || shared_.issued >= shared_.o.count)) return SendFence();
  if (time_up) return Stop();
  Bytes& out = out_;
  out.clear();
  int batch = shared_.o.coalesce ? shared_.o.inflight : 1;
  bool paced = shared_.o.rate > 0 || shared_.o.per_client_rate > 0;
  while (inflight_ < shared_.o.inflight && shared_.issued < shared_.o.count && batch-- > 0 &&
         (!paced || credits_ > 0)) {
    if (paced) --credits_;
    ++shared_.issued;
    uint16_t id = 0;
    if (shared_.o.qos == 1) {
      id = next_id_ = static_cast<uint16_t>(next_id_ % 65535 + 1);
      sent_at_[id] = Clock::now();
      ++inflight_;
    }
    mqtt::EncodePublish(out, {false, static_cast<uint8_t>(shared_.o.qos), false, topic_, id, payload_});
    if (shared_.o.qos == 0) ++shared_.completed;
  }
  if (out.empty()) {
    if (shared_.completed >= shared_.o.count) Stop();
    return;
  }
  writing_ = true;
  WriteRaw(out, [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) return self->Fail("write: " + ec.message());
    self->Pump();
  });
}

// QoS 0: one QoS 1 PUBLISH after this client's last message (see mqtt_load.cc).
void Client::SendFence() {
  if (fence_sent_) return;
  fence_sent_ = true;
  fence_id_ = 1;
  out_.clear();
  mqtt::EncodePublish(out_, {false, 1, false, topic_, fence_id_, payload_});
  writing_ = true;
  WriteRaw(out_, [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) return self->Fail("write: " + ec.message());
  });
}

void Client::Begin() {
  if (shared_.o.rate > 0 || shared_.o.per_client_rate > 0) return Pace();
  Pump();
}

void Client::Disconnect(std::function<void()> done) {
  out_.clear();
  mqtt::EncodeBare(out_, {mqtt::PacketType::kDisconnect});
  WriteRaw(out_, [self = shared_from_this(), done = std::move(done)](boost::system::error_code, size_t) {
    // Ended on purpose: without this, freeing the SSL marks its session not resumable (OpenSSL
    // takes a connection freed before a close_notify for a broken one).
    if (self->shared_.o.tls) {
      SSL_set_shutdown(self->tls_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    self->Close();
    done();
  });
}

void Client::Stop() {
  if (shared_.stopping) return;
  shared_.stopping = true;
  shared_.ioc.stop();  // single-threaded: ends the run
}

void Client::Fail(const std::string& why) {
  if (shared_.error.empty()) shared_.error = identity_.id + ": " + why;
  Stop();
}

void Client::Close() {
  boost::system::error_code ignored;
  pace_.cancel();
  socket_.close(ignored);
}

}  // namespace coffre::load
