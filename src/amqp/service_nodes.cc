#include "amqp/service_nodes.h"

#include <proton/binary.hpp>
#include <proton/message_id.hpp>
#include <proton/tracker.hpp>

#include <nlohmann/json.hpp>

#include <map>

#include "amqp/hub_parts.h"
#include "amqp/iothub_messages.h"
#include "amqp/proton_util.h"
#include "common/log.h"
#include "common/work_queue.h"
#include "hub/access_policies.h"
#include "hub/c2d_queues.h"
#include "hub/c2d_send.h"

namespace coffre::amqp {

namespace {

constexpr size_t kFeedbackBatch = 100;
constexpr auto kFeedbackPoll = std::chrono::milliseconds(500);
constexpr const char* kFeedbackContentType = "application/vnd.microsoft.iothub.feedback.json";

std::optional<LinkError> NeedService(LinkContext& ctx, const LinkRequest& request,
                                     std::vector<std::string> path) {
  HubParts& hub = ctx.hub();
  if (hub.c2d == nullptr || hub.work == nullptr) {
    return LinkError{"amqp:not-found", "The messaging entity '" + request.raw_address +
                                           "' could not be found."};
  }
  ClaimNeed need{std::move(path), hub::kServiceConnect};
  if (!ctx.claims().Grants(need, hub.clock.NowSeconds())) {
    return LinkError{"amqp:unauthorized-access",
                     "Unauthorized: put a service token with ServiceConnect on $cbs first."};
  }
  ctx.GuardLink(request.link, std::move(need));
  return std::nullopt;
}

// /messages/devicebound: C2D sends into the devices' queues.
class C2dSends final : public LinkNode {
 public:
  explicit C2dSends(LinkContext& ctx) : ctx_(ctx) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    return NeedService(ctx_, request, {"messages", "devicebound"});
  }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    std::optional<std::string> device = C2dTargetDevice(m.to());
    if (!device) {
      return Reject(d, "com.microsoft:argument-error",
                    "The message's 'to' must be /devices/{deviceId}/messages/devicebound.");
    }
    Result<hub::C2dMessage> message = C2dFromAmqp(m);
    if (!message.has_value()) return Reject(d, ConditionFor(message.error()), message.error().message());
    // Proton objects stay on the strand: the work thread sees only the delivery's number.
    uint64_t n = next_++;
    pending_.emplace(n, d);
    HubParts& hub = ctx_.hub();
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    bool queued = hub.work->Post([&hub, post, alive, n, this, device = std::move(*device),
                                  message = std::move(*message)]() mutable {
      Status sent = hub::SendC2d(hub.registry, *hub.c2d, device,
                                 [&message]() -> Result<hub::C2dMessage> { return std::move(message); });
      post([alive, n, this, sent] {
        if (alive.expired()) return;
        Settle(n, sent);
      });
    });
    if (!queued) {
      Settle(n, ResourceExhausted("Too many sends are waiting; try again.").WithDetail("ServerBusy"));
    }
  }

 private:
  void Settle(uint64_t n, const Status& sent) {
    auto it = pending_.find(n);
    if (it == pending_.end()) return;
    proton::delivery d = it->second;
    pending_.erase(it);
    if (sent.ok()) return d.accept();
    std::string condition = sent.detail() == "ServerBusy" ? "com.microsoft:server-busy" : ConditionFor(sent);
    Reject(d, condition, sent.message());
  }

  LinkContext& ctx_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::map<uint64_t, proton::delivery> pending_;
  uint64_t next_ = 0;
};

