// monitor-events --amqp's pure parts: the Event Hubs connection string, the token it signs, the
// selector filters it asks with (read back by the endpoint's own parser), and the event mapping:
// an event as the endpoint sends it prints exactly as the read API's JSON of the same stored
// message does.
#include <gtest/gtest.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/codec/map.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "amqp/eventhub_nodes.h"
#include "amqp/selector.h"
#include "cli/amqp_event_json.h"
#include "cli/eventhub_connection.h"
#include "cli/hub_monitor.h"
#include "cli/hub_monitor_amqp.h"
#include "common/encoding.h"
#include "crypto/hmac.h"
#include "hub/sas_token.h"
#include "hubapi/message_json.h"
#include "test_util.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr const char* kKey = "5xC0CrURfGXCTZmgLCMFwVbLLp7v7zCrkt5XI8PmMx4=";

std::string KeyText(const EventHubConnection& c) { return std::string(AsChars(c.key.Reveal())); }

TEST(EventHubConnectionTest, ParsesTheStacksConnectionString) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection c,
      ParseEventHubConnectionString(std::string("Endpoint=sb://localhost:51017/;SharedAccessKeyName=service;"
                                                "SharedAccessKey=") + kKey + ";EntityPath=localhost"));
  EXPECT_EQ(c.host, "localhost");
  EXPECT_EQ(c.port, 51017);
  EXPECT_TRUE(c.tls);
  EXPECT_EQ(c.endpoint, "sb://localhost:51017");
  EXPECT_EQ(c.entity, "localhost");
  EXPECT_EQ(c.key_name, "service");
  EXPECT_EQ(KeyText(c), kKey);  // the text, not the bytes it encodes
  EXPECT_TRUE(c.signature.empty());
}

TEST(EventHubConnectionTest, DefaultsAndAzuresSpellings) {
  // Azure's own strings: no port, part names in any case, a trailing ';'.
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection c,
      ParseEventHubConnectionString("endpoint=sb://ns.servicebus.windows.net/;sharedaccesskeyname=listen;"
                                    "sharedaccesskey=abc=;entitypath=hub1;"));
  EXPECT_EQ(c.host, "ns.servicebus.windows.net");
  EXPECT_EQ(c.port, kAmqpsPort);
  EXPECT_EQ(c.endpoint, "sb://ns.servicebus.windows.net");
  EXPECT_EQ(KeyText(c), "abc=");
  // The emulator's plain AMQP.
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection plain,
      ParseEventHubConnectionString("Endpoint=sb://127.0.0.1/;SharedAccessKeyName=a;SharedAccessKey=b;"
                                    "EntityPath=e;UseDevelopmentEmulator=true"));
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.port, kAmqpPort);
  // A ready signature instead of a key.
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection sas,
      ParseEventHubConnectionString("Endpoint=sb://h/;EntityPath=e;SharedAccessSignature=SharedAccessSignature "
                                    "sr=x&sig=y&se=1&skn=p"));
  EXPECT_EQ(sas.signature, "SharedAccessSignature sr=x&sig=y&se=1&skn=p");
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string token, EventHubToken(sas, "sb://h/e", 123));
  EXPECT_EQ(token, sas.signature);
}

TEST(EventHubConnectionTest, RefusesWhatIsNotOneWithoutEchoingTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=SECRETKEY", "IoT Hub connection string"},
      {"SharedAccessKeyName=a;SharedAccessKey=SECRETKEY;EntityPath=e", "no Endpoint"},
      {"Endpoint=https://h/;SharedAccessKeyName=a;SharedAccessKey=SECRETKEY;EntityPath=e", "sb://"},
      {"Endpoint=sb://h:99999/;SharedAccessKeyName=a;SharedAccessKey=SECRETKEY;EntityPath=e", "host[:port]"},
      {"Endpoint=sb:///;SharedAccessKeyName=a;SharedAccessKey=SECRETKEY;EntityPath=e", "host[:port]"},
      {"Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=SECRETKEY", "EntityPath"},
      {"Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=SECRETKEY;EntityPath=a/b", "EntityPath"},
      {"Endpoint=sb://h/;SharedAccessKey=SECRETKEY;EntityPath=e", "SharedAccessKeyName"},
      {"Endpoint=sb://h/;SharedAccessKeyName=a;EntityPath=e", "SharedAccessKey"},
      {"Endpoint=sb://h/;EntityPath=e;SharedAccessSignature=SECRETKEY", "SharedAccessSignature"},
      {"SECRETKEY", "NAME=VALUE"},
  };
  for (const auto& [text, why] : cases) {
    Result<EventHubConnection> c = ParseEventHubConnectionString(text);
    ASSERT_FALSE(c.has_value()) << text;
    EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.error().message().find(why), std::string::npos) << c.error().message();
    EXPECT_EQ(c.error().message().find("SECRETKEY"), std::string::npos) << c.error().message();
  }
}

