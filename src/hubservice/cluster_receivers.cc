#include "hubservice/cluster_receivers.h"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/log.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kReceiversChannel = "coffre_eh_receivers";

}  // namespace

Result<std::unique_ptr<ClusterReceivers>> ClusterReceivers::Start(const ClusterLink& link,
                                                                  storage::KvStore& kv,
                                                                  hub::HubKeys& keys) {
  std::unique_ptr<ClusterReceivers> r(new ClusterReceivers(link, kv, keys));
  ClusterReceivers* self = r.get();
  pgstore::PgListenerOptions listen = link.Listen({kReceiversChannel});
  listen.on_notify = [self](const pgstore::PgNotification& n) { self->Notified(n.payload); };
  listen.on_resync = [self] {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->resync_ = true;
    }
    self->cv_.notify_one();
  };
  COFFRE_ASSIGN_OR_RETURN(r->listener_, pgstore::PgListener::Start(std::move(listen)));
  r->thread_ = std::thread([self] { self->Run(); });
  return r;
}

ClusterReceivers::~ClusterReceivers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  listener_.reset();
}

void ClusterReceivers::SetReceivers(amqp::EventHubReceivers* receivers) {
  std::lock_guard<std::mutex> lock(mu_);
  receivers_ = receivers;
}

Result<std::string> ClusterReceivers::RowOf(const std::string& key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, keys_.Hmac("eh-receiver-names", key));
  std::string digest = HexEncode(ByteSpan(mac).first(16));
  std::lock_guard<std::mutex> lock(mu_);
  keys_by_digest_[digest] = key;  // a group and partition this node serves: few
  return "eh-epochs/" + digest;
}

Result<std::optional<ClusterReceivers::Held>> ClusterReceivers::Parse(const Result<Bytes>& stored) {
  if (!stored.has_value()) {
    if (stored.error().code() == StatusCode::kNotFound) return std::optional<Held>();
    return stored.error();
  }
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json record, ParseJsonObject(AsChars(*stored), "an epoch row"));
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  Held held;
  COFFRE_ASSIGN_OR_RETURN(held.epoch, f.Required<int64_t>("epoch"));
  COFFRE_ASSIGN_OR_RETURN(held.node, f.Required<std::string>("node"));
  return std::optional<Held>(std::move(held));
}

bool ClusterReceivers::HeldByAnotherLiveNode(const std::optional<Held>& held,
                                             const std::vector<std::string>& live) const {
  return held && held->node != link_.node_id &&
         std::find(live.begin(), live.end(), held->node) != live.end();
}

Result<std::optional<int64_t>> ClusterReceivers::Claim(const std::string& key, int64_t epoch) {
  COFFRE_ASSIGN_OR_RETURN(const std::string row, RowOf(key));
  // Read before the transaction, which must not wait for the store's other connections.
  COFFRE_ASSIGN_OR_RETURN(const std::vector<std::string> live, link_.live_nodes());
  std::optional<int64_t> refused;
  Status claimed = kv_.Transact(
      {row},
      [&](storage::KvTxn& txn) -> Status {
        refused.reset();
        COFFRE_ASSIGN_OR_RETURN(std::optional<Held> held, Parse(txn.Get(row)));
        if (HeldByAnotherLiveNode(held, live) && held->epoch > epoch) {
          refused = held->epoch;
          return Status::Ok();
        }
        txn.Put(row, AsBytes(nlohmann::json{{"epoch", epoch}, {"node", link_.node_id}}.dump()));
        return Status::Ok();
      },
      /*sync=*/false);
  COFFRE_RETURN_IF_ERROR(claimed);
  if (refused) return refused;
  const std::string digest = row.substr(row.find('/') + 1);
  Status told = link_.Notify(kReceiversChannel, digest + " " + std::to_string(epoch) + " " + link_.node_id);
  if (!told.ok()) {
    // The others find out at their listener's next resync; until then two may read.
    LogLine(LogLevel::kWarning, "amqp",
            "the other hub nodes could not be told of an epoch "
            "receiver: " +
                told.message());
  }
  return std::optional<int64_t>();
}

Result<std::optional<int64_t>> ClusterReceivers::HeldElsewhere(const std::string& key) {
  COFFRE_ASSIGN_OR_RETURN(const std::string row, RowOf(key));
  COFFRE_ASSIGN_OR_RETURN(std::optional<Held> held, Parse(kv_.Get(row)));
  if (!held) return std::optional<int64_t>();
  COFFRE_ASSIGN_OR_RETURN(const std::vector<std::string> live, link_.live_nodes());
  if (!HeldByAnotherLiveNode(held, live)) return std::optional<int64_t>();
  return std::optional<int64_t>(held->epoch);
}

void ClusterReceivers::Released(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    released_.push_back(key);
  }
  cv_.notify_one();
}

// "DIGEST EPOCH NODE": another node's receiver took the group and partition.
void ClusterReceivers::Notified(std::string_view p) {
  size_t a = p.find(' ');
  size_t b = a == p.npos ? p.npos : p.find(' ', a + 1);
  if (b == p.npos || p.substr(b + 1) == link_.node_id) return;
  int64_t epoch = 0;
  std::string_view number = p.substr(a + 1, b - a - 1);
  if (std::from_chars(number.data(), number.data() + number.size(), epoch).ec != std::errc()) {
    return;
  }
  std::string key;
  amqp::EventHubReceivers* receivers = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto k = keys_by_digest_.find(std::string(p.substr(0, a)));
    if (k == keys_by_digest_.end() || receivers_ == nullptr) return;
    key = k->second;
    receivers = receivers_;
  }
  receivers->TakenElsewhere(key, epoch);
}

// Each group and partition this node serves, against its row: what another running node holds
// now detaches this node's receivers it would have detached.
void ClusterReceivers::Resync() {
  std::map<std::string, std::string> keys;
  amqp::EventHubReceivers* receivers = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys = keys_by_digest_;
    receivers = receivers_;
  }
  if (receivers == nullptr || keys.empty()) return;
  Result<std::vector<std::string>> live = link_.live_nodes();
  if (!live.has_value()) return;  // the store unreachable: the next reconnection reads again
  for (const auto& [digest, key] : keys) {
    Result<std::optional<Held>> held = Parse(kv_.Get("eh-epochs/" + digest));
    if (!held.has_value()) return;
    if (HeldByAnotherLiveNode(*held, *live)) receivers->TakenElsewhere(key, (*held)->epoch);
  }
}

void ClusterReceivers::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || resync_ || !released_.empty(); });
    if (stopping_) return;
    if (resync_) {
      resync_ = false;
      lock.unlock();
      Resync();
      lock.lock();
      continue;
    }
    std::string key = std::move(released_.front());
    released_.pop_front();
    lock.unlock();
    // The row is cleared if this node still holds it (another may have taken it since).
    Result<std::string> row = RowOf(key);
    Status cleared = !row.has_value() ? row.error()
                                      : kv_.Transact(
                                            {*row},
                                            [&](storage::KvTxn& txn) -> Status {
                                              COFFRE_ASSIGN_OR_RETURN(std::optional<Held> held,
                                                                      Parse(txn.Get(*row)));
                                              if (held && held->node == link_.node_id)
                                                txn.Delete(*row);
                                              return Status::Ok();
                                            },
                                            /*sync=*/false);
    if (!cleared.ok()) {
      LogLine(LogLevel::kWarning, "amqp",
              "an epoch receiver's row was not cleared (a receiver "
              "without an epoch on another node is refused while "
              "this node runs): " +
                  cleared.message());
    }
    lock.lock();
  }
}

}  // namespace coffre::hubservice
