#include "amqp/frame_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace coffre::amqp {
namespace {

// An AMQP frame (type 0) on `channel` whose body starts with the performative `code`
// (descriptor 0x00 0x53 code) and a list0 (0x45).
std::string Frame(uint16_t channel, uint8_t code, size_t padding = 0) {
  std::string body = {'\x00', '\x53', static_cast<char>(code), '\x45'};
  body.append(padding, '\x40');
  uint32_t size = static_cast<uint32_t>(8 + body.size());
  std::string f = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                   static_cast<char>(size >> 8), static_cast<char>(size), '\x02', '\x00',
                   static_cast<char>(channel >> 8), static_cast<char>(channel)};
  return f + body;
}

constexpr uint8_t kBegin = 0x11, kAttach = 0x12, kFlow = 0x13, kDisposition = 0x15, kEnd = 0x17,
                  kClose = 0x18;
const std::string kHeader("AMQP\x00\x01\x00\x00", 8);
const std::string kHeartbeat("\x00\x00\x00\x08\x02\x00\x00\x00", 8);

std::string FeedAll(FrameFilter& f, const std::string& in, size_t chunk) {
  std::string out;
  for (size_t at = 0; at < in.size(); at += chunk) {
    f.Feed(in.data() + at, std::min(chunk, in.size() - at), out);
  }
  return out;
}

TEST(FrameFilterTest, FramesOnAnEndedSessionAreDroppedWhateverTheReadBoundaries) {
  std::string in = kHeader + Frame(4, kBegin) + Frame(4, kAttach, 20) + Frame(4, kEnd) +
                   Frame(4, kDisposition, 30) + Frame(5, kFlow) + kHeartbeat;
  std::string want = kHeader + Frame(4, kBegin) + Frame(4, kAttach, 20) + Frame(4, kEnd) +
                     Frame(5, kFlow) + kHeartbeat;
  for (size_t chunk : {1, 3, 7, 8, 11, 1000}) {
    FrameFilter f;
    EXPECT_EQ(FeedAll(f, in, chunk), want) << "reads of " << chunk << " bytes";
  }
}

TEST(FrameFilterTest, TheConnectionsCloseOnAnEndedChannelPasses) {
  FrameFilter f;
  std::string in = kHeader + Frame(0, kBegin) + Frame(0, kEnd) + Frame(0, kDisposition) + Frame(0, kClose);
  EXPECT_EQ(FeedAll(f, in, 6), kHeader + Frame(0, kBegin) + Frame(0, kEnd) + Frame(0, kClose));
}

TEST(FrameFilterTest, ABeginMakesTheChannelLiveAgain) {
  FrameFilter f;
  std::string in = kHeader + Frame(2, kBegin) + Frame(2, kEnd) + Frame(2, kFlow) + Frame(2, kBegin) +
                   Frame(2, kAttach);
  EXPECT_EQ(FeedAll(f, in, 5),
            kHeader + Frame(2, kBegin) + Frame(2, kEnd) + Frame(2, kBegin) + Frame(2, kAttach));
}

TEST(FrameFilterTest, SaslFramesAndMalformedInputPassUntouched) {
  FrameFilter f;
  // The SASL header and a sasl-init frame (type 1) on channel 0.
  std::string sasl = std::string("AMQP\x03\x01\x00\x00", 8) +
                     std::string("\x00\x00\x00\x0c\x02\x01\x00\x00", 8) +
                     std::string("\x00\x53\x41\x45", 4);
  std::string bad("\x00\x00\x00\x03garbage that Proton refuses", 32);
  std::string in = sasl + Frame(1, kEnd) + Frame(1, kFlow) + bad + Frame(1, kFlow);
  EXPECT_EQ(FeedAll(f, in, 4), sasl + Frame(1, kEnd) + bad + Frame(1, kFlow));
}

TEST(FrameFilterTest, AFrameOverTheLimitStopsEverythingFromItsFirstEightBytes) {
  FrameFilter f(64);
  std::string huge("\xff\xff\xff\xf0\x02\x00\x00\x00", 8);  // announces 4 GB, sends none
  std::string in = kHeader + Frame(0, kBegin) + huge + Frame(0, kFlow);
  EXPECT_EQ(FeedAll(f, in, 3), kHeader + Frame(0, kBegin));
  EXPECT_EQ(f.oversized(), 0xfffffff0u);
  EXPECT_EQ(FeedAll(f, Frame(0, kFlow), 100), "");  // nothing after it either

  // Not AMQP at all (HTTP on the port): the first eight bytes are no frame header, whatever size
  // they spell; Proton refuses them as a protocol header.
  FrameFilter http(64);
  std::string get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(FeedAll(http, get, 5), get);
  EXPECT_EQ(http.oversized(), 0u);

  FrameFilter at_limit(64);
  std::string exact = kHeader + Frame(0, kFlow, 64 - 12);  // 8 + 4 + 52 = 64 bytes
  EXPECT_EQ(FeedAll(at_limit, exact, 9), exact);
  EXPECT_EQ(at_limit.oversized(), 0u);
}

}  // namespace
}  // namespace coffre::amqp
