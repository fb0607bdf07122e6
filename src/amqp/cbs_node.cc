#include "amqp/cbs_node.h"

#include "amqp/claims.h"
#include "amqp/hub_parts.h"
#include "amqp/proton_util.h"
#include "amqp/request_reply.h"
#include "common/log.h"

namespace coffre::amqp {

namespace {

constexpr const char* kCbs = "$cbs";

class CbsRequests final : public LinkNode {
 public:
  explicit CbsRequests(LinkContext& ctx) : ctx_(ctx) {}
  std::optional<LinkError> OnAttach(const LinkRequest&) override { return std::nullopt; }

  void OnMessage(proton::delivery& d, proton::message& m) override {
    d.accept();
    ReplyStatus status = PutToken(m);
    SendReply(ctx_, kCbs, m, status);
  }

 private:
  ReplyStatus PutToken(const proton::message& m) {
    std::optional<std::string> operation = AppString(m, "operation");
    if (!operation || *operation != "put-token") {
      return {400, "Only the put-token operation is supported.", "amqp:not-implemented"};
    }
    std::optional<std::string> token = BodyText(m);
    if (!token) return {400, "The body must be the token as a string.", "amqp:decode-error"};
    Result<Claim> claim = ctx_.hub().tokens->Verify(*token);
    if (!claim.has_value()) {
      StatusCode code = claim.error().code();
      if (code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied) {
        ctx_.TokenRefused();
        return {401, "Unauthorized: the token is not valid for this hub.", "amqp:unauthorized-access"};
      }
      LogLine("amqp", "put-token from " + ctx_.peer() + " not checked: " + claim.error().message());
      return {503, "The hub cannot check tokens now; try again later.", "com.microsoft:server-busy"};
    }
    ctx_.claims().Add(std::move(*claim));
    return {};
  }

  LinkContext& ctx_;
};

}  // namespace

void AddCbsNodes(Router& router) {
  router.Add({"$cbs requests", Role::kHubReceives, ExactAddress(kCbs),
              [](LinkContext& ctx, const LinkRequest&) { return std::make_unique<CbsRequests>(ctx); }});
  router.Add({"$cbs replies", Role::kHubSends, ExactAddress(kCbs),
              [](LinkContext& ctx, const LinkRequest&) {
                return std::make_unique<ReplyLink>(ctx, kCbs);
              }});
}

}  // namespace coffre::amqp
