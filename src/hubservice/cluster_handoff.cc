#include "hubservice/cluster_handoff.h"

#include "common/clock.h"
#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/log.h"
#include "crypto/random.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kHandoffChannel = "coffre_handoff";

}  // namespace

Result<std::unique_ptr<ClusterHandoff>> ClusterHandoff::Start(
    const ClusterLink& link, storage::KvStore& kv, hub::HubKeys& keys, Receiver receive) {
  std::unique_ptr<ClusterHandoff> handoff(new ClusterHandoff(link, kv, keys, std::move(receive)));
  ClusterHandoff* h = handoff.get();
  // What was sent to this node while it was not running ended long ago.
  std::vector<std::string> left;
  COFFRE_RETURN_IF_ERROR(kv.Scan(h->Inbox(), [&](std::string_view key, ByteSpan) {
    left.emplace_back(key);
    return true;
  }));
  for (const std::string& row : left) COFFRE_RETURN_IF_ERROR(kv.Delete(row, /*sync=*/false));
  pgstore::PgListenerOptions listen = link.Listen({kHandoffChannel});
  listen.on_notify = [h](const pgstore::PgNotification& n) {
    // "TO_NODE ID": only this node's, and only an id (hex) goes into a row name.
    std::string_view p = n.payload;
    size_t space = p.find(' ');
    if (space == p.npos || p.substr(0, space) != h->node_id_) return;
    std::string_view id = p.substr(space + 1);
    if (id.empty() || id.size() > 64 || id.find_first_not_of("0123456789abcdef") != id.npos) return;
    {
      std::lock_guard<std::mutex> lock(h->mu_);
      h->arrived_.push_back(h->Inbox() + std::string(id));
    }
    h->cv_.notify_one();
  };
  listen.on_resync = [h] {
    {
      std::lock_guard<std::mutex> lock(h->mu_);
      h->read_inbox_ = true;
    }
    h->cv_.notify_one();
  };
  COFFRE_ASSIGN_OR_RETURN(handoff->listener_, pgstore::PgListener::Start(std::move(listen)));
  handoff->thread_ = std::thread([h] { h->Run(); });
  return handoff;
}

ClusterHandoff::~ClusterHandoff() {
  std::deque<Outgoing> unsent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  listener_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    unsent.swap(outgoing_);
  }
  for (Outgoing& out : unsent) {
    if (out.failed) out.failed(Unavailable("the hub node is stopping"));
  }
}

void ClusterHandoff::Send(std::string to, nlohmann::json record, int64_t until_ms,
                          std::function<void(const Status&)> failed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      outgoing_.push_back({std::move(to), std::move(record), until_ms, std::move(failed)});
      cv_.notify_one();
      return;
    }
  }
  if (failed) failed(Unavailable("the hub node is stopping"));
}

uint64_t ClusterHandoff::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

uint64_t ClusterHandoff::dropped_late() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_late_;
}

Status ClusterHandoff::Write(const Outgoing& out) {
  Bytes drawn(16);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(drawn));
  const std::string id = HexEncode(drawn);
  const std::string row = "cluster-handoff/" + out.to + "/" + id;
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(hub::kRegistryScope));
  }
  nlohmann::json sealed_part = {{"until_ms", out.until_ms}, {"record", out.record}};
  std::string text = sealed_part.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  COFFRE_ASSIGN_OR_RETURN(Bytes envelope, writer_->Seal(AsBytes(row), AsBytes(text)));
  COFFRE_RETURN_IF_ERROR(kv_.Put(row, envelope, /*sync=*/false));
  return link_.Notify(kHandoffChannel, out.to + " " + id);
}

void ClusterHandoff::Take(const std::string& row) {
  Result<Bytes> sealed = kv_.Get(row);
  if (!sealed.has_value()) return;  // taken already (a resync read it too)
  (void)kv_.Delete(row, /*sync=*/false);
  Result<Bytes> plain = keys_.Open(*sealed, AsBytes(row));
  if (!plain.has_value()) {
    LogLine(LogLevel::kWarning, "cluster", "a hand-off from another node did not open: dropped");
    return;
  }
  Result<nlohmann::json> parsed = ParseJsonObject(AsChars(*plain), "a hand-off");
  Result<JsonFields> fields = parsed.has_value() ? JsonFields::Of(*parsed) : parsed.error();
  Result<int64_t> until =
      fields.has_value() ? fields->Required<int64_t>("until_ms") : fields.error();
  Result<JsonFields> record =
      until.has_value() ? fields->Required<JsonFields>("record") : until.error();
  if (!record.has_value()) {
    LogLine(LogLevel::kWarning, "cluster",
            "a hand-off from another node was not read: " + record.error().message());
    return;
  }
  const bool late = *until < SystemClock().NowMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++(late ? dropped_late_ : received_);
  }
  if (!late) receive_(record->object());
}

void ClusterHandoff::ReadInbox() {
  std::vector<std::string> rows;
  Status scanned = kv_.Scan(Inbox(), [&](std::string_view key, ByteSpan) {
    rows.emplace_back(key);
    return true;
  });
  if (!scanned.ok()) return;  // read again at the next reconnection
  for (const std::string& row : rows) Take(row);
}

void ClusterHandoff::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock,
             [&] { return stopping_ || read_inbox_ || !arrived_.empty() || !outgoing_.empty(); });
    if (stopping_) return;
    if (read_inbox_) {
      read_inbox_ = false;
      lock.unlock();
      ReadInbox();
    } else if (!arrived_.empty()) {
      std::string row = std::move(arrived_.front());
      arrived_.pop_front();
      lock.unlock();
      Take(row);
    } else {
      Outgoing out = std::move(outgoing_.front());
      outgoing_.pop_front();
      lock.unlock();
      if (Status written = Write(out); !written.ok() && out.failed) out.failed(written);
    }
    lock.lock();
  }
}

}  // namespace coffre::hubservice
