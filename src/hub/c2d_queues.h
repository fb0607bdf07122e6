#pragma once
// C2dQueues: the cloud-to-device queue of every device, with Azure IoT Hub's semantics. A
// message waits (at most 50 per device) until its expiry (default TTL 1 hour); a receive locks
// the next waiting one for the lock duration (60 s) and counts a delivery; complete removes it,
// reject dead-letters it, abandon or an expired lock puts it back. A message that expires or is
// delivered more than 10 times is dead-lettered. Each outcome the sender asked for (ack mode)
// becomes a feedback record the service reads (C2dFeedbackLog). Messages and feedback are
// sealed rows (AAD = the row key, which names the device by HMAC), durable before enqueue,
// complete, reject and purge return.
//
// Nothing is cached: every operation on a device's queue is one transaction that locks the
// queue's prefix and reads its rows (C2dQueueTxn), so hub nodes sharing a store see one queue,
// one depth limit and one numbering, and any node settles a delivery another made. A message's
// lock (its token, its end in wall time so that every node judges it alike, its delivery count)
// is in its row, written when the delivery starts without waiting for the disk: a crash can
// forget a delivery, never a message. A lock names the node and the run (start) of the node
// that made it: one left by an earlier run of this node is void (after a restart every message
// is waiting again, as with Azure a delivered but uncompleted message comes back); another
// node's holds until it expires. Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/c2d_feedback_log.h"
#include "hub/c2d_message.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

class C2dQueueTxn;

struct C2dLimits {
  size_t max_depth = 50;
  std::chrono::seconds default_ttl{3600};
  std::chrono::seconds max_ttl{48 * 3600};  // a later expiry is brought down to this
  uint32_t max_delivery_count = 10;
  std::chrono::seconds lock_duration{60};
  // The feedback backlog, oldest dropped first: a record older than feedback_ttl (Azure's
  // feedback TTL, default 1 hour) or beyond the newest max_feedback (docs/formats/twins-and-c2d.md).
  std::chrono::seconds feedback_ttl{3600};
  size_t max_feedback = 10000;
};

class C2dQueues {
 public:
  // rows and clock must outlive the queues. `node_id`: this hub node's in cluster mode (empty
  // for the embedded hub).
  C2dQueues(SealedRows& rows, Clock& clock, C2dLimits limits = {}, std::string node_id = {})
      : rows_(rows), clock_(clock), limits_(limits), node_id_(std::move(node_id)),
        feedback_(rows, clock, limits.feedback_ttl, limits.max_feedback) {}

  // RESOURCE_EXHAUSTED with detail "DeviceMaximumQueueDepthExceeded" when the device has
  // max_depth messages waiting or locked, or "MessageTooLarge" over 64 KiB. Messages left from
  // an earlier device of the same id (another generation) are dropped first, never counted.
  Status Enqueue(const std::string& device_id, const std::string& generation_id, C2dMessage message);

  // Locks and returns the next waiting message, or nullopt if none. With a generation id,
  // messages queued for an earlier device of the same id (deleted and created again) are
  // dropped instead, as Azure drops a deleted device's queue.
  Result<std::optional<QueuedC2d>> Receive(const std::string& device_id,
                                           const std::string& generation_id = "");

  // Called with the device id after each enqueue (outside the lock), e.g. to wake its session.
  // Only on this node: a device connected to another node learns of the message at its next
  // receive.
  void SetArrivalListener(std::function<void(const std::string&)> listener);

  // By the lock token Receive gave (on any node). FAILED_PRECONDITION with detail
  // "DeviceMessageLockLost" if the message is gone or its lock expired.
  Status Complete(const std::string& device_id, const std::string& lock_token);
  Status Reject(const std::string& device_id, const std::string& lock_token);
  Status Abandon(const std::string& device_id, const std::string& lock_token);

  // Removes every message of the device (feedback "Purged" where asked for); how many.
  Result<size_t> Purge(const std::string& device_id);
  // Messages waiting or locked, not expired: the device's cloudToDeviceMessageCount. With a
  // generation id, an earlier device's messages are not counted. Reads only: what is stale is
  // dropped by the next operation that writes.
  Result<size_t> Depth(const std::string& device_id, const std::string& generation_id = "");

  // Feedback records in the order they were made (expired ones dropped first), with their row
  // names for Acknowledge.
  using FeedbackBatch = C2dFeedbackLog::Batch;
  Result<FeedbackBatch> PeekFeedback(size_t max);
  Status AcknowledgeFeedback(const std::vector<std::string>& rows);
  // Acknowledges every record up to and including the one numbered `last` (a batch's token is
  // the number of its last record: FeedbackNumber of its last row). FAILED_PRECONDITION if
  // `last` is beyond every batch PeekFeedback handed out, on any node: records nobody has read
  // are never acknowledged.
  Status AcknowledgeFeedbackThrough(uint64_t last);
  static std::optional<uint64_t> FeedbackNumber(std::string_view row);

 private:
  Result<std::string> QueuePrefix(const std::string& device_id);  // "c2d/<h(device id)>/"
  // This run of this node, its run id made at the first call.
  Result<C2dLockHolder> Self();
  // Runs `op` on the device's queue, in one transaction locking its prefix (durable on return
  // if `sync`). The first try locks the queue alone (most operations add no feedback); one that
  // must add feedback runs again holding the feedback log too, synced. The records it added are
  // trimmed after, in transactions of their own. `op` may run more than once.
  Status OnQueue(const std::string& device_id, bool sync,
                 const std::function<Status(C2dQueueTxn&)>& op);
  // Complete, reject (an outcome) or abandon (none) the delivery holding `lock_token`.
  Status Settle(const std::string& device_id, const std::string& lock_token,
                std::optional<C2dOutcome> outcome);

  SealedRows& rows_;
  Clock& clock_;
  const C2dLimits limits_;
  const std::string node_id_;
  C2dFeedbackLog feedback_;
  std::mutex run_mu_;
  std::string run_;  // guarded by run_mu_
  std::function<void(const std::string&)> arrival_;  // set before use
};

}  // namespace coffre::hub
