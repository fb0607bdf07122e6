#include "hubservice/cluster_sessions.h"

#include <charconv>
#include <chrono>

#include "common/encoding.h"
#include "common/log.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kSessionsChannel = "coffre_sessions";
constexpr const char* kC2dChannel = "coffre_c2d";
constexpr const char* kIdentitiesChannel = "coffre_identities";

// An identity key ("device" or "device/module", DeviceConnections') as its two ids.
std::pair<std::string, std::optional<std::string>> SplitKey(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return {key, std::nullopt};
  return {key.substr(0, slash), key.substr(slash + 1)};
}
// Notifications waiting together go as one NOTIFY per channel, their lines joined by '\n', each
// payload under PostgreSQL's limit of 8000 bytes: a connect storm, or a node announcing every
// connection again, sends a few notifications, not one per device.
constexpr size_t kMaxPayload = 7000;

}  // namespace

std::vector<std::string> ClusterSessions::Pack(const std::vector<std::string>& lines) {
  std::vector<std::string> payloads;
  for (const std::string& line : lines) {
    if (payloads.empty() || payloads.back().size() + 1 + line.size() > kMaxPayload) {
      payloads.push_back(line);
    } else {
      payloads.back() += '\n';
      payloads.back() += line;
    }
  }
  return payloads;
}

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<ClusterSessions>> ClusterSessions::Start(
    const ClusterLink& link, hub::HubKeys& keys, hub::DeviceConnections& connections,
    hub::Registry& registry) {
  std::unique_ptr<ClusterSessions> sessions(
      new ClusterSessions(link, keys, connections, registry));
  ClusterSessions* s = sessions.get();
  pgstore::PgListenerOptions listen =
      link.Listen({kSessionsChannel, kC2dChannel, kIdentitiesChannel});
  listen.on_notify = [s](const pgstore::PgNotification& n) { s->Notified(n); };
  listen.on_resync = [s] { s->Resync(); };
  COFFRE_ASSIGN_OR_RETURN(sessions->listener_, pgstore::PgListener::Start(std::move(listen)));
  sessions->worker_ = std::thread([s] { s->Run(); });
  connections.SetObserver({[s](const std::string& key, uint64_t token) { s->Taken(key, token); },
                           [s](const std::string& key, uint64_t token) { s->Released(key, token); }});
  registry.AddListener(*s);
  return sessions;
}

ClusterSessions::~ClusterSessions() {
  registry_.RemoveListener(*this);
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

Result<std::string> ClusterSessions::Digest(const std::string& key) const {
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, keys_.Hmac("session-names", key));
  return HexEncode(ByteSpan(mac).first(16));
}

void ClusterSessions::Send(std::string channel, std::string payload) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_send_.emplace_back(std::move(channel), std::move(payload));
  }
  work_cv_.notify_one();
}

void ClusterSessions::Taken(const std::string& key, uint64_t token) {
  const int64_t since = NowMicros();
  Result<std::string> digest = Digest(key);
  Result<std::string> device_digest = Digest(SplitKey(key).first);
  // Keys locked: the connection is refused anyway.
  if (!digest.has_value() || !device_digest.has_value()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_[key] = Held{*digest, *device_digest, token, since};
    by_digest_[*digest] = key;
    by_device_digest_[*device_digest].insert(key);
  }
  Send(kSessionsChannel, *digest + " " + std::to_string(since) + " " + node_id_);
}

void ClusterSessions::SetC2dWaiting(std::function<void(const std::string& device_id)> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  c2d_waiting_ = std::move(wake);
}

void ClusterSessions::C2dQueued(const std::string& device_id) {
  Result<std::string> digest = Digest(device_id);
  if (digest.has_value()) Send(kC2dChannel, *digest);
}

