#include "amqp/request_reply.h"

#include <proton/message_id.hpp>

namespace coffre::amqp {

void SendReply(LinkContext& ctx, const std::string& node, const proton::message& request,
               const ReplyStatus& status, const proton::value& body) {
  ReplyLink* link = ctx.FindReplyLink(node, request.reply_to());
  if (link == nullptr) return;
  proton::message reply;
  reply.correlation_id(request.id());
  if (!request.reply_to().empty()) reply.to(request.reply_to());
  reply.properties().put("status-code", int32_t{status.code});
  reply.properties().put("status-description", status.description);
  if (!status.condition.empty()) {
    reply.properties().put("error-condition", proton::symbol(status.condition));
  }
  if (!body.empty()) reply.body(body);
  link->Send(std::move(reply));
}

}  // namespace coffre::amqp
