#include "amqp/device_nodes.h"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/tracker.hpp>
#include <proton/value.hpp>

#include <openssl/x509.h>

#include <map>

#include "amqp/device_links.h"
#include "amqp/hub_parts.h"
#include "amqp/iothub_messages.h"
#include "amqp/proton_util.h"
#include "common/encoding.h"
#include "common/log.h"
#include "hub/access_policies.h"
#include "hub/device_auth.h"
#include "hub/device_features.h"
#include "hub/message.h"
#include "hub/quotas.h"
#include "hub/telemetry_ingest.h"

namespace coffre::amqp {

namespace {

std::string Unauthorized() {
  return "Unauthorized: this connection holds no credential for that device.";
}

LinkError NotServed(const LinkRequest& request) {
  return {"amqp:not-found", "The messaging entity '" + request.raw_address + "' could not be found."};
}

std::vector<std::string> PathOf(const hub::TwinId& id) {
  std::vector<std::string> path{"devices", id.device_id};
  if (id.module_id) {
    path.push_back("modules");
    path.push_back(*id.module_id);
  }
  return path;
}

// The TLS client certificate as an X.509 identity's credentials (thumbprints), if one was sent.
bool AddPeerCertificate(SSL* tls, hub::DeviceCredentials& c) {
  X509* cert = tls == nullptr ? nullptr : SSL_get1_peer_certificate(tls);
  if (cert == nullptr) return false;
  hub::AddPeerCertificate(cert, c);
  X509_free(cert);
  return true;
}

// While a node holds it, its connection is the identity's connection (amqp/device_links.h): a
// newer one of the identity, on either protocol, or a change of the identity closes this one.
class Presence {
 public:
  Presence() = default;
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;
  ~Presence() { Drop(); }

  void Take(LinkContext& ctx, const hub::TwinId& id) {
    if (ctx_ != nullptr || ctx.hub().device_links == nullptr) return;
    ctx_ = &ctx;
    id_ = id;
    auto post = ctx.Poster();
    LinkContext* conn = &ctx;  // reached only through post, which runs while it lives
    ctx.hub().device_links->Hold(id, conn, [post, conn](std::string why) {
      post([conn, why = std::move(why)] { conn->Close("amqp:connection:forced", why); });
    });
  }
  void Drop() {
    if (ctx_ == nullptr) return;
    ctx_->hub().device_links->Unhold(id_, ctx_);
    ctx_ = nullptr;
  }

 private:
  LinkContext* ctx_ = nullptr;
  hub::TwinId id_;
};

// The generation id of `id`'s identity, "" if it cannot be read now.
std::string GenerationOf(HubParts& hub, const hub::TwinId& id) {
  if (id.module_id) {
    Result<hub::ModuleIdentity> m = hub.registry.GetModule(id.device_id, *id.module_id);
    return m.has_value() ? m->generation_id : "";
  }
  Result<hub::DeviceIdentity> d = hub.registry.Get(id.device_id);
  return d.has_value() ? d->generation_id : "";
}

// May this connection use `id`'s links? A claim for exactly that identity (or a DeviceConnect
// policy claim covering it), guarded from now on; else the TLS client certificate. `who`, if
// given, learns how it authenticated (auth type and generation id).
std::optional<LinkError> AuthorizeDevice(LinkContext& ctx, const LinkRequest& request,
                                         const hub::TwinId& id, Presence& presence,
                                         hub::AuthenticatedDevice* who = nullptr) {
  HubParts& hub = ctx.hub();
  ClaimNeed need{PathOf(id), hub::kDeviceConnect};
  const Claim* claim = ctx.claims().Find(need, hub.clock.NowSeconds());
  if (claim != nullptr &&
      (!claim->device_id || (*claim->device_id == id.device_id && claim->module_id == id.module_id))) {
    ctx.GuardLink(request.link, std::move(need));
    presence.Take(ctx, id);
    if (who != nullptr) {
      who->auth_type = "sas";
      who->generation_id = GenerationOf(hub, id);
    }
    return std::nullopt;
  }
  hub::DeviceCredentials credentials;
  if (AddPeerCertificate(ctx.tls(), credentials) && !hub.host_names.empty()) {
    std::string client_id = id.module_id ? id.device_id + "/" + *id.module_id : id.device_id;
    std::string username = hub.host_names.front() + "/" + client_id + "/?api-version=2021-04-12";
    credentials.client_id = client_id;
    credentials.username = username;
    Result<hub::AuthenticatedDevice> proven = hub.devices.AuthenticateMqtt(credentials);
    if (proven.has_value()) {
      presence.Take(ctx, id);
      if (who != nullptr) *who = std::move(*proven);
      return std::nullopt;
    }
  }
  return LinkError{"amqp:unauthorized-access", Unauthorized()};
}

// Settles deliveries from other threads' results: proton objects stay on the strand, the work
// sees only a number.
class Pending {
 public:
  uint64_t Add(const proton::delivery& d) {
    pending_.emplace(next_, d);
    return next_++;
  }
  void Settle(uint64_t n, const Status& s, const std::string& condition = "") {
    auto it = pending_.find(n);
    if (it == pending_.end()) return;
    proton::delivery d = it->second;
    pending_.erase(it);
    if (s.ok()) return d.accept();
    Reject(d, condition.empty() ? ConditionFor(s) : condition, s.message());
  }