void ClusterSessions::Released(const std::string& key, uint64_t token) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end() || it->second.token != token) return;
  to_send_.emplace_back(kSessionsChannel, it->second.digest + " - " + node_id_);
  work_cv_.notify_one();
  by_digest_.erase(it->second.digest);
  auto device = by_device_digest_.find(it->second.device_digest);
  if (device != by_device_digest_.end()) {
    device->second.erase(key);
    if (device->second.empty()) by_device_digest_.erase(device);
  }
  held_.erase(it);
}

// "DEVICE_DIGEST" for a device's change, "DEVICE_DIGEST MODULE_DIGEST" for a module's.
void ClusterSessions::IdentityChanged(const std::string& device_id,
                                      const std::optional<std::string>& module_id) {
  Result<std::string> device = Digest(device_id);
  if (!device.has_value()) return;  // keys locked: no connection is open
  std::string line = *device;
  if (module_id) {
    Result<std::string> module = Digest(device_id + "/" + *module_id);
    if (!module.has_value()) return;
    line += " " + *module;
  }
  Send(kIdentitiesChannel, std::move(line));
}

void ClusterSessions::IdentityChangedElsewhere(std::string_view line) {
  size_t space = line.find(' ');
  std::optional<std::pair<std::string, std::optional<std::string>>> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (space == line.npos) {  // the device (its modules too): if any of them is held here
      auto d = by_device_digest_.find(std::string(line));
      if (d == by_device_digest_.end() || d->second.empty()) return;
      changed.emplace(SplitKey(*d->second.begin()).first, std::nullopt);
    } else {
      auto m = by_digest_.find(std::string(line.substr(space + 1)));
      if (m == by_digest_.end()) return;
      changed = SplitKey(m->second);
    }
  }
  registry_.ChangedElsewhere(changed->first, changed->second, this);
}

void ClusterSessions::RecheckAll() {
  std::set<std::string> devices;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, h] : held_) devices.insert(SplitKey(key).first);
  }
  for (const std::string& device : devices) registry_.ChangedElsewhere(device, std::nullopt, this);
}

void ClusterSessions::Notified(const pgstore::PgNotification& n) {
  std::string_view payload = n.payload;
  while (!payload.empty()) {
    size_t end = payload.find('\n');
    NotifiedLine(n.channel, payload.substr(0, end));
    payload = end == payload.npos ? std::string_view() : payload.substr(end + 1);
  }
}

std::optional<std::string> ClusterSessions::HolderOf(const std::string& key) const {
  Result<std::string> digest = Digest(key);
  if (!digest.has_value()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto h = elsewhere_.find(*digest);
  if (h == elsewhere_.end() || !live_.contains(h->second.node)) return std::nullopt;
  return h->second.node;
}

void ClusterSessions::SetTakenElsewhere(std::function<void(const std::string& digest)> taken) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_elsewhere_ = std::move(taken);
}

void ClusterSessions::SetLiveNodesCounted(std::function<void(size_t nodes)> counted) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_nodes_counted_ = std::move(counted);
    next_refresh_ = std::chrono::steady_clock::now();  // told at once, not at the next reading
  }
  work_cv_.notify_one();
}

void ClusterSessions::HeldElsewhere(const std::string& digest, std::string_view node,
                                    int64_t since_us) {
  std::function<void(const std::string&)> taken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_[std::string(node)] = std::chrono::steady_clock::now();
    Holder& h = elsewhere_[digest];
    if (h.node.empty() || since_us >= h.since_us) h = Holder{std::string(node), since_us};
    taken = taken_elsewhere_;
  }
  if (taken) taken(digest);
}

void ClusterSessions::EndedElsewhere(const std::string& digest, std::string_view node) {
  std::lock_guard<std::mutex> lock(mu_);
  auto h = elsewhere_.find(digest);
  if (h != elsewhere_.end() && h->second.node == node) elsewhere_.erase(h);
}

