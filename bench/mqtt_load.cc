// mqtt_load: an MQTT 3.1.1 load generator for side-by-side runs (coffre-hub, Mosquitto).
// N connections over TLS (or plain TCP) to a loopback broker, each publishing QoS 0 or 1
// messages of a given size with up to --inflight unacknowledged, until --count messages are
// acknowledged (QoS 1) or sent (QoS 0), or --seconds pass: as fast as acknowledged, at --rate in
// all, or at --per-client-rate each (a fleet of slow devices). Credentials: one username/password
// for all, or Azure IoT Hub SAS tokens made from per-device keys (--devices-file: "id key"
// lines, or --owner to create the devices first). One PUBLISH per write, as devices do, unless
// --coalesce. Prints one JSON line: msgs/s, MB/s, publish-to-PUBACK latency p50/p99/p99.9 (QoS 1),
// the tool's own CPU, and with --broker-pid the broker's CPU while the messages flowed.
// QoS 0 is timed on the broker's side: once a client has written its last message it sends one
// QoS 1 PUBLISH (a fence) and the run ends when every fence is acknowledged. A broker handles a
// connection's packets in order, so by then it has taken in every QoS 0 message before it.
// --connect-only holds idle connections; --storm times a connect storm (load_storm.h), also
// across a broker restart (--sessions-file, then --resume-from).
// Over IPv4 the clients come from --sources loopback addresses (127.0.0.1 on).
// Loopback only: it refuses any other address.
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "crypto/secure_heap.h"
#include "load_client.h"
#include "load_cpu.h"
#include "load_devices.h"
#include "load_options.h"
#include "load_storm.h"

namespace {

using namespace coffre;
using namespace coffre::load;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Every client is a socket: raises the soft limit on open files to the hard one. False if even
// that is too few for the clients (and a few files of the tool's own).
bool EnoughFiles(int clients) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return true;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur == RLIM_INFINITY || static_cast<rlim_t>(clients) + 32 <= r.rlim_cur;
}

// "name":value for the broker's CPU, or nothing without --broker-pid.
std::string BrokerCpu(const char* name, double seconds) {
  if (seconds < 0) return "";
  char text[64];
  std::snprintf(text, sizeof text, ",\"%s\":%.3f", name, seconds);
  return text;
}