 private:
  std::map<uint64_t, proton::delivery> pending_;
  uint64_t next_ = 0;
};

hub::TwinId IdOf(const DeviceAddress& a) { return {a.device_id, a.module_id}; }

// ---- telemetry -----------------------------------------------------------------------------

class TelemetryReceiver final : public LinkNode {
 public:
  TelemetryReceiver(LinkContext& ctx, DeviceAddress address) : ctx_(ctx), address_(std::move(address)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    return AuthorizeDevice(ctx_, request, IdOf(address_), presence_, &who_);
  }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    HubParts& hub = ctx_.hub();
    Result<hub::TelemetryMessage> message = TelemetryFromAmqp(m);
    if (!message.has_value()) return Reject(d, ConditionFor(message.error()), message.error().message());
    if (hub::ProtocolMetrics* traffic = ctx_.traffic()) traffic->Received(message->body.size());
    if (Status size = hub::CheckMessageSize(message->body.size(), message->properties); !size.ok()) {
      return Reject(d, "amqp:link:message-size-exceeded", size.message());
    }
    if (hub.quotas != nullptr &&
        hub.quotas->TakeD2c(std::chrono::steady_clock::now()).count() > 0) {
      return Reject(d, "amqp:resource-limit-exceeded",
                    "Total number of messages on IotHub exceeded the allocated quota.");
    }
    message->device_id = address_.device_id;
    message->module_id = address_.module_id;
    message->auth_type = who_.auth_type;
    message->auth_generation_id = who_.generation_id;
    message->enqueued_ms = hub.clock.NowMillis();
    uint64_t n = pending_.Add(d);
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    Status s = hub.ingest.Submit(std::move(*message), [post, alive, n, this](const Status& st) {
      post([alive, n, this, st] {
        if (!alive.expired()) pending_.Settle(n, st, st.ok() ? "" : "amqp:internal-error");
      });
    });
    if (!s.ok()) pending_.Settle(n, s, "com.microsoft:server-busy");
  }

 private:
  LinkContext& ctx_;
  DeviceAddress address_;
  Presence presence_;
  hub::AuthenticatedDevice who_;  // how the link was authorized
  Pending pending_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// ---- C2D -----------------------------------------------------------------------------------

class C2dSender final : public LinkNode {
 public:
  C2dSender(LinkContext& ctx, DeviceAddress address) : ctx_(ctx), address_(std::move(address)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    HubParts& hub = ctx_.hub();
    if (hub.features == nullptr || hub.device_links == nullptr) return NotServed(request);
    if (auto refused = AuthorizeDevice(ctx_, request, IdOf(address_), presence_)) return refused;
    sender_ = request.sender;
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    DeviceLinks::Handlers h;
    h.c2d_waiting = [post, alive, this] {
      post([alive, this] {
        if (!alive.expired()) Pull();
      });
    };
    token_ = hub.device_links->Add(IdOf(address_), std::move(h));
    Pull();
    return std::nullopt;
  }

