#include "hub/message.h"

namespace coffre::hub {

size_t AccountedMessageSize(size_t body_size, const MessageProperties& p) {
  size_t n = body_size;
  for (const auto* v : {&p.system.message_id, &p.system.correlation_id, &p.system.user_id,
                        &p.system.to, &p.system.content_type, &p.system.content_encoding,
                        &p.system.expiry_time, &p.system.interface_id, &p.system.subject,
                        &p.system.output_name}) {
    if (*v) n += (*v)->size();
  }
  for (const auto& [name, value] : p.application) n += name.size() + value.size();
  return n;
}

Status CheckMessageSize(size_t body_size, const MessageProperties& properties) {
  size_t n = AccountedMessageSize(body_size, properties);
  if (n > kMaxMessageBytes) {
    return ResourceExhausted("Message size " + std::to_string(n) +
                             " bytes is larger than the maximum of 262144 bytes");
  }
  return Status::Ok();
}

}  // namespace coffre::hub
