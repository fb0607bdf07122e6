#include "hubservice/status_board.h"

#include "common/clock.h"
#include "common/metrics/build_info.h"
#include "common/time_format.h"

namespace coffre::hubservice {
namespace {

using nlohmann::json;

int64_t NowMs() { return SystemClock().NowMillis(); }

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

StatusBoard::StatusBoard(StatusSources sources)
    : sources_(std::move(sources)), started_ms_(NowMs()) {}

StatusBoard::~StatusBoard() { Stop(); }

void StatusBoard::Start() {
  Sample(NowMs());
  thread_ = std::thread([this] { Run(); });
}

void StatusBoard::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusBoard::Run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
    lock.unlock();
    Sample(NowMs());
    lock.lock();
  }
}

void StatusBoard::Sample(int64_t now_ms) {
  timeline_.Record(sources_.monitor.status(), now_ms);
  uint64_t devices = 0;
  for (size_t i = 0; i < hub::kProtocols; ++i) {
    auto p = static_cast<hub::Protocol>(i);
    if (p == hub::Protocol::kHttps) continue;
    devices += static_cast<uint64_t>(sources_.metrics.protocol(p).authenticated().value());
  }
  traffic_.Add(now_ms, sources_.metrics.messages_stored.value(),
               sources_.metrics.ack_latency.Read(), devices);
}

void StatusBoard::KeyChanged(const hub::EncryptionStatus& status) {
  timeline_.Record(status, NowMs());
}

std::optional<json> StatusBoard::Inaccessible() const {
  hub::EncryptionStatus s = sources_.monitor.status();
  if (s.accessible) return std::nullopt;
  return json{{"state", "Inaccessible"}, {"reason", s.reason}, {"since", FormatIsoTime(s.since_ms)}};
}

json StatusBoard::Data() const {
  hub::EncryptionStatus s = sources_.monitor.status();
  hub::EncryptionSettings settings = sources_.config.Get();
  json key = {{"state", s.accessible ? "Accessible" : "Inaccessible"},
              {"reason", s.reason},
              {"since", FormatIsoTime(s.since_ms)},
              {"lastGoodCheck", s.last_good_ms > 0 ? json(FormatIsoTime(s.last_good_ms)) : json(nullptr)},
              {"mode", settings.customer_managed() ? "customer-managed" : "service-managed"},
              {"keyUri", settings.key_uri},
              {"keyId", s.key_id}};
  json timeline = json::array();
  for (const hub::KeyEvent& e : timeline_.Events()) {
    timeline.push_back({{"time", FormatIsoTime(e.time_ms)},
                        {"event", e.kind},
                        {"reason", e.reason},
                        {"keyId", e.key_id}});
  }
  json traffic = json::array();
  for (const hub::TrafficSample& t : traffic_.Samples()) {
    traffic.push_back({{"time", FormatIsoTime(t.time_ms)},
                       {"messagesPerSecond", t.messages_per_second},
                       {"ackP50Ms", Optional(t.ack_p50_ms)},
                       {"ackP99Ms", Optional(t.ack_p99_ms)},
                       {"connectedDevices", t.connections}});
  }
  json connections = json::object();
  for (size_t i = 0; i < hub::kProtocols; ++i) {
    auto p = static_cast<hub::Protocol>(i);
    hub::ProtocolMetrics& m = sources_.metrics.protocol(p);
    bool https = p == hub::Protocol::kHttps;
    connections[std::string(hub::ProtocolLabel(p))] = {
        {"open", https ? static_cast<double>(sources_.https_connections()) : m.open().value()},
        {"authenticated", https ? 0.0 : m.authenticated().value()}};
  }
  json partitions = json::array();
  for (int p = 0; p < sources_.store.partitions(); ++p) {
    partitions.push_back({{"id", p},
                          {"beginSequence", sources_.store.begin_sequence(p)},
                          {"endSequence", sources_.store.end_sequence(p)},
                          {"diskBytes", sources_.store.disk_bytes(p)}});
  }
  return {{"hub", sources_.hub_name},
          {"version", std::string(metrics::Version())},
          {"time", FormatIsoTime(NowMs())},
          {"startedAt", FormatIsoTime(started_ms_)},
          {"key", key},
          {"timeline", timeline},
          {"traffic", traffic},
          {"messagesStored", sources_.metrics.messages_stored.value()},
          {"connections", connections},
          {"partitions", partitions}};
}

}  // namespace coffre::hubservice
