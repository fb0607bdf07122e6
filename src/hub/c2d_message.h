#pragma once
// A cloud-to-device message as the hub queues it for one device, with Azure's delivery state
// (delivery count, expiry, acknowledgement mode), and the feedback records the service reads
// back about what became of it. Value types, thread-compatible.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "hub/message.h"

namespace coffre::hub {

// Azure's limit on one C2D message (body and properties).
inline constexpr size_t kMaxC2dMessageBytes = 64 * 1024;

// Which outcomes the sender wants feedback for (the message's "iothub-ack").
enum class C2dAck { kNone, kPositive, kNegative, kFull };
std::optional<C2dAck> ParseC2dAck(std::string_view text);  // "none", "positive", ...
std::string_view C2dAckName(C2dAck ack);

struct C2dMessage {
  MessageProperties properties;  // message id, correlation id, user id, content type, app props
  std::string body;              // bytes as sent
  C2dAck ack = C2dAck::kNone;
  std::optional<Clock::WallTime> expiry;  // absolute; the queue fills in now + default TTL
};

// What became of a message, as Azure's feedback names it.
enum class C2dOutcome { kSuccess, kExpired, kDeliveryCountExceeded, kRejected, kPurged };
std::string_view C2dOutcomeName(C2dOutcome outcome);

struct C2dFeedback {
  std::string original_message_id;
  std::string device_id;
  std::string device_generation_id;
  C2dOutcome outcome = C2dOutcome::kSuccess;
  Clock::WallTime enqueued_time;  // when the outcome was decided

  // Azure's feedback record: {"originalMessageId","deviceId","deviceGenerationId",
  // "statusCode","description","enqueuedTimeUtc"}.
  nlohmann::json ToJson() const;
  static Result<C2dFeedback> FromJson(const nlohmann::json& j);  // DATA_LOSS if not ours
};

// Who made a delivery: a hub node (its id; empty for the embedded hub) in one of its runs
// (random, made at each start).
struct C2dLockHolder {
  std::string node;
  std::string run;
};

// A queued message with its delivery state (the stored record).
struct QueuedC2d {
  uint64_t sequence = 0;  // per device, in enqueue order
  // The delivery's lock; meaningless without a token. Its end is wall time, so that every hub
  // node judges it alike.
  std::string lock_token;  // empty: not locked
  Clock::WallTime locked_until{};
  C2dLockHolder locked_by;
  C2dMessage message;
  std::string device_generation_id;
  Clock::WallTime enqueued_time;
  uint32_t delivery_count = 0;

  nlohmann::json ToJson() const;
  static Result<QueuedC2d> FromJson(const nlohmann::json& j);  // DATA_LOSS if not ours
};

}  // namespace coffre::hub
