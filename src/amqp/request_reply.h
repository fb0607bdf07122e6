#pragma once
// Replies of the request/response nodes ($cbs, $management): the answer goes on the reply link
// the request's reply-to names (amqp/link_node.h), with correlation-id = the request's
// message-id (same AMQP type), application properties status-code (int), status-description
// and, for failures, error-condition (the Event Hubs SDK maps a missing one to the wrong error).

#include <proton/message.hpp>
#include <proton/value.hpp>

#include <string>

#include "amqp/link_node.h"

namespace coffre::amqp {

struct ReplyStatus {
  int32_t code = 200;
  std::string description = "OK";
  std::string condition;  // empty on success
};

// Sends the reply (dropped if the client has no reply link for `node`).
void SendReply(LinkContext& ctx, const std::string& node, const proton::message& request,
               const ReplyStatus& status, const proton::value& body = proton::value());

}  // namespace coffre::amqp