  void OnSendable(proton::sender&) override { Pull(); }

  void OnOutcome(proton::tracker& t, Outcome outcome) override {
    proton::binary tag = t.tag();
    auto it = in_flight_.find(std::string(tag.begin(), tag.end()));
    if (it == in_flight_.end()) return;
    std::string lock = it->second;
    in_flight_.erase(it);
    hub::DeviceFeatures& f = *ctx_.hub().features;
    switch (outcome) {
      case Outcome::kAccepted: f.CompleteC2d(address_.device_id, lock); break;
      case Outcome::kRejected: f.RejectC2d(address_.device_id, lock); break;
      case Outcome::kReleased: f.AbandonC2d(address_.device_id, lock); break;
    }
    Pull();
  }

  void OnDetach() override {
    alive_.reset();
    HubParts& hub = ctx_.hub();
    if (token_ != 0) hub.device_links->Remove(token_);
    // Delivered, never settled: back to the queue now, not at the lock's expiry.
    for (const auto& [tag, lock] : in_flight_) hub.features->AbandonC2d(address_.device_id, lock);
    in_flight_.clear();
  }

 private:
  void Pull() {
    if (!alive_ || fetching_ || !in_flight_.empty() || !sender_.active() || SendCredit(sender_) == 0) {
      return;
    }
    fetching_ = true;
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    hub::DeviceFeatures* features = ctx_.hub().features;
    std::string device = address_.device_id;
    features->NextC2d(device, [post, alive, this, features, device](std::optional<hub::QueuedC2d> next) {
      post([alive, this, features, device, next = std::move(next)]() mutable {
        if (alive.expired()) {
          if (next) features->AbandonC2d(device, next->lock_token);
          return;
        }
        Deliver(std::move(next));
      });
    });
  }

  void Deliver(std::optional<hub::QueuedC2d> next) {
    fetching_ = false;
    if (!next) return;
    if (!sender_.active() || SendCredit(sender_) == 0) {
      ctx_.hub().features->AbandonC2d(address_.device_id, next->lock_token);
      return;
    }
    proton::message m = C2dToAmqp(*next, address_.device_id);
    in_flight_[next->lock_token] = next->lock_token;
    sender_.send(m, proton::binary(next->lock_token));
    if (hub::ProtocolMetrics* traffic = ctx_.traffic()) traffic->SentC2d(next->message.body.size());
  }

  LinkContext& ctx_;
  DeviceAddress address_;
  Presence presence_;
  proton::sender sender_;
  uint64_t token_ = 0;
  bool fetching_ = false;
  std::map<std::string, std::string> in_flight_;  // delivery tag -> lock token
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// ---- twin and methods: request/response pairs ----------------------------------------------

std::string ChannelOf(const LinkRequest& request) {
  std::map<proton::symbol, proton::value> props = request.link.properties();
  auto it = props.find(proton::symbol("com.microsoft:channel-correlation-id"));
  if (it == props.end()) return "";
  if (it->second.type() == proton::STRING) return proton::get<std::string>(it->second);
  if (it->second.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(it->second));
  return "";
}

// The hub-to-device half of a pair: a ReplyLink registered under "{kind}|{channel}".
std::string PairName(const char* kind, const DeviceAddress& a, const std::string& channel) {
  std::string id = a.module_id ? a.device_id + "/" + *a.module_id : a.device_id;
  return std::string(kind) + "|" + id + "|" + channel;
}

class PairReplies final : public LinkNode {
 public:
  PairReplies(LinkContext& ctx, DeviceAddress address, const char* kind)
      : ctx_(ctx), address_(std::move(address)), kind_(kind) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    if (ctx_.hub().features == nullptr || ctx_.hub().device_links == nullptr) return NotServed(request);
    if (auto refused = AuthorizeDevice(ctx_, request, IdOf(address_), presence_)) return refused;
    reply_.emplace(ctx_, PairName(kind_, address_, ChannelOf(request)), 256);
    if (auto refused = reply_->OnAttach(request)) return refused;
    if (std::string(kind_) == "methods") {
      // Methods reach the identity through this link from now on.
      auto post = ctx_.Poster();
      std::weak_ptr<int> alive = alive_;
      DeviceLinks::Handlers h;
      h.method = [post, alive, this](std::string name, std::string rid, std::string payload) {
        if (alive.expired()) return false;
        post([alive, this, name = std::move(name), rid = std::move(rid),
              payload = std::move(payload)] {
          if (alive.expired()) return;
          proton::message m;
          m.correlation_id(rid);
          m.properties().put("IoThub-methodname", name);
          m.body(proton::binary(payload));
          m.inferred(true);
          reply_->Send(std::move(m));
        });
        return true;
      };
      token_ = ctx_.hub().device_links->Add(IdOf(address_), std::move(h));
      ctx_.hub().features->MethodsSubscribed(IdOf(address_));
    }
    return std::nullopt;
  }

