#include "hubservice/cluster_sessions.h"

#include <charconv>
#include <chrono>

#include "common/encoding.h"
#include "common/log.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kChannel = "coffre_sessions";

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<ClusterSessions>> ClusterSessions::Start(pgstore::PgPool& pool,
                                                                const std::string& conninfo,
                                                                std::string node_id,
                                                                hub::HubKeys& keys,
                                                                hub::DeviceConnections& connections) {
  std::unique_ptr<ClusterSessions> sessions(
      new ClusterSessions(pool, std::move(node_id), keys, connections));
  ClusterSessions* s = sessions.get();
  pgstore::PgListenerOptions listen;
  listen.conninfo = conninfo;
  listen.channels = {kChannel};
  listen.on_notify = [s](const pgstore::PgNotification& n) { s->Notified(n); };
  listen.on_resync = [s] { s->Resync(); };
  COFFRE_ASSIGN_OR_RETURN(sessions->listener_, pgstore::PgListener::Start(std::move(listen)));
  sessions->worker_ = std::thread([s] { s->Run(); });
  connections.SetObserver({[s](const std::string& key, uint64_t token) { s->Taken(key, token); },
                           [s](const std::string& key, uint64_t token) { s->Released(key, token); }});
  return sessions;
}

ClusterSessions::~ClusterSessions() {
  connections_.SetObserver({});
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  listener_.reset();
}

uint64_t ClusterSessions::taken_over() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_over_;
}

void ClusterSessions::Taken(const std::string& key, uint64_t token) {
  const int64_t since = NowMicros();
  Result<Bytes> mac = keys_.Hmac("session-names", key);
  if (!mac.has_value()) return;  // keys locked: the connection is refused anyway
  std::string digest = HexEncode(ByteSpan(*mac).first(16));
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_[key] = Held{digest, token, since};
    by_digest_[digest] = key;
    to_announce_.emplace_back(std::move(digest), since);
  }
  work_cv_.notify_one();
}

void ClusterSessions::Released(const std::string& key, uint64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end() || it->second.token != token) return;
  by_digest_.erase(it->second.digest);
  held_.erase(it);
}

// "DIGEST SINCE_US NODE"
void ClusterSessions::Notified(const pgstore::PgNotification& n) {
  std::string_view p = n.payload;
  size_t a = p.find(' ');
  size_t b = a == p.npos ? p.npos : p.find(' ', a + 1);
  if (b == p.npos) return;
  std::string_view node = p.substr(b + 1);
  if (node == node_id_) return;
  int64_t since = 0;
  std::string_view number = p.substr(a + 1, b - a - 1);
  if (std::from_chars(number.data(), number.data() + number.size(), since).ec != std::errc()) {
    return;
  }
  std::string key;
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto d = by_digest_.find(std::string(p.substr(0, a)));
    if (d == by_digest_.end()) return;
    const Held& h = held_[d->second];
    bool older = h.since_us < since || (h.since_us == since && node_id_ < node);
    if (!older) return;  // this node's connection is the newer: the other node closes its own
    key = d->second;
    token = h.token;
  }
  if (connections_.KickIf(key, token)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++taken_over_;
  }
}

void ClusterSessions::Resync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    resync_ = true;
  }
  work_cv_.notify_one();
}

Status ClusterSessions::Announce(const std::string& digest, int64_t since_us) {
  return pgstore::PgNotify(pool_, kChannel,
                           digest + " " + std::to_string(since_us) + " " + node_id_);
}

void ClusterSessions::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || resync_ || !to_announce_.empty(); });
    if (stopping_) return;
    std::vector<std::pair<std::string, int64_t>> batch;
    if (resync_) {  // every connection held, again
      resync_ = false;
      to_announce_.clear();
      for (const auto& [key, h] : held_) batch.emplace_back(h.digest, h.since_us);
    } else {
      batch.push_back(std::move(to_announce_.front()));
      to_announce_.pop_front();
    }
    lock.unlock();
    for (const auto& [digest, since] : batch) {
      if (Status sent = Announce(digest, since); !sent.ok()) {
        LogLine(LogLevel::kWarning, "sessions", "a connection could not be announced to the "
                                                "other hub nodes: " + sent.message());
      }
    }
    lock.lock();
  }
}

}  // namespace coffre::hubservice
