#include "hub/c2d_send.h"

#include "common/utf8.h"

namespace coffre::hub {

namespace {

bool Printable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return IsValidUtf8(s, false);
}

}  // namespace

Status CheckC2dMessage(const C2dMessage& message) {
  const SystemProperties& sys = message.properties.system;
  if (sys.message_id && sys.message_id->size() > 128) {
    return InvalidArgument("iothub-messageid is longer than 128 characters.");
  }
  for (const std::optional<std::string>* p :
       {&sys.message_id, &sys.correlation_id, &sys.user_id, &sys.content_type,
        &sys.content_encoding}) {
    if (*p && !Printable(**p)) return InvalidArgument("A message property holds a control character.");
  }
  for (const auto& [name, value] : message.properties.application) {
    if (!Printable(name) || !Printable(value)) {
      return InvalidArgument("Property " + name + " holds a control character.");
    }
  }
  return Status::Ok();
}

Status SendC2d(Registry& registry, C2dQueues& queues, const std::string& device_id,
               const std::function<Result<C2dMessage>()>& build) {
  COFFRE_ASSIGN_OR_RETURN(DeviceIdentity device, registry.Get(device_id));
  COFFRE_ASSIGN_OR_RETURN(C2dMessage message, build());
  COFFRE_RETURN_IF_ERROR(CheckC2dMessage(message));
  // The hub sets these when it delivers (the device's address, the expiry as a time).
  message.properties.system.to.reset();
  message.properties.system.expiry_time.reset();
  return queues.Enqueue(device_id, device.generation_id, std::move(message));
}

}  // namespace coffre::hub