int RunStorm(const Options& o, ssl::context& ctx, const std::vector<Identity>& identities,
             const tcp::endpoint& endpoint) {
  double cpu0 = ToolCpuSeconds();
  auto rate = [](const StormRound& r) { return r.seconds > 0 ? r.connected / r.seconds : 0; };
  if (!o.resume_from.empty()) {  // one round, presenting the sessions of an earlier run
    std::vector<SessionPtr> saved = ReadSessions(o.resume_from);
    int presented = 0;
    for (const SessionPtr& s : saved) presented += s ? 1 : 0;
    StormRound again = RunStormRound(o, ctx, identities, endpoint, saved, nullptr);
    std::printf("{\"clients\":%zu,\"sessions_presented\":%d,\"resume_connected\":%d,"
                "\"resume_seconds\":%.3f,\"resume_connects_per_s\":%.0f,\"resume_tool_cpu_s\":%.3f%s,"
                "\"resumed\":%d,\"resume_refused\":%d,\"refusal\":\"%s\",\"tool_cpu_s\":%.3f,"
                "\"error\":\"%s\"}\n",
                identities.size(), presented, again.connected, again.seconds, rate(again),
                again.cpu.tool, BrokerCpu("resume_broker_cpu_s", again.cpu.broker).c_str(),
                again.resumed, again.refused, again.refusal.c_str(), ToolCpuSeconds() - cpu0,
                again.error.c_str());
    return again.error.empty() && again.connected == static_cast<int>(identities.size()) ? 0 : 1;
  }
  std::vector<SessionPtr> sessions;
  bool keep = o.resume || !o.sessions_file.empty();
  StormRound full = RunStormRound(o, ctx, identities, endpoint, {}, keep ? &sessions : nullptr);
  if (full.error.empty() && !o.sessions_file.empty() && !WriteSessions(o.sessions_file, sessions)) {
    full.error = "could not write " + o.sessions_file;
  }
  StormRound again;
  if (full.error.empty() && o.resume) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the brokers see them gone
    again = RunStormRound(o, ctx, identities, endpoint, sessions, nullptr);
  }
  std::string error = !full.error.empty() ? full.error : again.error;
  std::printf("{\"clients\":%zu,\"full_connected\":%d,\"full_seconds\":%.3f,\"full_connects_per_s\":%.0f,"
              "\"full_tool_cpu_s\":%.3f%s,\"full_resumed\":%d",
              identities.size(), full.connected, full.seconds, rate(full), full.cpu.tool,
              BrokerCpu("full_broker_cpu_s", full.cpu.broker).c_str(), full.resumed);
  if (o.resume) {
    std::printf(",\"sessions_with_ticket\":%d,\"resume_connected\":%d,\"resume_seconds\":%.3f,"
                "\"resume_connects_per_s\":%.0f,\"resume_tool_cpu_s\":%.3f%s,\"resumed\":%d,"
                "\"resume_refused\":%d,\"refusal\":\"%s\"",
                full.sessions_kept, again.connected, again.seconds, rate(again), again.cpu.tool,
                BrokerCpu("resume_broker_cpu_s", again.cpu.broker).c_str(), again.resumed,
                again.refused, again.refusal.c_str());
  }
  std::printf(",\"tool_cpu_s\":%.3f,\"error\":\"%s\"}\n", ToolCpuSeconds() - cpu0, error.c_str());
  bool all = full.connected == static_cast<int>(identities.size()) &&
             (!o.resume || again.connected == static_cast<int>(identities.size()));
  return error.empty() && all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mqtt_load: MQTT load generator for loopback benchmarks"};
  app.add_option("--host", o.host, "loopback address (127.0.0.1 or ::1)");
  app.add_option("--port", o.port);
  app.add_flag("!--plain", o.tls, "plain TCP instead of TLS");
  app.add_option("--ca-file", o.ca_file, "CA to verify the broker");
  app.add_option("--clients", o.clients)->check(CLI::Range(1, 100000));
  auto* sources = app.add_option("--sources", o.sources,
                                 "IPv4: bind clients to this many source addresses, 127.0.0.1 on, "
                                 "round robin (default 64)")
                      ->check(CLI::Range(1, 65534));
  app.add_option("--qos", o.qos)->check(CLI::IsMember({0, 1}));
  app.add_option("--size", o.size, "payload bytes")->check(CLI::Range(size_t{1}, size_t{256 * 1024}));
  app.add_option("--count", o.count, "messages in all")->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  app.add_option("--seconds", o.seconds, "time bound")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--inflight", o.inflight, "unacknowledged publishes per client")->check(CLI::Range(1, 1000));
  auto* rate = app.add_option("--rate", o.rate,
                              "messages per second in all, every client in step (0: as fast as acknowledged)")
                   ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_option("--per-client-rate", o.per_client_rate,
                 "messages per second per client, each client at a random phase with jittered "
                 "intervals (0.8-1.2x the mean)")
      ->check(CLI::Range(0.0, 100'000.0))
      ->excludes(rate);
  auto* connect_only = app.add_flag("--connect-only", o.connect_only,
               "connect every client (--connecting TLS handshakes at a time), print "
               "all-connected, hold them idle --hold seconds, and report connects per second");
  app.add_option("--hold", o.hold, "seconds to hold idle connections (--connect-only)");
  auto* storm = app.add_flag("--storm", o.storm,
                             "connect every client at once (--connecting handshakes in flight), "
                             "report the time until all are connected, then disconnect")
                    ->excludes(connect_only);
  app.add_flag("--resume", o.resume,
               "--storm over TLS: connect all a second time, each presenting the session (TLS 1.3 "
               "ticket) of its first connection; counts the handshakes that resumed")
      ->needs(storm);
  auto* sessions_file = app.add_option("--sessions-file", o.sessions_file,
                 "--storm over TLS: write each client's TLS session after the full round to this "
                 "file (for --resume-from after a broker restart)")
      ->needs(storm);
  app.add_option("--resume-from", o.resume_from,
                 "--storm over TLS: one round only, each client presenting its session from this "
                 "--sessions-file; counts the handshakes that resumed")
      ->needs(storm)
      ->excludes(sessions_file)
      ->excludes("--resume")
      ->check(CLI::ExistingFile);
  app.add_option("--connecting", o.connecting, "connects (TLS handshake to CONNACK) in flight at once")
      ->check(CLI::Range(1, 10000));
  app.add_option("--broker-pid", o.broker_pid,
                 "report this process's CPU (from /proc) while messages flow or clients connect")
      ->check(CLI::Range(1, 1 << 30));
  auto* owner = app.add_option("--owner", o.owner,
                 "iothubowner's connection string: create devices PREFIX0.. with fresh keys first");
  app.add_option("--https-port", o.https_port, "the hub's HTTPS port, for --owner");
  auto* keep = app.add_option("--keep-devices-file", o.keep_devices_file,
                 "with --owner: write the created devices ('id key' lines, mode 0600) here and keep them");
  app.add_flag("--create-only", o.create_only, "with --owner: create the devices, write them, stop")
      ->needs(owner)
      ->needs(keep);
  app.add_option("--id-prefix", o.id_prefix, "client ids (and created devices) are PREFIX0, PREFIX1, ..");
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
  if (o.host == "::1" && sources->count() > 0 && o.sources > 1) {
    std::cerr << "mqtt_load: --sources is for 127.0.0.1 (IPv6 has one loopback address)\n";
    return 2;
  }
  if ((o.resume || !o.sessions_file.empty() || !o.resume_from.empty()) && !o.tls) {
    std::cerr << "mqtt_load: --resume, --sessions-file and --resume-from are about TLS sessions: "
                 "not with --plain\n";
    return 2;
  }
  if (!EnoughFiles(o.clients)) {
    std::cerr << "mqtt_load: the open-file limit (ulimit -n) is too low for " << o.clients << " clients\n";
    return 2;
  }

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "mqtt_load: " << s << "\n";
    return 1;
  }
  if (!o.owner.empty()) {
    Result<std::string> written = CreateDevices(o);
    if (!written.has_value()) {
      std::cerr << "mqtt_load: creating devices: " << written.error() << "\n";
      return 1;
    }
    if (o.create_only) {
      std::printf("{\"created\":%d,\"devices_file\":\"%s\"}\n", o.clients, written->c_str());
      return 0;
    }
    o.devices_file = *written;
  }
  Result<std::vector<Identity>> loaded = LoadIdentities(o);
  if (!o.owner.empty() && o.keep_devices_file.empty()) {
    std::remove(o.devices_file.c_str());  // ours: keys, gone once read
  }
  if (!loaded.has_value()) {
    std::cerr << "mqtt_load: " << loaded.error() << "\n";
    return 2;
  }
  std::vector<Identity>& identities = *loaded;

  ssl::context ctx(ssl::context::tls_client);
  if (o.tls) {
    ctx.set_verify_mode(o.ca_file.empty() ? ssl::verify_none : ssl::verify_peer);
    if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file);
    // An idle client keeps no 16 KiB record buffers: thousands of them touch that much less.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }
  tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
  if (o.storm) return RunStorm(o, ctx, identities, endpoint);

  asio::io_context ioc(1);
  Shared shared(o, ioc);
  shared.publish = !o.connect_only;
  shared.latencies_us.reserve(static_cast<size_t>(std::min<uint64_t>(o.count, 10'000'000)));
  shared.start = Clock::now();
  shared.deadline = Clock::now() + Seconds(o.seconds);
  double cpu0 = ToolCpuSeconds();
  CpuWindow publishing;  // from the last CONNACK to the end
  publishing.pid = o.broker_pid;
  std::vector<std::shared_ptr<Client>> clients;
  clients.reserve(identities.size());
  for (size_t i = 0; i < identities.size(); ++i) {
    clients.push_back(std::make_shared<Client>(ioc, ctx, shared, static_cast<int>(i), identities[i]));
  }
  shared.start_all = [&] {
    publishing.Begin();
    for (auto& c : clients) c->Begin();
  };
  size_t started = 0;
  auto start_one = [&] {
    if (started < clients.size()) clients[started++]->Start(endpoint);
  };
  asio::steady_timer hold(ioc);
  Clock::time_point all_connected{};
  if (o.connect_only) {
    // An observer (compare_mosquitto.sh) takes the broker's baseline memory now.
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    shared.on_connack = [&] {
      start_one();
      if (shared.connected < o.clients) return;
      all_connected = Clock::now();
      std::printf("all-connected\n");
      std::fflush(stdout);
      // All in: hold them idle, then stop.
      hold.expires_after(Seconds(o.hold));
      hold.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        shared.stopping = true;
        for (auto& c : clients) c->Close();
        ioc.stop();
      });
    };
    shared.start = Clock::now();
    for (int i = 0; i < o.connecting; ++i) start_one();
  } else {
    // At most --connecting at once here too: a broker closes a connection whose handshake and
    // CONNECT take longer than its deadline (coffre-hub: 10 s from accept), and 10,000 at once
    // queue longer than that.
    shared.on_connack = start_one;
    for (int i = 0; i < o.connecting; ++i) start_one();
  }
  asio::steady_timer bound(ioc, shared.deadline + std::chrono::seconds(2));
  bound.async_wait([&](boost::system::error_code ec) {
    if (!ec) ioc.stop();
  });
  ioc.run();
  double cpu = ToolCpuSeconds() - cpu0;
  if (o.connect_only) {
    double took = all_connected == Clock::time_point()
                      ? 0
                      : std::chrono::duration<double>(all_connected - shared.start).count();
    std::printf("{\"connected\":%d,\"connect_seconds\":%.3f,\"connects_per_s\":%.0f,"
                "\"tool_cpu_s\":%.3f,\"error\":\"%s\"}\n",
                shared.connected, took, took > 0 ? shared.connected / took : 0, cpu,
                shared.error.c_str());
    return shared.error.empty() && shared.connected == o.clients ? 0 : 1;
  }
  bool began = shared.connected == o.clients;
  if (began) publishing.End();
  double elapsed = std::chrono::duration<double>(Clock::now() - shared.start).count();
  auto& l = shared.latencies_us;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> double {
    if (l.empty()) return 0;
    return l[std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())))] / 1000.0;
  };
  double msgs_per_s = elapsed > 0 ? static_cast<double>(shared.completed) / elapsed : 0;
  // tool_cpu_s: the whole run, connects included; pub_*: from the last CONNACK to the end.
  std::printf("{\"messages\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"mb_per_s\":%.2f,"
              "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"tool_cpu_s\":%.3f,"
              "\"pub_tool_cpu_s\":%.3f%s,\"error\":\"%s\"}\n",
              static_cast<unsigned long long>(shared.completed), elapsed, msgs_per_s,
              msgs_per_s * static_cast<double>(o.size) / 1e6, pct(0.5), pct(0.99), pct(0.999), cpu,
              began ? publishing.tool : 0,
              BrokerCpu("pub_broker_cpu_s", began ? publishing.broker : -1).c_str(), shared.error.c_str());
  return shared.error.empty() && shared.completed > 0 ? 0 : 1;
}
