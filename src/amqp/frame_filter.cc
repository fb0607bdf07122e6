#include "amqp/frame_filter.h"

#include <algorithm>

namespace coffre::amqp {

namespace {

constexpr size_t kFrameHeader = 8;
constexpr uint8_t kAmqpFrame = 0;
constexpr uint64_t kBegin = 0x11;
constexpr uint64_t kEnd = 0x17;

// attach, flow, transfer, disposition, detach, end: what belongs to a session. open and close
// belong to the connection and always pass (a client's close comes on channel 0, which may be
// a session it has ended).
bool SessionScoped(uint64_t performative) { return performative >= 0x12 && performative <= kEnd; }

uint32_t Be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

}  // namespace

void FrameFilter::Feed(const char* data, size_t size, std::string& out) {
  while (size > 0 && oversized_ == 0) {
    if (passthrough_) {
      out.append(data, size);
      return;
    }
    if (remaining_ > 0) {  // the body of a decided frame
      size_t k = static_cast<size_t>(std::min<uint64_t>(remaining_, size));
      if (!dropping_) out.append(data, k);
      remaining_ -= k;
      data += k;
      size -= k;
      continue;
    }
    head_.push_back(*data++);
    --size;
    Decide(out);
  }
}

// Called with one more byte in head_: passes or drops the frame once enough of it is known.
void FrameFilter::Decide(std::string& out) {
  if (head_.size() < kFrameHeader) return;
  if (head_.compare(0, 4, "AMQP") == 0) {  // a protocol header (plain or SASL)
    header_seen_ = true;
    out += head_;
    head_.clear();
    return;
  }
  if (!header_seen_) {  // not AMQP at all: Proton refuses the protocol header at once
    passthrough_ = true;
    out += head_;
    head_.clear();
    return;
  }
  uint32_t frame_size = Be32(head_, 0);
  if (max_frame_ != 0 && frame_size > max_frame_) {
    oversized_ = frame_size;
    head_.clear();
    return;
  }
  size_t data_offset = size_t(uint8_t(head_[4])) * 4;
  uint8_t type = uint8_t(head_[5]);
  uint16_t channel = uint16_t((uint8_t(head_[6]) << 8) | uint8_t(head_[7]));
  if (frame_size < kFrameHeader || data_offset < kFrameHeader || data_offset > frame_size) {
    passthrough_ = true;  // Proton says what is wrong with it
    out += head_;
    head_.clear();
    return;
  }
  uint64_t performative = 0;
  bool known = true;
  if (type == kAmqpFrame && frame_size > data_offset) {
    // The performative's descriptor: 0x00 0x53 code (smallulong) or 0x00 0x80 + 8 bytes (ulong).
    size_t need = std::min<size_t>(frame_size, data_offset + 3);
    if (head_.size() < need) return;
    if (uint8_t(head_[data_offset]) == 0x00 && uint8_t(head_[data_offset + 1]) == 0x53) {
      performative = uint8_t(head_[data_offset + 2]);
    } else if (uint8_t(head_[data_offset]) == 0x00 && uint8_t(head_[data_offset + 1]) == 0x80) {
      need = std::min<size_t>(frame_size, data_offset + 10);
      if (head_.size() < need) return;
      if (need == data_offset + 10) {
        for (size_t i = 0; i < 8; ++i) performative = (performative << 8) | uint8_t(head_[data_offset + 2 + i]);
      }
    } else {
      known = false;
    }
  }
  bool empty = frame_size == data_offset;  // a heartbeat
  dropping_ = false;
  if (type == kAmqpFrame && !empty && known) {
    if (performative == kBegin) {
      ended_.erase(channel);
    } else if (ended_.count(channel) != 0 && SessionScoped(performative)) {
      dropping_ = true;
    } else if (performative == kEnd) {
      ended_.insert(channel);
    }
  }
  if (!dropping_) out += head_;
  remaining_ = frame_size - head_.size();
  head_.clear();
}

}  // namespace coffre::amqp