  void OnSendable(proton::sender& s) override {
    if (reply_) reply_->OnSendable(s);
  }

  void OnDetach() override {
    alive_.reset();
    if (token_ != 0) ctx_.hub().device_links->Remove(token_);
    if (reply_) reply_->OnDetach();
  }

 private:
  LinkContext& ctx_;
  DeviceAddress address_;
  Presence presence_;
  const char* kind_;
  std::optional<ReplyLink> reply_;
  uint64_t token_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};


class TwinRequests final : public LinkNode {
 public:
  TwinRequests(LinkContext& ctx, DeviceAddress address) : ctx_(ctx), address_(std::move(address)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    if (ctx_.hub().features == nullptr || ctx_.hub().device_links == nullptr) return NotServed(request);
    if (auto refused = AuthorizeDevice(ctx_, request, IdOf(address_), presence_)) return refused;
    pair_ = PairName("twin", address_, ChannelOf(request));
    return std::nullopt;
  }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    d.accept();
    std::optional<std::string> operation = MessageAnnotation(m, "operation");
    std::optional<std::string> resource = MessageAnnotation(m, "resource");
    proton::message_id correlation = m.correlation_id();
    std::string body = BodyText(m).value_or("");
    if (operation && *operation == "GET") {
      return Ask(hub::TwinRequestKind::kGet, "", correlation);
    }
    if (operation && *operation == "PATCH" && resource && *resource == "/properties/reported") {
      return Ask(hub::TwinRequestKind::kReportedPatch, std::move(body), correlation);
    }
    if (operation && (*operation == "PUT" || *operation == "DELETE") && resource &&
        *resource == "/notifications/twin/properties/desired") {
      if (*operation == "PUT") Subscribe(); else Unsubscribe();
      return Reply(correlation, 200, "", std::nullopt);
    }
    Reply(correlation, 400,
          R"({"errorCode":400004,"message":"Unknown twin operation or resource."})", std::nullopt);
  }

  void OnDetach() override {
    alive_.reset();
    Unsubscribe();
  }

 private:
  void Ask(hub::TwinRequestKind kind, std::string body, proton::message_id correlation) {
    if (requests_ >= kMaxRequests) {
      return Reply(correlation, 429,
                   R"({"errorCode":429001,"message":"Too many twin requests are waiting."})",
                   std::nullopt);
    }
    ++requests_;
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    std::string cid = IdText(correlation);
    ctx_.hub().features->TwinRequest(
        IdOf(address_), kind, std::move(body),
        [post, alive, this, cid](int status, std::string text, std::optional<int64_t> version) {
          post([alive, this, cid, status, text = std::move(text), version] {
            if (alive.expired()) return;
            --requests_;
            Reply(proton::message_id(cid), status, text, version);
          });
        });
  }

  void Reply(const proton::message_id& correlation, int status, const std::string& body,
             std::optional<int64_t> version) {
    ReplyLink* link = ctx_.FindReplyLink(pair_, "");
    if (link == nullptr) return;
    proton::message m;
    if (!correlation.empty()) m.correlation_id(correlation);
    m.message_annotations().put(proton::symbol("status"), int32_t{status});
    if (version) m.message_annotations().put(proton::symbol("version"), int64_t{*version});
    m.body(proton::binary(body));  // empty for 204: the SDK JSON-parses any non-empty body
    m.inferred(true);
    link->Send(std::move(m));
  }