TEST(EventHubConnectionTest, ResolvesFromTheStackDirectoryOrTheFlag) {
  testing::TempDir tmp;
  {
    std::ofstream f(tmp.path() / "connection.json");
    f << json{{"ca_file", "/stack/ca.pem"},
              {"amqp_port", 5999},
              {"eventhub_connection_string",
               "Endpoint=sb://localhost:5999/;SharedAccessKeyName=service;SharedAccessKey=k;EntityPath=localhost"}}
             .dump();
  }
  HubConnectionOptions dir;
  dir.dir = tmp.path().string();
  COFFRE_ASSERT_OK_AND_ASSIGN(EventHubConnection c, ResolveEventHubConnection(dir, ""));
  EXPECT_EQ(c.port, 5999);
  EXPECT_EQ(c.ca_file, "/stack/ca.pem");
  EXPECT_EQ(c.entity, "localhost");
  // The flag beats DIR's string, --ca-file beats DIR's CA; DIR's amqp_port does not touch the
  // flag's endpoint.
  dir.ca_file = "/mine.pem";
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection flag,
      ResolveEventHubConnection(dir, "Endpoint=sb://other/;SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=x"));
  EXPECT_EQ(flag.host, "other");
  EXPECT_EQ(flag.port, kAmqpsPort);
  EXPECT_EQ(flag.ca_file, "/mine.pem");
  // Nothing names an endpoint: a usage error.
  Result<EventHubConnection> none = ResolveEventHubConnection(HubConnectionOptions{}, "");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.error().message().find("--eventhub-connection-string"), std::string::npos);
}

TEST(EventHubConnectionTest, TokensAreSignedAsTheEventHubsSdkSignsThem) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      EventHubConnection c,
      ParseEventHubConnectionString(std::string("Endpoint=sb://localhost:51017/;SharedAccessKeyName=service;"
                                                "SharedAccessKey=") + kKey + ";EntityPath=localhost"));
  std::string audience = "sb://localhost:51017/localhost";
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string token, EventHubToken(c, audience, 1900000000));
  // @azure/core-amqp: HMAC-SHA256 keyed by the key's text over encodeURIComponent(audience)
  // + "\n" + expiry, computed here without the code under test.
  std::string sr = "sb%3A%2F%2Flocalhost%3A51017%2Flocalhost";
  auto key = std::move(crypto::SecretBytes::CopyOf(AsBytes(kKey)).value());
  Bytes mac = *crypto::HmacSha256(key, AsBytes(sr + "\n1900000000"));
  COFFRE_ASSERT_OK_AND_ASSIGN(hub::SasToken parsed, hub::ParseSasToken(token));
  EXPECT_EQ(parsed.raw_resource, sr);
  EXPECT_EQ(parsed.resource, audience);
  EXPECT_EQ(parsed.expiry, 1900000000);
  EXPECT_EQ(parsed.key_name, "service");
  EXPECT_EQ(parsed.signature, mac);
}

TEST(MonitorAmqpTest, StartFiltersAreReadByTheEndpointAsMeant) {
  MonitorOptions latest;
  EXPECT_EQ(StartFilter(latest), "amqp.annotation.x-opt-offset > '@latest'");
  auto parsed = amqp::ParseSelector(StartFilter(latest));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, amqp::StartPosition::Kind::kLatest);

  MonitorOptions start;
  start.from_start = true;
  EXPECT_EQ(StartFilter(start), "amqp.annotation.x-opt-offset > '-1'");
  parsed = amqp::ParseSelector(StartFilter(start));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(amqp::FirstSequence(*parsed, 5, 9, [](int64_t) { return uint64_t{0}; }), 5u);

  // --enqueued-time T reads from the first event at or after T, as fromEnqueuedTime does.
  MonitorOptions at;
  at.from_start = true;  // the time wins, as on the read API path
  at.enqueued_time_ms = 1700000000000;
  EXPECT_EQ(StartFilter(at), "amqp.annotation.x-opt-enqueued-time > '1699999999999'");
  parsed = amqp::ParseSelector(StartFilter(at));
  ASSERT_TRUE(parsed);
  int64_t sought = 0;
  amqp::FirstSequence(*parsed, 0, 9, [&](int64_t ms) { sought = ms; return uint64_t{3}; });
  EXPECT_EQ(sought, 1700000000000);
  at.enqueued_time_ms = 0;  // the epoch itself: everything
  EXPECT_EQ(StartFilter(at), "amqp.annotation.x-opt-offset > '-1'");
}

hub::StoredMessage Stored(Bytes body) {
  hub::StoredMessage s;
  s.sequence = 41;
  hub::TelemetryMessage& m = s.message;
  m.device_id = "dev-ü 1";
  m.module_id = "mod";
  m.enqueued_ms = 1764000000123;
  hub::SystemProperties& p = m.properties.system;
  p.message_id = "msg-1";
  p.correlation_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
  p.user_id = "user";
  p.content_type = "application/json";
  p.content_encoding = "utf-8";
  p.interface_id = "dtmi:com:example;1";
  p.subject = "thermostat";
  m.properties.application = {{"tricky key", "a b&c=d/e?f%g+h$"}, {"n", "1"}, {"n", "2"}, {"empty", ""}};
  m.body = std::move(body);
  return s;
}

