// mqtt_load: an MQTT 3.1.1 load generator for side-by-side runs (coffre-hub, Mosquitto).
// N connections over TLS (or plain TCP) to a loopback broker, each publishing QoS 0 or 1
// messages of a given size with up to --inflight unacknowledged, until --count messages are
// acknowledged (QoS 1) or sent (QoS 0), or --seconds pass. Credentials: one username/password
// for all, or Azure IoT Hub SAS tokens made from per-device keys (--devices-file: "id key" lines).
// One PUBLISH per write, as devices do, unless --coalesce. Prints one JSON line: msgs/s, MB/s,
// publish-to-PUBACK latency p50/p99/p99.9 (QoS 1), and the tool's own CPU.
// QoS 0 is timed on the broker's side: once a client has written its last message it sends one
// QoS 1 PUBLISH (a fence) and the run ends when every fence is acknowledged. A broker handles a
// connection's packets in order, so by then it has taken in every QoS 0 message before it.
// Loopback only: it refuses any other address.
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <fstream>
#include <functional>
#include <thread>
#include <iostream>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/encoding.h"
#include "common/strings.h"
#include "crypto/random.h"
#include "crypto/secure_heap.h"
#include "net/https_client.h"
#include "hub/sas_token.h"
#include "mqtt/codec.h"

namespace {

using namespace coffre;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 8883;
  bool tls = true;
  std::string ca_file;
  int clients = 16;
  int qos = 1;
  size_t size = 256;
  uint64_t count = 100000;
  double seconds = 30;
  int inflight = 32;
  double rate = 0;  // messages per second in all, spread over the clients; 0: as fast as acked
  bool connect_only = false;  // measure connects, then hold the idle connections --hold seconds
  double hold = 0;
  int connecting = 64;        // TLS handshakes in flight at once (connect-only)
  bool coalesce = false;
  std::string username, password;  // shared credentials (Mosquitto)
  std::string devices_file;        // "id key" lines: Azure SAS per device (coffre-hub)
  std::string owner;               // iothubowner's connection string: create the devices first
  std::string keep_devices_file;   // with --owner: keep the created devices here
  uint16_t https_port = 443;       // ... through the hub's service API on this port
  std::string hub_host = "localhost";
  std::string topic_format = "devices/{id}/messages/events/";
};

struct Shared {
  explicit Shared(const Options& options, asio::io_context& context) : o(options), ioc(context) {}
  const Options& o;
  asio::io_context& ioc;
  uint64_t issued = 0;    // publishes handed out
  uint64_t completed = 0; // acknowledged (QoS 1) or written (QoS 0)
  Clock::time_point start, deadline;
  std::vector<uint32_t> latencies_us;
  bool stopping = false;
  int connected = 0;
  int failed = 0;
  int fenced = 0;  // QoS 0: clients whose fence was acknowledged
  uint32_t sources = 0;  // loopback source addresses handed out
  Clock::time_point all_connected{};
  std::function<void()> start_next;  // connect-only: start the next client
  std::function<void()> start_all;   // the last CONNACK: every client starts publishing
  std::string error;
};

