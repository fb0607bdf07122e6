// The read API's hand-written JSON: every string escaped, invalid UTF-8 replaced, a repeated
// application property keeping its last value, a binary body in base64; what a JSON parser reads
// back is the message.
#include "hubapi/message_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace coffre::hubapi {
namespace {

using nlohmann::json;

TEST(MessageJsonTest, StringsAreEscapedAndInvalidUtf8IsReplaced) {
  std::string out;
  std::string tricky = std::string("q\"b\\s/\n\r\t\b\f") + '\x01' + '\x1f' + "\xc3\xa9" + '\0' + "z";
  AppendJsonString(out, tricky);
  EXPECT_EQ(json::parse(out).get<std::string>(), tricky);
  out.clear();
  AppendJsonString(out, "a\xff" "b");
  EXPECT_EQ(json::parse(out).get<std::string>(), "a\xef\xbf\xbd" "b");
}

TEST(MessageJsonTest, AMessageReadsBackAsTheReadApiDocumentsIt) {
  hub::StoredMessage m;
  m.sequence = 42;
  m.message.device_id = "dev \"1\"";
  m.message.module_id = "mod";
  m.message.enqueued_ms = 1'800'000'000'123;
  m.message.properties.system.message_id = "mid";
  m.message.properties.system.content_type = "application/json";
  m.message.properties.application = {{"k", "first"}, {"odd key", "a&b=c"}, {"k", "last"}};
  std::string body = "{\"t\":20}";
  m.message.body.assign(reinterpret_cast<const std::byte*>(body.data()),
                        reinterpret_cast<const std::byte*>(body.data()) + body.size());
  std::string out;
  AppendMessageJson(out, 3, m);
  json j = json::parse(out);
  EXPECT_EQ(j["partition"], "3");
  EXPECT_EQ(j["offset"], "42");
  EXPECT_EQ(j["sequenceNumber"], 42);
  EXPECT_EQ(j["deviceId"], "dev \"1\"");
  EXPECT_EQ(j["enqueuedTime"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["systemProperties"]["messageId"], "mid");
  EXPECT_EQ(j["systemProperties"]["contentType"], "application/json");
  EXPECT_EQ(j["systemProperties"]["iothub-connection-device-id"], "dev \"1\"");
  EXPECT_EQ(j["systemProperties"]["iothub-connection-module-id"], "mod");
  EXPECT_EQ(j["systemProperties"]["iothub-enqueuedtime"], j["enqueuedTime"]);
  EXPECT_EQ(j["systemProperties"]["iothub-message-source"], "Telemetry");
  EXPECT_FALSE(j["systemProperties"].contains("correlationId"));
  EXPECT_EQ(j["properties"], json({{"k", "last"}, {"odd key", "a&b=c"}}));
  EXPECT_EQ(j["bodyEncoding"], "utf-8");
  EXPECT_EQ(j["body"], body);

  m.message.body = {std::byte{0xff}, std::byte{0x00}, std::byte{0x10}};
  out.clear();
  AppendMessageJson(out, 0, m);
  j = json::parse(out);
  EXPECT_EQ(j["bodyEncoding"], "base64");
  EXPECT_EQ(j["body"], "/wAQ");
}

}  // namespace
}  // namespace coffre::hubapi