// The read API's JSON of a stored message, as HubClient hands it to EventJsonLine.
json ReadApiJson(const hub::StoredMessage& s, int partition) {
  std::string text;
  hubapi::AppendMessageJson(text, partition, s);
  return json::parse(text);
}

TEST(AmqpEventJsonTest, PrintsExactlyAsTheReadApiPathPrints) {
  for (Bytes body : {Bytes(AsBytes(R"({"temperature":20,"note":"line\nbreak"})").begin(),
                           AsBytes(R"({"temperature":20,"note":"line\nbreak"})").end()),
                     Bytes{std::byte{0xff}, std::byte{0x00}, std::byte{0x80}}, Bytes{}}) {
    hub::StoredMessage stored = Stored(body);
    json over_http = ReadApiJson(stored, 2);
    json over_amqp = AmqpEventJson(amqp::EventMessage(stored), "2");
    EXPECT_EQ(EventJsonLine(over_amqp), EventJsonLine(over_http));
    EXPECT_NE(EventJsonLine(over_amqp).find(R"("interfaceId":"dtmi:com:example;1")"), std::string::npos);
    EXPECT_NE(EventJsonLine(over_amqp).find(R"("iothub-connection-module-id":"mod")"), std::string::npos);
    EXPECT_EQ(EventLine(over_amqp), EventLine(over_http));
  }
}

TEST(AmqpEventJsonTest, MapsPropertiesTheEndpointOmitsWhenAnotherEndpointSendsThem) {
  proton::message m;
  m.id(proton::uuid::copy("\x3f\x25\x04\xe0\x4f\x89\x41\xd3\x9a\x0c\x03\x05\xe8\x2c\x33\x01"));
  m.correlation_id(proton::message_id(uint64_t{7}));
  m.to("/devices/d/messages/events");
  m.expiry_time(proton::timestamp(1764000000000));
  m.message_annotations().put(proton::annotation_key("x-opt-partition-key"), std::string("pk"));
  m.message_annotations().put(proton::annotation_key("iothub-connection-auth-generation-id"), std::string("g"));
  m.message_annotations().put(proton::annotation_key("dt-dataschema"), std::string("dtmi:x;1"));
  m.message_annotations().put(proton::annotation_key("x-opt-sequence-number"), int64_t{9});
  m.message_annotations().put(proton::annotation_key("x-opt-offset"), std::string("4096"));
  m.properties().put("count", int32_t{3});
  m.body(std::string("as an amqp-value string"));
  json e = AmqpEventJson(m, "0");
  EXPECT_EQ(e["offset"], "4096");  // Azure's offsets are byte positions: printed as sent
  EXPECT_EQ(e["sequenceNumber"], 9);
  const json& s = e["systemProperties"];
  EXPECT_EQ(s["messageId"], "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  EXPECT_EQ(s["correlationId"], "7");
  EXPECT_EQ(s["to"], "/devices/d/messages/events");
  EXPECT_EQ(s["absoluteExpiryTime"], "2025-11-24T16:00:00.000Z");
  EXPECT_EQ(s["dt-dataschema"], "dtmi:x;1");
  EXPECT_FALSE(s.contains("x-opt-partition-key"));
  EXPECT_FALSE(s.contains("iothub-connection-auth-generation-id"));
  EXPECT_EQ(e["properties"], (json{{"count", "3"}}));
  EXPECT_EQ(e["body"], "as an amqp-value string");
}

TEST(AmqpEventJsonTest, OddTypesGiveNullsNotExceptions) {
  proton::message m;
  m.message_annotations().put(proton::annotation_key("x-opt-sequence-number"), std::string("nine"));
  m.message_annotations().put(proton::annotation_key(uint64_t{12}), std::string("numeric key"));
  m.message_annotations().put(proton::annotation_key("iothub-connection-device-id"), proton::binary("d\xff"));
  std::map<std::string, proton::value> nested = {{"a", int64_t{1}}};
  m.body(proton::value(nested));
  json e;
  ASSERT_NO_THROW(e = AmqpEventJson(m, "1"));
  EXPECT_TRUE(e["sequenceNumber"].is_null());
  EXPECT_TRUE(e["offset"].is_null());
  EXPECT_TRUE(e["enqueuedTime"].is_null());
  EXPECT_EQ(e["body"], "");
  EXPECT_NO_THROW(EventJsonLine(e));  // invalid UTF-8 in the device id is replaced, not thrown
  EXPECT_NO_THROW(EventLine(e));
}

}  // namespace
}  // namespace coffre::cli
