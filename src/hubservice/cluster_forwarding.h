#pragma once
// ClusterForwarding: direct methods and desired-property notifications reach a device connected
// to another hub node (cluster mode). A call this node cannot deliver (the identity has no
// session here) goes to the node that announced it holds the identity (ClusterSessions::
// HolderOf), through a ClusterHandoff record; that node calls the method on its own session, as
// if invoked there, and sends back how the call ended (the device's status and payload, or
// DeviceNotOnline, or GatewayTimeout), which ends the call here. A call waiting for its device
// to connect (a connect timeout) is handed over as soon as another node announces it. A
// desired-property patch committed here goes to the holder's sessions the same way. Nothing of
// it is stored beyond the hand-off rows. Thread-safe.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "hub/method_calls.h"
#include "hubservice/cluster_handoff.h"
#include "hubservice/cluster_sessions.h"

namespace coffre::hubservice {

class ClusterForwarding {
 public:
  // Sends a desired-property notification (`text`: the patch with its "$version") to this
  // node's session of the twin, if it has one.
  using SendDesiredHere =
      std::function<void(const hub::TwinId& id, const std::string& text, int64_t version)>;
  struct Parts {
    const ClusterLink& link;
    storage::KvStore& kv;
    hub::HubKeys& keys;
    ClusterSessions& sessions;
    hub::MethodCalls& methods;
    SendDesiredHere send_desired_here;
  };
  // Everything in `parts` must outlive it; it tells `sessions` of its interest in identities
  // taken elsewhere.
  static Result<std::unique_ptr<ClusterForwarding>> Start(Parts parts);
  ~ClusterForwarding();

  // MethodSink::HandOverMethod: whether another node holds the target and the call went there.
  bool HandOverMethod(const std::string& rid, const hub::MethodRequest& request);
  // A desired-property patch committed here: to the node holding the twin's identity, if
  // another one does.
  void DesiredChanged(const hub::TwinId& id, const std::string& text, int64_t version);

  const ClusterHandoff& handoff() const { return *handoff_; }

 private:
  explicit ClusterForwarding(Parts parts) : parts_(std::move(parts)) {}
  void Received(const nlohmann::json& record);
  Status CallHere(const nlohmann::json& record);  // a call handed over by another node
  Status EndHere(const nlohmann::json& record);   // how a call handed over from here ended
  Status DesiredHere(const nlohmann::json& record);
  void TakenElsewhere(const std::string& digest);

  Parts parts_;
  std::unique_ptr<ClusterHandoff> handoff_;
  std::mutex mu_;
  // Identities with calls waiting for them to connect, by digest, with until when; guarded by
  // mu_.
  std::map<std::string, std::pair<hub::TwinId, std::chrono::steady_clock::time_point>> waiting_;
};

}  // namespace coffre::hubservice