// /messages/serviceBound/feedback: one batch in flight at a time.
class FeedbackSender final : public LinkNode {
 public:
  explicit FeedbackSender(LinkContext& ctx) : ctx_(ctx) {}

  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    sender_ = request.sender;
    if (auto refused = NeedService(ctx_, request, {"messages", "serviceBound", "feedback"})) {
      return refused;
    }
    Poll();
    return std::nullopt;
  }

  void OnSendable(proton::sender&) override { Poll(); }

  void OnOutcome(proton::tracker&, Outcome outcome) override {
    if (!in_flight_) return;  // a second disposition for a settled batch
    uint64_t last = *in_flight_;
    in_flight_.reset();
    if (outcome == Outcome::kReleased) {
      ctx_.After(kFeedbackPoll, [this, alive = std::weak_ptr<int>(alive_)] {
        if (!alive.expired()) Poll();
      });
      return;
    }
    HubParts& hub = ctx_.hub();
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    busy_ = true;
    bool queued = hub.work->Post([&hub, post, alive, last, this] {
      Status acked = hub.c2d->AcknowledgeFeedbackThrough(last);
      if (!acked.ok()) LogLine("amqp", "feedback acknowledgement: " + acked.ToString());
      post([alive, this] {
        if (alive.expired()) return;
        busy_ = false;
        Poll();
      });
    });
    if (!queued) busy_ = false;
  }

  void OnDetach() override { alive_.reset(); }

 private:
  void Poll() {
    if (!alive_ || busy_ || in_flight_ || !sender_.active() || SendCredit(sender_) == 0) return;
    HubParts& hub = ctx_.hub();
    auto post = ctx_.Poster();
    std::weak_ptr<int> alive = alive_;
    busy_ = true;
    bool queued = hub.work->Post([&hub, post, alive, this] {
      Result<hub::C2dQueues::FeedbackBatch> batch = hub.c2d->PeekFeedback(kFeedbackBatch);
      post([alive, this, batch = std::move(batch)] {
        if (alive.expired()) return;
        busy_ = false;
        Send(batch);
      });
    });
    if (!queued) {
      busy_ = false;
      Later();
    }
  }

  void Send(const Result<hub::C2dQueues::FeedbackBatch>& batch) {
    if (!batch.has_value() || batch->records.empty() || batch->rows.empty()) return Later();
    std::optional<uint64_t> last = hub::C2dQueues::FeedbackNumber(batch->rows.back());
    if (!last || !sender_.active() || SendCredit(sender_) == 0) return Later();
    nlohmann::json records = nlohmann::json::array();
    for (const hub::C2dFeedback& f : batch->records) records.push_back(f.ToJson());
    std::string body = records.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    proton::message m;
    m.id(proton::message_id("feedback-" + std::to_string(*last)));
    m.content_type(kFeedbackContentType);
    m.user(ctx_.hub().hub_name);
    m.body(proton::binary(body));
    m.inferred(true);
    in_flight_ = *last;
    sender_.send(m);
  }

  void Later() {
    ctx_.After(kFeedbackPoll, [this, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired()) Poll();
    });
  }

  LinkContext& ctx_;
  proton::sender sender_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  bool busy_ = false;
  std::optional<uint64_t> in_flight_;
};

// /messages/serviceBound/filenotifications: no file upload yet, so never a message.
class FileNotifications final : public LinkNode {
 public:
  explicit FileNotifications(LinkContext& ctx) : ctx_(ctx) {}
  std::optional<LinkError> OnAttach(const LinkRequest& request) override {
    return NeedService(ctx_, request, {"messages", "serviceBound", "filenotifications"});
  }

 private:
  LinkContext& ctx_;
};

template <class Node>
NodeFactory Make() {
  return [](LinkContext& ctx, const LinkRequest&) { return std::make_unique<Node>(ctx); };
}

}  // namespace

void AddServiceNodes(Router& router) {
  router.Add({"C2D sends", Role::kHubReceives, ExactAddress("messages/devicebound"), Make<C2dSends>()});
  router.Add({"feedback", Role::kHubSends, ExactAddress("messages/serviceBound/feedback"),
              Make<FeedbackSender>()});
  router.Add({"file notifications", Role::kHubSends,
              ExactAddress("messages/serviceBound/filenotifications"), Make<FileNotifications>()});
}

}  // namespace coffre::amqp
