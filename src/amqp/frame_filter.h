#pragma once
// FrameFilter: drops the frames a client sends on a session it has already ended, before they
// reach Proton. rhea (the Event Hubs SDK's AMQP stack) settles deliveries that were in flight
// when it closed a receiver with a disposition sent AFTER its session's `end`; Proton answers any
// frame on an unknown channel by closing the whole connection ("no such channel"), which would
// end every other link of the client. Azure tolerates those late frames; so do we, by dropping
// them: the session is gone, nothing in them can apply. A `begin` on the channel makes it live
// again; open and close always pass. Protocol headers ("AMQP" + 4 bytes), SASL frames and empty (heartbeat) frames pass
// untouched, and anything malformed passes through for Proton to refuse.
// It also enforces the frame-size limit from the first byte: Proton only checks it once the whole
// frame has arrived, so a header announcing 4 GB would hold the connection until a deadline.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

namespace coffre::amqp {

class FrameFilter {
 public:
  // max_frame: the largest frame accepted, header included (0: no limit).
  explicit FrameFilter(uint32_t max_frame = 0) : max_frame_(max_frame) {}

  // Appends to `out` the bytes of `data` that Proton should see, in order. Bytes of a frame
  // whose fate is not known yet are held until it is.
  // Once a frame over the limit has started, nothing more passes: oversized() says so.
  void Feed(const char* data, size_t size, std::string& out);

  // The size a frame announced over the limit, or 0.
  uint32_t oversized() const { return oversized_; }

 private:
  void Decide(std::string& out);

  uint32_t max_frame_;
  uint32_t oversized_ = 0;
  std::string head_;        // the start of a frame (or protocol header) not decided yet
  uint64_t remaining_ = 0;  // bytes of the current frame's body still to pass or drop
  bool dropping_ = false;   // the current frame is dropped
  bool passthrough_ = false;  // malformed input seen: Proton gets everything from here on
  bool header_seen_ = false;  // a protocol header came first, as it must
  std::set<uint16_t> ended_;  // channels whose session the client ended
};

}  // namespace coffre::amqp
