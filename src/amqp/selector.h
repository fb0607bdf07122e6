#pragma once
// The start position of an Event Hubs partition receiver, from its source's selector filter
// ("apache.org:selector-filter:string"): amqp.annotation.{x-opt-offset | x-opt-sequence-number |
// x-opt-enqueued-time} {> | >= | =} '{value}', read tolerantly (case, spaces). Offsets here are
// the sequence numbers as text; "-1" is the start of the partition and "@latest" its end.
// Stateless.

#include <cstdint>
#include <optional>
#include <string_view>

namespace coffre::amqp {

struct StartPosition {
  enum class Kind { kOffset, kSequence, kEnqueuedTime, kStart, kLatest };
  Kind kind = Kind::kLatest;
  int64_t value = 0;       // offset, sequence number or milliseconds since the epoch
  bool inclusive = false;  // ">=" or "="
};

// nullopt if the expression is not one of these forms.
std::optional<StartPosition> ParseSelector(std::string_view expression);

// The first sequence number to deliver for `position`, clamped to [begin, end]; `seek_time` finds
// the first message enqueued at or after a time.
template <class SeekTime>
uint64_t FirstSequence(const StartPosition& position, uint64_t begin, uint64_t end,
                       SeekTime&& seek_time) {
  uint64_t first = end;
  switch (position.kind) {
    case StartPosition::Kind::kStart:
      first = begin;
      break;
    case StartPosition::Kind::kLatest:
      first = end;
      break;
    case StartPosition::Kind::kOffset:
    case StartPosition::Kind::kSequence:
      if (position.value < 0) {
        first = begin;
      } else {
        first = static_cast<uint64_t>(position.value) + (position.inclusive ? 0 : 1);
      }
      break;
    case StartPosition::Kind::kEnqueuedTime:
      first = seek_time(position.value + (position.inclusive ? 0 : 1));
      break;
  }
  if (first < begin) first = begin;
  if (first > end) first = end;
  return first;
}

}  // namespace coffre::amqp
