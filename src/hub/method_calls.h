#pragma once
// MethodCalls: direct method invocations in flight (POST /twins/{id}/methods). An invocation
// goes to a session of the device (or module) subscribed to methods through a MethodSink (the
// MQTT front end); if none is, it waits up to its connect timeout for one to subscribe, else
// ends as DeviceNotOnline (404). Once delivered it waits up to its response timeout for the
// device's answer (Respond), else ends as GatewayTimeout (504). In cluster mode a call for an
// identity that another hub node holds is handed to that node (MethodSink::HandOverMethod),
// which calls it there and sends back how it ended (End); this node only bounds the wait.
// Each invocation's callback is
// called exactly once, outside the lock, on the thread that ends it (the responder, the sink's
// caller, or the deadline thread): it must be short. Nothing of a call is stored. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "hub/twin_store.h"

namespace coffre::hub {

// Azure's bounds: timeouts in seconds, payloads of at most 128 KiB each way.
inline constexpr int kMinMethodTimeoutSeconds = 5;
inline constexpr int kMaxMethodTimeoutSeconds = 300;
inline constexpr size_t kMaxMethodPayloadBytes = 128 * 1024;

// A method name that can stand in an MQTT topic as it is (the SDK reads it raw): 1-128 bytes
// of printable ASCII without '/', '?', '#', '+', '&', '=', '%' or spaces.
bool ValidMethodName(std::string_view name);

struct MethodRequest {
  TwinId target;
  std::string name;
  std::string payload;  // JSON text ("null" for none)
  std::chrono::seconds response_timeout{30};
  std::chrono::seconds connect_timeout{0};
  // Handed over by another hub node: delivered here or not at all (never handed on).
  bool handed_over = false;
};

struct MethodResponse {
  int status = 0;       // the device's
  std::string payload;  // JSON text as the device sent it
};

// Delivers a request to a subscribed session; false if the identity has none right now.
class MethodSink {
 public:
  virtual ~MethodSink() = default;
  virtual bool DeliverMethod(const TwinId& target, std::string_view name, std::string_view rid,
                             std::string_view payload) = 0;
  // Cluster mode: hands call `rid` to the hub node holding its target, which ends it through
  // MethodCalls::End; false if no other node holds the target now.
  virtual bool HandOverMethod(const std::string& rid, const MethodRequest& request) {
    (void)rid;
    (void)request;
    return false;
  }
};

// How long a call handed to another node may take before this node ends it (GatewayTimeout):
// the other node's own wait for the device, then for its answer, and a margin for the trip back.
inline constexpr std::chrono::seconds kHandOverMargin{5};

class MethodCalls {
 public:
  // NOT_FOUND with detail "DeviceNotOnline", DEADLINE_EXCEEDED with detail "GatewayTimeout",
  // UNAVAILABLE when the hub is shutting down.
  using Callback = std::function<void(Result<MethodResponse>)>;
  using SteadyClock = std::chrono::steady_clock;

  MethodCalls();   // starts the deadline thread
  ~MethodCalls();  // Stop()
  // Ends every call still waiting as UNAVAILABLE and joins the thread; later calls end at once
  // as UNAVAILABLE and answers are ignored. Idempotent.
  void Stop();
  MethodCalls(const MethodCalls&) = delete;
  MethodCalls& operator=(const MethodCalls&) = delete;

  // Set once, before the first Invoke; the sink must outlive the calls.
  void SetSink(MethodSink& sink);

  void Invoke(MethodRequest request, Callback done);
  // A device's answer to request `rid`; ignored unless it comes from the identity the request
  // went to and is still awaited.
  void Respond(const TwinId& from, const std::string& rid, MethodResponse response);
  // A session of `target` subscribed to methods, here or (cluster mode) on another node: calls
  // waiting for it are delivered now.
  void Subscribed(const TwinId& target);
  // How call `rid`, handed over to another node, ended there; ignored unless still awaited.
  void End(const std::string& rid, Result<MethodResponse> result);

  size_t pending() const;

 private:
  struct Call {
    MethodRequest request;
    Callback done;
    bool delivered = false;
    SteadyClock::time_point deadline;
  };
  void Run();
  // How long a call waits once delivered: its response timeout, or for a call handed to another
  // node, that node's whole wait.
  static SteadyClock::duration DeliveredWait(const MethodRequest& request, bool handed);
  enum class Delivery { kNone, kHere, kHandedOver };
  // Delivers `call` if the sink takes it; mu_ not held (the sink may take its own locks).
  Delivery Deliver(const std::string& rid, const MethodRequest& request);

  MethodSink* sink_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Call> calls_;  // by rid; guarded by mu_
  uint64_t next_rid_ = 1;              // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::hub
