#pragma once
// C2dQueues: the cloud-to-device queue of every device, with Azure IoT Hub's semantics. A
// message waits (at most 50 per device) until its expiry (default TTL 1 hour); a receive locks
// the next waiting one for the lock duration (60 s) and counts a delivery; complete removes it,
// reject dead-letters it, abandon or an expired lock puts it back. A message that expires or is
// delivered more than 10 times is dead-lettered. Each outcome the sender asked for (ack mode)
// becomes a feedback record the service reads. Messages and feedback are sealed rows (AAD = the
// row key, which names the device by HMAC), durable before enqueue, complete, reject and purge
// return; locks are in memory (after a restart every message is waiting again, as with Azure a
// delivered but uncompleted message comes back). Thread-safe.

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/c2d_message.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

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
  // rows and clock must outlive the queues.
  C2dQueues(SealedRows& rows, Clock& clock, C2dLimits limits = {})
      : rows_(rows), clock_(clock), limits_(limits) {}

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
  void SetArrivalListener(std::function<void(const std::string&)> listener);

  // By the lock token Receive gave. FAILED_PRECONDITION with detail "DeviceMessageLockLost" if
  // the message is gone or its lock expired.
  Status Complete(const std::string& device_id, const std::string& lock_token);
  Status Reject(const std::string& device_id, const std::string& lock_token);
  Status Abandon(const std::string& device_id, const std::string& lock_token);

  // Removes every message of the device (feedback "Purged" where asked for); how many.
  Result<size_t> Purge(const std::string& device_id);
  // Messages waiting or locked (expired ones are dead-lettered first): the device's
  // cloudToDeviceMessageCount. With a generation id, an earlier device's messages are dropped
  // first, as Receive does.
  Result<size_t> Depth(const std::string& device_id, const std::string& generation_id = "");

  // Feedback records in the order they were made (expired ones dropped first), with their row
  // names for Acknowledge.
  struct FeedbackBatch {
    std::vector<C2dFeedback> records;
    std::vector<std::string> rows;
  };
  Result<FeedbackBatch> PeekFeedback(size_t max);
  Status AcknowledgeFeedback(const std::vector<std::string>& rows);
  // Acknowledges every record up to and including the one numbered `last` (a batch's token is
  // the number of its last record: FeedbackNumber of its last row). FAILED_PRECONDITION if
  // `last` is beyond every batch PeekFeedback handed out since this object was made: records
  // nobody has read are never acknowledged.
  Status AcknowledgeFeedbackThrough(uint64_t last);
  static std::optional<uint64_t> FeedbackNumber(std::string_view row);

 private:
  struct Entry {
    uint64_t sequence = 0;
    std::string row;
    std::string lock_token;  // empty: waiting
    Clock::SteadyTime locked_until;
    Clock::WallTime expiry;
    uint32_t delivery_count = 0;
    std::string generation_id;
  };
  struct DeviceQueue {
    std::string prefix;  // "c2d/<hmac of the device id>/"
    uint64_t next_sequence = 1;
    std::vector<Entry> entries;  // in sequence order
  };

  Result<DeviceQueue*> Queue(const std::string& device_id);  // loads on first use; mu_ held
  // What every look at a queue does first: DropExpired, then DropOtherGenerations.
  Status DropStale(const std::string& device_id, DeviceQueue& q, const std::string& generation_id);
  Status DropExpired(const std::string& device_id, DeviceQueue& q);
  // Erases the messages queued for an earlier device of the same id (no feedback).
  Status DropOtherGenerations(DeviceQueue& q, const std::string& generation_id);
  Status DeadLetter(const std::string& device_id, DeviceQueue& q, size_t index, C2dOutcome outcome);
  Result<size_t> Locked(DeviceQueue& q, const std::string& lock_token);
  Status AddFeedback(const std::string& device_id, const QueuedC2d& m, C2dOutcome outcome);
  Status LoadFeedbackSequence();  // next_feedback_sequence_ from the rows, once; mu_ held
  Result<uint64_t> NextFeedbackSequence();
  // Drops the oldest records while they are expired or older than the newest max_feedback
  // (`newest`: the last number given out); mu_ held.
  Status TrimFeedback(uint64_t newest);

  SealedRows& rows_;
  Clock& clock_;
  const C2dLimits limits_;
  std::mutex mu_;
  std::map<std::string, DeviceQueue> queues_;      // by device id; guarded by mu_
  std::optional<uint64_t> next_feedback_sequence_;  // guarded by mu_
  uint64_t feedback_handed_out_ = 0;  // the last record number PeekFeedback gave; guarded by mu_
  std::function<void(const std::string&)> arrival_;  // set before use
};

}  // namespace coffre::hub
