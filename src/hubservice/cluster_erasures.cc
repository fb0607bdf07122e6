#include "hubservice/cluster_erasures.h"

#include <charconv>

#include "common/log.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kErasuresChannel = "coffre_erasures";

}  // namespace

Result<std::unique_ptr<ClusterErasures>> ClusterErasures::Start(
    const ClusterLink& link, hub::HubKeys& keys, hub::DeviceKeys& device_keys) {
  std::unique_ptr<ClusterErasures> erasures(new ClusterErasures(keys, device_keys));
  ClusterErasures* e = erasures.get();
  pgstore::PgListenerOptions listen = link.Listen({kErasuresChannel});
  listen.on_notify = [e](const pgstore::PgNotification& n) {
    uint64_t number = 0;
    const std::string& p = n.payload;
    if (std::from_chars(p.data(), p.data() + p.size(), number).ec != std::errc() || number == 0) {
      return;
    }
    e->keys_.ForgetDeviceKey(number);
  };
  listen.on_resync = [e] {
    // Read while the keys are locked it fails; nothing is served then, and the erasure rows
    // are read again at the next (re)connection or start.
    if (Status forgot = e->device_keys_.ForgetErased(); !forgot.ok()) {
      LogLine(LogLevel::kWarning, "erasure", "the erasures made on other hub nodes could not be "
                                             "read: " + forgot.message());
    }
  };
  COFFRE_ASSIGN_OR_RETURN(erasures->listener_, pgstore::PgListener::Start(std::move(listen)));
  device_keys.SetErasedListener([&link](uint64_t number) {
    Status sent = link.Notify(kErasuresChannel, std::to_string(number));
    if (!sent.ok()) {
      LogLine(LogLevel::kWarning, "erasure", "the other hub nodes could not be told of key " +
                                                 std::to_string(number) + "'s erasure (they "
                                                 "forget it when their listener reconnects): " +
                                                 sent.message());
    }
  });
  return erasures;
}

ClusterErasures::~ClusterErasures() {
  device_keys_.SetErasedListener(nullptr);
  listener_.reset();
}

}  // namespace coffre::hubservice
