#include "amqp/link_node.h"

#include <proton/target.hpp>

#include "amqp/proton_util.h"

namespace coffre::amqp {

std::optional<LinkError> ReplyLink::OnAttach(const LinkRequest& request) {
  sender_ = request.sender;
  name_ = request.link.name();
  target_ = request.sender.target().address();
  ctx_.AddReplyLink(node_, this);
  registered_ = true;
  return std::nullopt;
}

void ReplyLink::OnSendable(proton::sender&) { Pump(); }

void ReplyLink::OnDetach() {
  if (registered_) ctx_.RemoveReplyLink(node_, this);
  registered_ = false;
  queued_.clear();
}

void ReplyLink::Send(proton::message m) {
  if (queued_.size() >= max_queued_) queued_.erase(queued_.begin());
  queued_.push_back(std::move(m));
  Pump();
}

void ReplyLink::Pump() {
  if (!sender_.active()) return;
  size_t sent = 0;
  while (sent < queued_.size() && SendCredit(sender_) > 0) sender_.send(queued_[sent++]);
  queued_.erase(queued_.begin(), queued_.begin() + static_cast<ptrdiff_t>(sent));
}

}  // namespace coffre::amqp