std::string Replace(std::string s, const std::string& what, const std::string& with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& ioc, ssl::context& ctx, Shared& shared, std::string id, std::string password)
      : shared_(shared), socket_(ioc), tls_(socket_, ctx), pace_(ioc), id_(std::move(id)),
        password_(std::move(password)), topic_(Replace(shared.o.topic_format, "{id}", id_)),
        payload_(shared.o.size, std::byte{'x'}) {}

  void Start(const tcp::endpoint& endpoint) {
    // On 127.0.0.1 the clients come from 64 source addresses (127.0.0.1-64), as devices come from
    // many: a broker's per-source cap on connections still authenticating (coffre-hub: 100) is
    // for one address, not a fleet.
    if (endpoint.address() == asio::ip::make_address("127.0.0.1")) {
      boost::system::error_code ec;
      socket_.open(tcp::v4(), ec);
      if (!ec) socket_.bind({asio::ip::make_address_v4(0x7f000001u + shared_.sources++ % 64), 0}, ec);
    }
    socket_.async_connect(endpoint, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->Fail("connect: " + ec.message());
      self->socket_.set_option(tcp::no_delay(true));
      if (!self->shared_.o.tls) return self->SendConnect();
      self->tls_.async_handshake(ssl::stream_base::client, [self](boost::system::error_code e) {
        if (e) return self->Fail("TLS: " + e.message());
        self->SendConnect();
      });
    });
  }

 private:
  template <class Handler>
  void WriteRaw(const Bytes& data, Handler h) {
    if (shared_.o.tls) {
      asio::async_write(tls_, asio::buffer(data), h);
    } else {
      asio::async_write(socket_, asio::buffer(data), h);
    }
  }
  template <class Handler>
  void ReadSome(Handler h) {
    if (shared_.o.tls) {
      tls_.async_read_some(asio::buffer(chunk_), h);
    } else {
      socket_.async_read_some(asio::buffer(chunk_), h);
    }
  }

  void SendConnect() {
    mqtt::Connect c;
    c.client_id = id_;
    c.keep_alive = 120;
    std::string username = shared_.o.devices_file.empty()
                               ? shared_.o.username
                               : shared_.o.hub_host + "/" + id_ + "/?api-version=2021-04-12";
    if (!username.empty()) c.username = username;
    if (!password_.empty()) c.password = AsBytes(password_);
    auto out = std::make_shared<Bytes>();
    mqtt::EncodeConnect(*out, c);
    WriteRaw(*out, [self = shared_from_this(), out](boost::system::error_code ec, size_t) {
      if (ec) return self->Fail("CONNECT: " + ec.message());
      self->Read();
    });
  }

  void Read() {
    ReadSome([self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) {
        if (!self->shared_.stopping) self->Fail("read: " + ec.message());
        return;
      }
      self->in_.insert(self->in_.end(), reinterpret_cast<std::byte*>(self->chunk_.data()),
                       reinterpret_cast<std::byte*>(self->chunk_.data()) + n);
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

  void OnPacket(const mqtt::Packet& p) {
    if (auto* ack = std::get_if<mqtt::ConnAck>(&p)) {
      if (ack->code != mqtt::ConnectCode::kAccepted) {
        return Fail("CONNACK " + std::to_string(static_cast<int>(ack->code)));
      }
      if (++shared_.connected == shared_.o.clients && !shared_.o.connect_only) {
        shared_.start = Clock::now();
      }
      if (shared_.o.connect_only) {
        if (shared_.connected == shared_.o.clients) {
          shared_.all_connected = Clock::now();
          std::printf("all-connected\n");
          std::fflush(stdout);
        }
        if (shared_.start_next) shared_.start_next();
        return;
      }
      if (shared_.connected == shared_.o.clients) shared_.start_all();
      return;
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

  // Fixed rate: this client's share of --rate, one message credit per tick.
  void Pace() {
    if (shared_.stopping) return;
    auto interval = std::chrono::duration<double>(shared_.o.clients / shared_.o.rate);
    next_tick_ = next_tick_ == Clock::time_point() ? Clock::now() : next_tick_ +
                 std::chrono::duration_cast<Clock::duration>(interval);
    pace_.expires_at(next_tick_);
    pace_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      ++self->credits_;
      self->Pump();
      self->Pace();
    });
  }

  // Keeps --inflight publishes outstanding (QoS 1), or streams (QoS 0).
  void Pump() {
    if (writing_ || shared_.stopping) return;
    if (shared_.connected < shared_.o.clients) return;  // all start together
    bool time_up = Clock::now() >= shared_.deadline;
    if (shared_.o.qos == 0 && (time_up || shared_.issued >= shared_.o.count)) return SendFence();
    if (time_up) return Stop();
    Bytes& out = out_;
    out.clear();
    int batch = shared_.o.coalesce ? shared_.o.inflight : 1;
    bool paced = shared_.o.rate > 0;
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

  // QoS 0: one QoS 1 PUBLISH after this client's last message (see the file comment).
  void SendFence() {
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

  void Stop() {
    if (shared_.stopping) return;
    shared_.stopping = true;
    shared_.ioc.stop();  // single-threaded: ends the run
  }
  void Fail(const std::string& why) {
    if (shared_.error.empty()) shared_.error = id_ + ": " + why;
    Stop();
  }
 public:
  // Starts publishing: paced (--rate) or as fast as acknowledgements allow.
  void Begin() {
    if (shared_.o.rate > 0) return Pace();
    Pump();
  }
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }
 private:

  Shared& shared_;
  tcp::socket socket_;
  ssl::stream<tcp::socket&> tls_;
  asio::steady_timer pace_;
  Clock::time_point next_tick_{};
  int credits_ = 0;
  std::string id_, password_, topic_;
  Bytes payload_;
  std::array<char, 65536> chunk_{};
  Bytes in_, out_;
  std::unordered_map<uint16_t, Clock::time_point> sent_at_;
  uint16_t next_id_ = 0;
  int inflight_ = 0;
  bool writing_ = false;
  bool fence_sent_ = false;
  uint16_t fence_id_ = 0;
};

// Creates (or re-keys) devices load-0 .. load-{clients-1} through the hub's service API with
// fresh keys, and writes them to a devices file next to nothing secret-worthy: a temp file.
Result<std::string> CreateDevices(const Options& o) {
  std::map<std::string, std::string> parts;
  for (std::string_view part : Split(o.owner, ';')) {
    size_t eq = part.find('=');
    if (eq != std::string_view::npos) parts[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes owner_raw, Base64Decode(parts["SharedAccessKey"]));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes owner_key, crypto::SecretBytes::CopyOf(owner_raw));
  COFFRE_ASSIGN_OR_RETURN(std::string token,
                          hub::MakeSasToken(parts["HostName"], owner_key, std::time(nullptr) + 3600,
                                            parts["SharedAccessKeyName"]));
  net::HttpsClientOptions client_options;
  client_options.origin.scheme = "https";
  client_options.origin.host = "localhost";
  client_options.origin.port = o.https_port;
  client_options.ca_file = o.ca_file;
  COFFRE_ASSIGN_OR_RETURN(auto client, net::HttpsClient::Create(client_options));
  std::string file = o.keep_devices_file.empty()
                         ? "/tmp/mqtt_load_devices." + std::to_string(::getpid())
                         : o.keep_devices_file;
  mode_t old_mask = ::umask(077);  // device keys: the owner's eyes only
  std::ofstream out(file);
  ::umask(old_mask);
  for (int i = 0; i < o.clients; ++i) {
    std::string id = "load-" + std::to_string(i);
    Bytes raw(32);
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
    std::string key = Base64Encode(raw);
    std::string body = "{\"deviceId\":\"" + id + "\",\"authentication\":{\"type\":\"sas\","
                       "\"symmetricKey\":{\"primaryKey\":\"" + key + "\",\"secondaryKey\":\"" + key + "\"}}}";
    std::string path = "/devices/" + id + "?api-version=2021-04-12";
    net::HttpHeaders headers = {{"Authorization", token}, {"Content-Type", "application/json"}};
    COFFRE_ASSIGN_OR_RETURN(net::HttpResponse r, client->Send("PUT", path, headers, body));
    if (r.status == 409) {  // there from an earlier run: give it the new keys
      headers.emplace_back("If-Match", "*");
      COFFRE_ASSIGN_OR_RETURN(r, client->Send("PUT", path, headers, body));
    }
    if (r.status >= 300) return Internal("PUT /devices/" + id + ": " + std::to_string(r.status) + " " + r.body);
    out << id << " " << key << "\n";
  }
  return file;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mqtt_load: MQTT load generator for loopback benchmarks"};
  app.add_option("--host", o.host, "loopback address (127.0.0.1 or ::1)");
  app.add_option("--port", o.port);
  app.add_flag("!--plain", o.tls, "plain TCP instead of TLS");
  app.add_option("--ca-file", o.ca_file, "CA to verify the broker");
  app.add_option("--clients", o.clients)->check(CLI::Range(1, 20000));
  app.add_option("--qos", o.qos)->check(CLI::IsMember({0, 1}));
  app.add_option("--size", o.size, "payload bytes")->check(CLI::Range(size_t{1}, size_t{256 * 1024}));
  app.add_option("--count", o.count, "messages in all")->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  app.add_option("--seconds", o.seconds, "time bound")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--inflight", o.inflight, "unacknowledged publishes per client")->check(CLI::Range(1, 1000));
  app.add_option("--rate", o.rate, "messages per second in all (0: as fast as acknowledged)")
      ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_flag("--connect-only", o.connect_only,
               "connect every client (--connecting TLS handshakes at a time), print "
               "all-connected, hold them idle --hold seconds, and report connects per second");
  app.add_option("--hold", o.hold, "seconds to hold idle connections (--connect-only)");
  app.add_option("--connecting", o.connecting, "handshakes in flight (--connect-only)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--owner", o.owner,
                 "iothubowner's connection string: create devices load-0.. with fresh keys first");
  app.add_option("--https-port", o.https_port, "the hub's HTTPS port, for --owner");
  app.add_option("--keep-devices-file", o.keep_devices_file,
                 "with --owner: write the created devices ('id key' lines, mode 0600) here and keep them");
  app.add_flag("--coalesce", o.coalesce, "write every pending PUBLISH of a client in one write");
  app.add_option("--username", o.username);
  app.add_option("--password", o.password);
  app.add_option("--devices-file", o.devices_file, "Azure SAS: lines of 'device-id base64-key'");
  app.add_option("--hub-host", o.hub_host, "the hub's host name (SAS audience)");
  app.add_option("--topic", o.topic_format, "topic, {id} replaced by the client id");
  CLI11_PARSE(app, argc, argv);
  if (o.host != "127.0.0.1" && o.host != "::1") {
    std::cerr << "mqtt_load: loopback only (127.0.0.1 or ::1)\n";
    return 2;
  }

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "mqtt_load: " << s << "\n";
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> identities;  // client id, password
  if (!o.owner.empty()) {
    Result<std::string> written = CreateDevices(o);
    if (!written.has_value()) {
      std::cerr << "mqtt_load: creating devices: " << written.error() << "\n";
      return 1;
    }
    o.devices_file = *written;
  }
  if (!o.devices_file.empty()) {
    std::ifstream in(o.devices_file);
    std::string id, key;
    int64_t expiry = std::time(nullptr) + 3600;
    while (in >> id >> key && static_cast<int>(identities.size()) < o.clients) {
      auto raw = Base64Decode(key);
      auto secret = raw.has_value() ? crypto::SecretBytes::CopyOf(*raw) : Result<crypto::SecretBytes>(raw.error());
      if (!secret.has_value()) {
        std::cerr << "mqtt_load: bad key for " << id << "\n";
        return 2;
      }
      identities.emplace_back(id, *hub::MakeSasToken(o.hub_host + "/devices/" + id, *secret, expiry));
    }
    if (!o.owner.empty() && o.keep_devices_file.empty()) {
      std::remove(o.devices_file.c_str());  // ours: keys, gone once read
    }
    if (static_cast<int>(identities.size()) < o.clients) {
      std::cerr << "mqtt_load: " << o.devices_file << " names fewer than " << o.clients << " devices\n";
      return 2;
    }
  } else {
    for (int i = 0; i < o.clients; ++i) identities.emplace_back("load-" + std::to_string(i), o.password);
  }

  asio::io_context ioc(1);
  ssl::context ctx(ssl::context::tls_client);
  if (o.tls) {
    ctx.set_verify_mode(o.ca_file.empty() ? ssl::verify_none : ssl::verify_peer);
    if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file);
  }
  Shared shared(o, ioc);
  shared.latencies_us.reserve(static_cast<size_t>(std::min<uint64_t>(o.count, 10'000'000)));
  shared.start = Clock::now();
  shared.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
  double cpu0 = CpuSeconds();
  std::vector<std::shared_ptr<Client>> clients;
  for (const auto& [id, password] : identities) {
    clients.push_back(std::make_shared<Client>(ioc, ctx, shared, id, password));
  }
  shared.start_all = [&] {
    for (auto& c : clients) c->Begin();
  };
  size_t started = 0;
  auto start_one = [&] {
    if (started < clients.size()) clients[started++]->Start(endpoint);
  };
  asio::steady_timer hold(ioc);
  if (o.connect_only) {
    // An observer (compare_mosquitto.sh) takes the broker's baseline memory now.
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    shared.start_next = [&] {
      start_one();
      if (shared.connected == o.clients) {  // all in: hold them idle, then stop
        hold.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.hold)));
        hold.async_wait([&](boost::system::error_code ec) {
          if (ec) return;
          shared.stopping = true;
          for (auto& c : clients) c->Close();
          ioc.stop();
        });
      }
    };
    shared.start = Clock::now();
    for (int i = 0; i < o.connecting; ++i) start_one();
  } else {
    for (size_t i = 0; i < clients.size(); ++i) start_one();
  }
  asio::steady_timer bound(ioc, shared.deadline + std::chrono::seconds(2));
  bound.async_wait([&](boost::system::error_code ec) {
    if (!ec) ioc.stop();
  });
  ioc.run();
  double cpu = CpuSeconds() - cpu0;
  if (o.connect_only) {
    double took = shared.all_connected == Clock::time_point()
                      ? 0
                      : std::chrono::duration<double>(shared.all_connected - shared.start).count();
    std::printf("{\"connected\":%d,\"connect_seconds\":%.3f,\"connects_per_s\":%.0f,"
                "\"tool_cpu_s\":%.3f,\"error\":\"%s\"}\n",
                shared.connected, took, took > 0 ? shared.connected / took : 0, cpu,
                shared.error.c_str());
    return shared.error.empty() && shared.connected == o.clients ? 0 : 1;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - shared.start).count();
  auto& l = shared.latencies_us;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> double {
    if (l.empty()) return 0;
    return l[std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())))] / 1000.0;
  };
  double rate = elapsed > 0 ? static_cast<double>(shared.completed) / elapsed : 0;
  std::printf("{\"messages\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"mb_per_s\":%.2f,"
              "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"tool_cpu_s\":%.3f,\"error\":\"%s\"}\n",
              static_cast<unsigned long long>(shared.completed), elapsed, rate,
              rate * static_cast<double>(o.size) / 1e6, pct(0.5), pct(0.99), pct(0.999), cpu,
              shared.error.c_str());
  return shared.error.empty() && shared.completed > 0 ? 0 : 1;
}