  void Subscribe() {
    if (token_ != 0) return;
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    DeviceLinks::Handlers h;
    h.desired = [post, alive, this](std::string patch) {
      post([alive, this, patch = std::move(patch)] {
        if (alive.expired()) return;
        ReplyLink* link = ctx_.FindReplyLink(pair_, "");
        if (link == nullptr) return;
        proton::message m;  // no correlation-id: a push
        m.body(proton::binary(patch));
        m.inferred(true);
        link->Send(std::move(m));
      });
    };
    token_ = ctx_.hub().device_links->Add(IdOf(address_), std::move(h));
  }

  void Unsubscribe() {
    if (token_ == 0) return;
    ctx_.hub().device_links->Remove(token_);
    token_ = 0;
  }

  static constexpr int kMaxRequests = 16;
  LinkContext& ctx_;
  DeviceAddress address_;
  Presence presence_;
  std::string pair_;
  int requests_ = 0;
  uint64_t token_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

class MethodResponses final : public LinkNode {
 public:
  MethodResponses(LinkContext& ctx, DeviceAddress address) : ctx_(ctx), address_(std::move(address)) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    if (ctx_.hub().features == nullptr) return NotServed(request);
    return AuthorizeDevice(ctx_, request, IdOf(address_), presence_);
  }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    std::string rid = IdText(m.correlation_id());
    std::optional<int> status;
    const proton::message::property_map& props = m.properties();
    if (!props.empty() && props.exists("IoThub-status")) {
      proton::scalar v = props.get("IoThub-status");
      try {
        status = static_cast<int>(proton::coerce<int64_t>(v));
      } catch (const std::exception&) {
        std::optional<std::string> text = AppString(m, "IoThub-status");
        if (text) status = std::atoi(text->c_str());
      }
    }
    if (rid.empty() || !status) {
      return Reject(d, "com.microsoft:argument-error",
                    "A method response needs a correlation-id and IoThub-status.");
    }
    d.accept();
    ctx_.hub().features->MethodResponse(IdOf(address_), rid, *status, BodyText(m).value_or(""));
  }

 private:
  LinkContext& ctx_;
  DeviceAddress address_;
  Presence presence_;
};

// A device address attached the wrong way round (e.g. a receiver on messages/events).
class Refused final : public LinkNode {
 public:
  explicit Refused(LinkError error) : error_(std::move(error)) {}
  std::optional<LinkError> OnAttach(const LinkRequest&) override { return error_; }

 private:
  LinkError error_;
};

NodeFactory DeviceFactory(Role role) {
  return [role](LinkContext& ctx, const LinkRequest& request) -> std::unique_ptr<LinkNode> {
    std::optional<DeviceAddress> a = ParseDeviceAddress(request.address);
    auto refused = std::make_unique<Refused>(NotServed(request));
    if (!a) return refused;
    using Kind = DeviceAddress::Kind;
    bool hub_sends = role == Role::kHubSends;
    switch (a->kind) {
      case Kind::kEvents:
        if (!hub_sends) return std::make_unique<TelemetryReceiver>(ctx, std::move(*a));
        return refused;
      case Kind::kDevicebound:
        if (hub_sends) return std::make_unique<C2dSender>(ctx, std::move(*a));
        return refused;
      case Kind::kTwin:
        if (hub_sends) return std::make_unique<PairReplies>(ctx, std::move(*a), "twin");
        return std::make_unique<TwinRequests>(ctx, std::move(*a));
      case Kind::kMethods:
        if (hub_sends) return std::make_unique<PairReplies>(ctx, std::move(*a), "methods");
        return std::make_unique<MethodResponses>(ctx, std::move(*a));
    }
    return refused;
  };
}

bool IsDeviceAddress(std::string_view address) { return ParseDeviceAddress(address).has_value(); }

}  // namespace

void AddDeviceNodes(Router& router) {
  router.Add({"device links (hub sends)", Role::kHubSends, IsDeviceAddress, DeviceFactory(Role::kHubSends)});
  router.Add({"device links (hub receives)", Role::kHubReceives, IsDeviceAddress,
              DeviceFactory(Role::kHubReceives)});
}

}  // namespace coffre::amqp
