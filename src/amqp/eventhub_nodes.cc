#include "amqp/eventhub_nodes.h"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message_id.hpp>
#include <proton/codec/decoder.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/map.hpp>
#include <proton/sender.hpp>
#include <proton/source.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>

#include "amqp/claims.h"
#include "amqp/proton_util.h"
#include "amqp/request_reply.h"
#include "amqp/selector.h"
#include "common/log.h"
#include "common/numbers.h"
#include "common/strings.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"

namespace coffre::amqp {

namespace {

constexpr const char* kManagement = "$management";
constexpr auto kTailWait = std::chrono::seconds(30);
constexpr size_t kBatchMessages = 100;
constexpr size_t kBatchBytes = 1024 * 1024;

std::string NotFoundText(const std::string& entity) {
  return "The messaging entity '" + entity + "' could not be found.";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int> PartitionOf(const HubParts& hub, std::string_view text) {
  std::optional<uint64_t> p = text.size() <= 4 ? ParseUnsigned(text) : std::nullopt;
  if (!p || *p >= static_cast<uint64_t>(hub.store.partitions())) return std::nullopt;
  return static_cast<int>(*p);
}

// The group's stored name, found case-insensitively (the read API's groups).
Result<std::string> FindGroup(hub::ConsumerGroups& groups, const std::string& name) {
  Result<hub::ConsumerGroup> exact = groups.Get(name);
  if (exact.has_value()) return exact->name;
  if (exact.error().code() != StatusCode::kNotFound) return exact.error();
  COFFRE_ASSIGN_OR_RETURN(std::vector<hub::ConsumerGroup> all, groups.List());
  for (const hub::ConsumerGroup& g : all) {
    if (EqualsIgnoreCase(g.name, name)) return g.name;
  }
  return NotFound("no consumer group " + name);
}

// ---- $management -------------------------------------------------------------------------

class ManagementRequests final : public LinkNode {
 public:
  explicit ManagementRequests(LinkContext& ctx) : ctx_(ctx) {}
  std::optional<LinkError> OnAttach(const LinkRequest&) override { return std::nullopt; }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    d.accept();
    proton::value body;
    ReplyStatus status = Read(m, body);
    SendReply(ctx_, kManagement, m, status, body);
  }

 private:
  ReplyStatus Read(const proton::message& m, proton::value& body) {
    HubParts& hub = ctx_.hub();
    std::optional<std::string> operation = AppString(m, "operation");
    std::optional<std::string> type = AppString(m, "type");
    std::optional<std::string> name = AppString(m, "name");
    if (!operation || *operation != "READ" || !type || !name) {
      return {400, "Only READ of com.microsoft:eventhub or com.microsoft:partition is supported.",
              "com.microsoft:argument-error"};
    }
    if (!EqualsIgnoreCase(*name, hub.hub_name)) return {404, NotFoundText(*name), "amqp:not-found"};
    ClaimNeed need{{hub.hub_name, kManagement}, hub::kServiceConnect};
    if (!ctx_.claims().Grants(need, hub.clock.NowSeconds())) {
      return {401, "Unauthorized: put a token for the management node first.",
              "amqp:unauthorized-access"};
    }
    int partitions = hub.store.partitions();
    if (*type == "com.microsoft:eventhub") {
      std::vector<std::string> ids;
      for (int p = 0; p < partitions; ++p) ids.push_back(std::to_string(p));
      std::map<std::string, proton::value> out;
      out["name"] = hub.hub_name;
      out["type"] = std::string("com.microsoft:eventhub");
      out["created_at"] = proton::timestamp(hub.created_ms);
      out["partition_count"] = int32_t{partitions};
      out["partition_ids"] = ids;
      body = out;
      return {};
    }
    if (*type != "com.microsoft:partition") {
      return {400, "Unknown type '" + *type + "'.", "com.microsoft:argument-error"};
    }
    std::optional<std::string> id = AppString(m, "partition");
    std::optional<int> p = id ? PartitionOf(hub, *id) : std::nullopt;
    if (!p) {
      return {400,
              "The specified partition is invalid for an EventHub partition sender or receiver. "
              "It should be between 0 and " + std::to_string(partitions - 1) + ".",
              "com.microsoft:argument-out-of-range"};
    }
    uint64_t begin = hub.store.begin_sequence(*p);
    uint64_t end = hub.store.end_sequence(*p);
    std::map<std::string, proton::value> out;
    out["name"] = hub.hub_name;
    out["type"] = std::string("com.microsoft:partition");
    out["partition"] = std::to_string(*p);
    out["begin_sequence_number"] = static_cast<int64_t>(begin);
    bool empty = end <= begin;
    int64_t last_time = 0;
    if (!empty) {
      Result<std::vector<hub::StoredMessage>> last = hub.store.Read(*p, end - 1, 1, kBatchBytes);
      if (!last.has_value()) {
        return {503, "The partition cannot be read now.", "com.microsoft:server-busy"};
      }
      if (!last->empty()) last_time = last->front().message.enqueued_ms;
    }
    out["last_enqueued_sequence_number"] = empty ? int64_t{-1} : static_cast<int64_t>(end - 1);
    out["last_enqueued_offset"] = empty ? std::string("-1") : std::to_string(end - 1);
    out["last_enqueued_time_utc"] = proton::timestamp(last_time);
    out["is_partition_empty"] = empty;
    body = out;
    return {};
  }

  LinkContext& ctx_;
};

// ---- partition receivers -----------------------------------------------------------------

// The selector filter's expression, if the source has one.
std::optional<std::string> SelectorOf(const proton::sender& s) {
  try {
    proton::source::filter_map filters = s.source().filters();
    proton::symbol key("apache.org:selector-filter:string");
    if (!filters.exists(key)) return std::nullopt;
    proton::value v = filters.get(key);
    proton::codec::decoder dec(v);
    proton::codec::start st;
    dec >> st;
    if (st.type == proton::DESCRIBED) {
      proton::value descriptor;
      dec >> descriptor;
    }
    std::string expr;
    dec >> expr;
    return expr;
  } catch (const std::exception&) {
    return std::string();  // present but unreadable: refused as a bad filter
  }
}

std::optional<int64_t> EpochOf(const proton::link& link) {
  try {
    proton::map<proton::symbol, proton::value> props = link.properties();
    proton::symbol key("com.microsoft:epoch");
    if (!props.exists(key)) return std::nullopt;
    proton::value v = props.get(key);
    // The SDK sends a long; other clients other integer widths.
    switch (v.type()) {
      case proton::LONG: case proton::INT: case proton::SHORT: case proton::BYTE:
      case proton::ULONG: case proton::UINT: case proton::USHORT: case proton::UBYTE:
        return proton::coerce<int64_t>(v);
      default:
        return std::nullopt;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class PartitionReceiver final : public LinkNode {
 public:
  explicit PartitionReceiver(LinkContext& ctx)
      : ctx_(ctx), alive_(std::make_shared<bool>(true)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    HubParts& hub = ctx_.hub();
    sender_ = request.sender;
    std::vector<std::string> seg;
    for (std::string_view part : Split(request.address, '/')) seg.emplace_back(part);
    // {hub}/ConsumerGroups/{group}/Partitions/{id}
    if (seg.size() != 5 || !EqualsIgnoreCase(seg[1], "ConsumerGroups") ||
        !EqualsIgnoreCase(seg[3], "Partitions") || !EqualsIgnoreCase(seg[0], hub.hub_name)) {
      return LinkError{"amqp:not-found", NotFoundText(request.raw_address)};
    }
    ClaimNeed need{seg, hub::kServiceConnect};
    if (!ctx_.claims().Grants(need, hub.clock.NowSeconds())) {
      return LinkError{"amqp:unauthorized-access",
                       "Unauthorized access. Put a token for '" + request.raw_address + "' first."};
    }
    std::optional<int> p = PartitionOf(hub, seg[4]);
    if (!p) {
      return LinkError{"com.microsoft:argument-out-of-range",
                       "The specified partition is invalid for an EventHub partition sender or "
                       "receiver. It should be between 0 and " +
                           std::to_string(hub.store.partitions() - 1) + "."};
    }
    Result<std::string> group = FindGroup(hub.groups, seg[2]);
    if (!group.has_value()) {
      if (group.error().code() == StatusCode::kNotFound) {
        return LinkError{"amqp:not-found",
                         "The messaging entity '" + hub.hub_name + "/ConsumerGroups/" + seg[2] +
                             "' could not be found."};
      }
      return LinkError{"com.microsoft:server-busy", "The consumer group cannot be read now."};
    }
    partition_ = *p;
    std::optional<std::string> selector = SelectorOf(sender_);
    StartPosition start;  // no filter: from the end
    if (selector) {
      std::optional<StartPosition> parsed = ParseSelector(*selector);
      if (!parsed) {
        return LinkError{"amqp:invalid-field", "The selector filter is not understood."};
      }
      start = *parsed;
    }
    hub::TelemetryStore& store = hub.store;
    int partition = partition_;
    next_ = FirstSequence(start, store.begin_sequence(partition), store.end_sequence(partition),
                          [&](int64_t ms) {
                            Result<uint64_t> at = store.SeekTime(partition, ms);
                            return at.has_value() ? *at : store.end_sequence(partition);
                          });
    key_ = Lower(*group) + "/" + std::to_string(partition_);
    id_ = hub.receivers->NextId();
    auto post = ctx_.Poster();
    std::weak_ptr<bool> alive = alive_;
    proton::link link = request.link;
    std::optional<LinkError> refused = hub.receivers->Join(
        key_, id_, EpochOf(request.link), [post, alive, link] {
          post([alive, link] {
            if (alive.lock() && *alive.lock()) {
              CloseLink(link, "amqp:link:stolen",
                        "New receiver with higher epoch of the partition was created; this "
                        "receiver was disconnected.");
            }
          });
        });
    if (refused) return refused;
    joined_ = true;
    ctx_.GuardLink(request.link, std::move(need));
    return std::nullopt;
  }

  void OnSendable(proton::sender&) override { Pump(); }

  void OnDetach() override {
    *alive_ = false;
    if (joined_) ctx_.hub().receivers->Leave(key_, id_);
    joined_ = false;
  }

 private:
  void Pump() {
    if (!*alive_ || waiting_ || !sender_.active()) return;
    hub::TelemetryStore& store = ctx_.hub().store;
    while (SendCredit(sender_) > 0) {
      if (ctx_.OutputBacklogged()) {
        std::weak_ptr<bool> alive = alive_;
        return ctx_.WhenWritable([this, alive] {
          if (auto a = alive.lock(); a && *a) Pump();
        });
      }
      size_t want = std::min<size_t>(size_t{SendCredit(sender_)}, kBatchMessages);
      uint64_t begin = store.begin_sequence(partition_);
      if (next_ < begin) next_ = begin;  // retention passed the reader
      Result<std::vector<hub::StoredMessage>> batch =
          store.Read(partition_, next_, want, kBatchBytes);
      if (!batch.has_value()) {
        LogLine("amqp", "partition " + std::to_string(partition_) + " unreadable: " +
                            batch.error().message());
        if (batch.error().code() == StatusCode::kDataLoss) {
          // An integrity break: it names the records not served (no secret in it), so that the
          // consumer can move past them; retrying would meet it again.
          return CloseLink(sender_, "amqp:internal-error", batch.error().message());
        }
        return CloseLink(sender_, "com.microsoft:server-busy",
                         "The partition cannot be read now; try again later.");
      }
      if (batch->empty()) return Wait();
      hub::ProtocolMetrics* traffic = ctx_.traffic();
      for (const hub::StoredMessage& stored : *batch) {
        sender_.send(EventMessage(stored));
        next_ = stored.sequence + 1;
        if (traffic != nullptr) traffic->SentEvents(1, stored.message.body.size());
      }
    }
  }

  // Nothing new: wait for the partition to grow, without a thread.
  void Wait() {
    waiting_ = true;
    auto post = ctx_.Poster();
    std::weak_ptr<bool> alive = alive_;
    ctx_.hub().store.AwaitMessages(
        partition_, next_, std::chrono::steady_clock::now() + kTailWait,
        [post, alive, this](hub::SequenceWaiters::Wake) {
          post([alive, this] {
            if (auto a = alive.lock(); a && *a) {
              waiting_ = false;
              Pump();
            }
          });
        });
  }

  LinkContext& ctx_;
  std::shared_ptr<bool> alive_;
  proton::sender sender_;
  int partition_ = 0;
  uint64_t next_ = 0;
  bool waiting_ = false;
  bool joined_ = false;
  std::string key_;
  uint64_t id_ = 0;
};

// ---- senders to the entity: refused ------------------------------------------------------

class RefusedSender final : public LinkNode {
 public:
  std::optional<LinkError> OnAttach(const LinkRequest&) override {
    return LinkError{"amqp:not-allowed",
                     "Sending to the IoT hub's built-in Event Hubs-compatible endpoint is not "
                     "allowed."};
  }
};

// ---- the IoT Hub connection string's redirect --------------------------------------------

class Redirect final : public LinkNode {
 public:
  explicit Redirect(LinkContext& ctx) : ctx_(ctx), alive_(std::make_shared<bool>(true)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    HubParts& hub = ctx_.hub();
    ClaimNeed need{{"messages", "events"}, hub::kServiceConnect};
    if (!ctx_.claims().Grants(need, hub.clock.NowSeconds())) {
      return LinkError{"amqp:unauthorized-access", "Unauthorized access."};
    }
    std::string host = hub.host_names.empty() ? "localhost" : hub.host_names.front();
    std::string port = std::to_string(hub.amqp_port);
    std::vector<std::pair<std::string, InfoValue>> info = {
        {"hostname", {host, std::nullopt}},
        {"network-host", {host, std::nullopt}},
        {"port", {"", int32_t{hub.amqp_port}}},
        {"address", {"amqps://" + host + ":" + port + "/" + hub.hub_name + "/$management",
                     std::nullopt}}};
    proton::link link = request.link;
    std::weak_ptr<bool> alive = alive_;
    // In a later write than the attach: a client that gets both at once misses the error.
    ctx_.After(std::chrono::milliseconds(30), [link, info, alive] {
      if (auto a = alive.lock(); a && *a) {
        CloseLink(link, "amqp:link:redirect",
                  "The IoT hub's events are served by its Event Hubs-compatible endpoint.", info);
      }
    });
    return std::nullopt;
  }

  void OnDetach() override { *alive_ = false; }

 private:
  LinkContext& ctx_;
  std::shared_ptr<bool> alive_;
};

// As IoT Hub writes it; records from before the hub kept the type say "sas". The two types the
// hub records are made once, not for every event read.
std::string AuthMethodJson(const std::optional<std::string>& type) {
  auto make = [](const std::string& t) {
    nlohmann::ordered_json j = {{"scope", "device"}, {"type", t}, {"issuer", "iothub"},
                                {"acceptingIpFilterRule", nullptr}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  static const std::string sas = make("sas");
  static const std::string x509 = make("x509Certificate");
  if (!type || *type == "sas") return sas;
  if (*type == "x509Certificate") return x509;
  return make(*type);
}

}  // namespace

proton::message EventMessage(const hub::StoredMessage& stored) {
  const hub::TelemetryMessage& msg = stored.message;
  const hub::SystemProperties& s = msg.properties.system;
  proton::message m;
  m.body(proton::binary(std::string(reinterpret_cast<const char*>(msg.body.data()), msg.body.size())));
  m.inferred(true);
  proton::message::annotation_map& a = m.message_annotations();
  a.put(proton::annotation_key("x-opt-sequence-number"), static_cast<int64_t>(stored.sequence));
  a.put(proton::annotation_key("x-opt-offset"), std::to_string(stored.sequence));
  a.put(proton::annotation_key("x-opt-enqueued-time"), proton::timestamp(msg.enqueued_ms));
  a.put(proton::annotation_key("iothub-connection-device-id"), msg.device_id);
  if (stored.erased) {
    // An erased device's record: its place in the partition, no content, and what erased it.
    a.put(proton::annotation_key("iothub-enqueuedtime"), proton::timestamp(msg.enqueued_ms));
    m.properties().put("coffre-erased", true);
    m.properties().put("coffre-erased-at", proton::timestamp(stored.erased->erased_ms));
    m.properties().put("coffre-erased-by", stored.erased->erased_by);
    return m;
  }
  if (msg.module_id) a.put(proton::annotation_key("iothub-connection-module-id"), *msg.module_id);
  a.put(proton::annotation_key("iothub-connection-auth-method"), AuthMethodJson(msg.auth_type));
  if (msg.auth_generation_id && !msg.auth_generation_id->empty()) {
    a.put(proton::annotation_key("iothub-connection-auth-generation-id"), *msg.auth_generation_id);
  }
  a.put(proton::annotation_key("iothub-enqueuedtime"), proton::timestamp(msg.enqueued_ms));
  a.put(proton::annotation_key("iothub-message-source"), std::string("Telemetry"));
  if (s.interface_id) a.put(proton::annotation_key("iothub-interface-id"), *s.interface_id);
  if (s.subject) a.put(proton::annotation_key("dt-subject"), *s.subject);
  if (s.message_id) m.id(proton::message_id(*s.message_id));
  if (s.correlation_id) m.correlation_id(proton::message_id(*s.correlation_id));
  if (s.content_type) m.content_type(*s.content_type);
  if (s.content_encoding) m.content_encoding(*s.content_encoding);
  if (s.user_id) m.user(*s.user_id);
  for (const auto& [name, value] : msg.properties.application) m.properties().put(name, value);
  return m;
}

namespace {

LinkError RefusedByHigherEpoch(int64_t epoch, int64_t highest) {
  return LinkError{"amqp:link:stolen", "Receiver with epoch " + std::to_string(epoch) +
                                           " was refused: a receiver with a higher epoch '" +
                                           std::to_string(highest) + "' holds the partition."};
}

std::optional<int64_t> HighestEpoch(const std::vector<EventHubReceivers::Holder>& holders) {
  std::optional<int64_t> highest;
  for (const EventHubReceivers::Holder& h : holders) {
    if (h.epoch && (!highest || *h.epoch > *highest)) highest = h.epoch;
  }
  return highest;
}

LinkError RefusedWithoutEpoch(int64_t highest) {
  return LinkError{"amqp:link:stolen",
                   "A receiver with epoch '" + std::to_string(highest) +
                       "' holds the partition; receivers without an epoch are refused."};
}

}  // namespace

std::optional<LinkError> EventHubReceivers::CheckElsewhere(const std::string& key,
                                                           std::optional<int64_t> epoch) {
  if (elsewhere_ == nullptr) return std::nullopt;
  Result<std::optional<int64_t>> held =
      epoch ? elsewhere_->Claim(key, *epoch) : elsewhere_->HeldElsewhere(key);
  if (!held.has_value()) {
    return LinkError{"com.microsoft:server-busy",
                     "The partition's receivers on the other hub nodes cannot be checked now."};
  }
  if (!*held) return std::nullopt;
  return epoch ? RefusedByHigherEpoch(*epoch, **held) : RefusedWithoutEpoch(**held);
}

void EventHubReceivers::TakenElsewhere(const std::string& key, int64_t epoch) {
  std::vector<std::function<void()>> stolen;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = holders_.find(key);
    if (it == holders_.end()) return;
    std::erase_if(it->second, [&](Holder& h) {
      if (h.epoch && *h.epoch > epoch) return false;
      stolen.push_back(std::move(h.steal));
      return true;
    });
    if (it->second.empty()) holders_.erase(it);
  }
  for (auto& fn : stolen) {
    if (fn) fn();
  }
}

std::optional<LinkError> EventHubReceivers::Join(const std::string& key, uint64_t id,
                                                 std::optional<int64_t> epoch,
                                                 std::function<void()> steal) {
  // This node's receivers refuse first (no store round trip for what they decide), then the
  // other nodes' (outside the lock); then this node's again, as they may have changed.
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = holders_.find(key);
    std::optional<int64_t> highest =
        it == holders_.end() ? std::nullopt : HighestEpoch(it->second);
    if (epoch && highest && *highest > *epoch) return RefusedByHigherEpoch(*epoch, *highest);
    if (!epoch && highest) return RefusedWithoutEpoch(*highest);
  }
  if (std::optional<LinkError> refused = CheckElsewhere(key, epoch)) return refused;
  std::vector<std::function<void()>> stolen;
  {
    std::lock_guard<std::mutex> guard(mu_);
    std::vector<Holder>& list = holders_[key];
    std::optional<int64_t> highest = HighestEpoch(list);
    if (epoch) {
      if (highest && *highest > *epoch) return RefusedByHigherEpoch(*epoch, *highest);
      // Everyone else goes: lower or equal epochs and receivers without one.
      for (Holder& h : list) stolen.push_back(std::move(h.steal));
      list.clear();
    } else {
      if (highest) return RefusedWithoutEpoch(*highest);
      if (list.size() >= kMaxWithoutEpoch) {
        return LinkError{"amqp:resource-limit-exceeded",
                         "Exceeded the maximum number of allowed receivers per partition in a "
                         "consumer group which is 5."};
      }
    }
    list.push_back({id, epoch, std::move(steal)});
  }
  for (auto& fn : stolen) {
    if (fn) fn();
  }
  return std::nullopt;
}

void EventHubReceivers::Leave(const std::string& key, uint64_t id) {
  bool last_epoch_left = false;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = holders_.find(key);
    if (it == holders_.end()) return;
    bool had_epoch = false;
    std::erase_if(it->second, [&](const Holder& h) {
      if (h.id != id) return false;
      had_epoch = h.epoch.has_value();
      return true;
    });
    last_epoch_left = had_epoch && std::none_of(it->second.begin(), it->second.end(),
                                                [](const Holder& h) { return h.epoch.has_value(); });
    if (it->second.empty()) holders_.erase(it);
  }
  if (last_epoch_left && elsewhere_ != nullptr) elsewhere_->Released(key);
}

uint64_t EventHubReceivers::NextId() {
  std::lock_guard<std::mutex> guard(mu_);
  return next_id_++;
}

void AddEventHubNodes(Router& router, const HubParts& parts) {
  std::string hub_name = parts.hub_name;
  router.Add({"$management requests", Role::kHubReceives, ExactAddress(kManagement),
              [](LinkContext& ctx, const LinkRequest&) {
                return std::make_unique<ManagementRequests>(ctx);
              }});
  router.Add({"$management replies", Role::kHubSends, ExactAddress(kManagement),
              [](LinkContext& ctx, const LinkRequest&) {
                return std::make_unique<ReplyLink>(ctx, kManagement);
              }});
  router.Add({"messages/events redirect", Role::kHubSends, AddressUnder("messages/events"),
              [](LinkContext& ctx, const LinkRequest&) { return std::make_unique<Redirect>(ctx); }});
  router.Add({"partition receiver", Role::kHubSends, AddressUnder(hub_name + "/ConsumerGroups"),
              [](LinkContext& ctx, const LinkRequest&) {
                return std::make_unique<PartitionReceiver>(ctx);
              }});
  router.Add({"event hub sender", Role::kHubReceives, AddressUnder(hub_name),
              [](LinkContext&, const LinkRequest&) { return std::make_unique<RefusedSender>(); }});
}

}  // namespace coffre::amqp
