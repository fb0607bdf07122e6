#include "load_storm.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>

namespace coffre::load {

namespace asio = boost::asio;

bool WriteSessions(const std::string& path, const std::vector<SessionPtr>& sessions) {
  std::ofstream out(path, std::ios::trunc);
  if (!out || chmod(path.c_str(), 0600) != 0) return false;
  static constexpr char kHex[] = "0123456789abcdef";
  for (const SessionPtr& s : sessions) {
    int n = s ? i2d_SSL_SESSION(s.get(), nullptr) : 0;
    std::vector<unsigned char> der(static_cast<size_t>(std::max(n, 0)));
    unsigned char* p = der.data();
    if (n > 0) i2d_SSL_SESSION(s.get(), &p);
    for (unsigned char b : der) out << kHex[b >> 4] << kHex[b & 15];
    out << '\n';
  }
  return static_cast<bool>(out.flush());
}

std::vector<SessionPtr> ReadSessions(const std::string& path) {
  std::ifstream in(path);
  std::vector<SessionPtr> sessions;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::string line; std::getline(in, line);) {
    std::vector<unsigned char> der;
    for (size_t i = 0; i + 1 < line.size(); i += 2) {
      der.push_back(static_cast<unsigned char>(nibble(line[i]) << 4 | nibble(line[i + 1])));
    }
    const unsigned char* p = der.data();
    sessions.emplace_back(der.empty() ? nullptr : d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.size())));
  }
  return sessions;
}

StormRound RunStormRound(const Options& o, asio::ssl::context& ctx,
                         const std::vector<Identity>& identities, const asio::ip::tcp::endpoint& endpoint,
                         const std::vector<SessionPtr>& present, std::vector<SessionPtr>* keep) {
  StormRound round;
  round.cpu.pid = o.broker_pid;
  // A context per round: destroying it drops the round's pending handlers unrun, so none of them
  // outlives `shared`. Declared first, it goes last, after the clients it served.
  asio::io_context ioc(1);
  Shared shared(o, ioc);
  shared.publish = false;
  std::vector<std::shared_ptr<Client>> clients;
  clients.reserve(identities.size());
  for (size_t i = 0; i < identities.size(); ++i) {
    SSL_SESSION* session = i < present.size() ? present[i].get() : nullptr;
    clients.push_back(std::make_shared<Client>(ioc, ctx, shared, static_cast<int>(i), identities[i], session));
  }
  size_t started = 0;
  auto start_one = [&] {
    if (started < clients.size()) clients[started++]->Start(endpoint);
  };
  shared.on_resume_refused = [&](int index, const std::string& why) {
    if (round.refused++ == 0) round.refusal = identities[static_cast<size_t>(index)].id + ": TLS: " + why;
    auto& c = clients[static_cast<size_t>(index)];
    c = std::make_shared<Client>(ioc, ctx, shared, index, identities[static_cast<size_t>(index)]);
    c->Start(endpoint);
  };
  Clock::time_point begin;
  shared.on_connack = [&] {
    start_one();
    if (shared.connected == static_cast<int>(clients.size())) {
      round.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
      round.cpu.End();
      ioc.stop();
    }
  };
  asio::steady_timer bound(ioc, std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds)));
  bound.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    if (shared.error.empty()) shared.error = "not all connected within --seconds";
    ioc.stop();
  });
  round.cpu.Begin();
  begin = Clock::now();
  for (int i = 0; i < o.connecting; ++i) start_one();
  ioc.run();
  bound.cancel();
  round.connected = shared.connected;
  round.resumed = shared.resumed;
  round.error = shared.error;
  if (!round.error.empty()) return round;
  if (keep != nullptr) {
    keep->clear();
    for (auto& c : clients) {
      keep->push_back(c->TakeSession());
      if (keep->back() && SSL_SESSION_is_resumable(keep->back().get()) == 1) ++round.sessions_kept;
    }
  }
  // Every client leaves (DISCONNECT, then close), so the next round starts from none connected.
  shared.stopping = true;
  size_t closed = 0;
  for (auto& c : clients) {
    c->Disconnect([&] {
      if (++closed == clients.size()) ioc.stop();
    });
  }
  bound.expires_after(std::chrono::seconds(10));
  bound.async_wait([&](boost::system::error_code ec) {
    if (!ec) ioc.stop();
  });
  ioc.restart();
  ioc.run();
  return round;
}

}  // namespace coffre::load