// Nodes confirmed before the list was read and missing from it have stopped; those announcing
// since are kept (they registered before they announced).
void ClusterSessions::RefreshLiveNodes() {
  const auto asked = std::chrono::steady_clock::now();
  Result<std::vector<std::string>> running = link_.live_nodes();
  if (!running.has_value()) return;  // the store unreachable: keep what is known
  std::function<void(size_t)> counted;
  size_t nodes = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& node : *running) {
      auto& seen = live_[node];
      seen = std::max(seen, asked);
    }
    std::erase_if(live_, [&](const auto& node) { return node.second < asked; });
    std::erase_if(elsewhere_, [&](const auto& h) { return !live_.contains(h.second.node); });
    counted = live_nodes_counted_;
    nodes = std::max<size_t>(1, running->size());
  }
  if (counted) counted(nodes);
}

// coffre_sessions: "DIGEST SINCE_US NODE" (taken), "DIGEST - NODE" (ended), "? NODE" (announce
// again); coffre_c2d: "DIGEST".
void ClusterSessions::NotifiedLine(std::string_view channel, std::string_view p) {
  if (channel == kIdentitiesChannel) return IdentityChangedElsewhere(p);
  if (channel == kC2dChannel) {
    std::string device_id;
    std::function<void(const std::string&)> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto d = by_digest_.find(std::string(p));
      if (d == by_digest_.end()) return;
      device_id = d->second;
      wake = c2d_waiting_;
    }
    if (wake) wake(device_id);
    return;
  }
  if (p.starts_with("? ")) {
    if (p.substr(2) == node_id_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      announce_all_ = true;
    }
    work_cv_.notify_one();
    return;
  }
  size_t a = p.find(' ');
  size_t b = a == p.npos ? p.npos : p.find(' ', a + 1);
  if (b == p.npos) return;
  std::string_view node = p.substr(b + 1);
  if (node == node_id_) return;
  if (p.substr(a + 1, b - a - 1) == "-") return EndedElsewhere(std::string(p.substr(0, a)), node);
  int64_t since = 0;
  std::string_view number = p.substr(a + 1, b - a - 1);
  if (std::from_chars(number.data(), number.data() + number.size(), since).ec != std::errc()) {
    return;
  }
  HeldElsewhere(std::string(p.substr(0, a)), node, since);
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

namespace {
// How often a node reads which nodes run, to forget the holders on a stopped one.
constexpr std::chrono::seconds kLiveNodesEvery{3};
}  // namespace

void ClusterSessions::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  next_refresh_ = std::chrono::steady_clock::now();
  for (;;) {
    work_cv_.wait_until(lock, next_refresh_, [&] {
      return stopping_ || resync_ || announce_all_ || !to_send_.empty() ||
             std::chrono::steady_clock::now() >= next_refresh_;
    });
    if (stopping_) return;
    if (std::chrono::steady_clock::now() >= next_refresh_) {
      lock.unlock();
      RefreshLiveNodes();
      lock.lock();
      next_refresh_ = std::chrono::steady_clock::now() + kLiveNodesEvery;
      continue;
    }
    std::map<std::string, std::vector<std::string>> lines;  // by channel
    const bool resync = resync_;
    // This node's listener (re)connected: it asks the others for what they hold, which it may
    // have missed, and announces its own again, as it does when another node asks.
    if (resync_) lines[kSessionsChannel].push_back("? " + node_id_);
    if (resync_ || announce_all_) {
      for (const auto& [key, h] : held_) {
        lines[kSessionsChannel].push_back(h.digest + " " + std::to_string(h.since_us) + " " +
                                          node_id_);
      }
    }
    resync_ = announce_all_ = false;
    for (auto& [channel, line] : to_send_) lines[channel].push_back(std::move(line));
    to_send_.clear();
    lock.unlock();
    if (resync) RecheckAll();  // identity changes this node may have missed
    for (const auto& [channel, each] : lines) {
      for (const std::string& payload : Pack(each)) {
        if (Status sent = link_.Notify(channel, payload); !sent.ok()) {
          LogLine(LogLevel::kWarning, "sessions", "the other hub nodes could not be told (" +
                                                      channel + "): " + sent.message());
        }
      }
    }
    lock.lock();
  }
}

}  // namespace coffre::hubservice
