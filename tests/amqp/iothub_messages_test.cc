#include "amqp/iothub_messages.h"

#include <gtest/gtest.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message_id.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>

#include "amqp/device_links.h"
#include "amqp/proton_util.h"
#include "common/clock.h"
#include "hub/device_connections.h"

namespace coffre::amqp {
namespace {

using Kind = DeviceAddress::Kind;

TEST(DeviceAddressTest, TheDeviceSdkAddresses) {
  auto a = ParseDeviceAddress("devices/dev-1/messages/events");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kEvents);
  EXPECT_EQ(a->device_id, "dev-1");
  EXPECT_FALSE(a->module_id);
  a = ParseDeviceAddress("devices/dev%2F1%20x/messages/devicebound");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kDevicebound);
  EXPECT_EQ(a->device_id, "dev/1 x");  // percent-decoded
  a = ParseDeviceAddress("devices/d/twin");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kTwin);
  a = ParseDeviceAddress("DEVICES/d/Methods/DeviceBound");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kMethods);
  a = ParseDeviceAddress("devices/d/modules/m1/messages/events");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kEvents);
  EXPECT_EQ(a->module_id, "m1");
  a = ParseDeviceAddress("devices/d/modules/m1/twin");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Kind::kTwin);
  EXPECT_EQ(a->module_id, "m1");
}

TEST(DeviceAddressTest, AnythingElseIsNotADeviceAddress) {
  for (const char* bad :
       {"", "devices", "devices/d", "devices//messages/events", "devices/d/messages",
        "devices/d/messages/events/extra", "devices/d/modules/m/messages/devicebound",
        "devices/d/modules//twin", "devices/%2F%00/x", "messages/devicebound", "devices/d/twin/x",
        "$cbs", "devices/d/methods"}) {
    EXPECT_FALSE(ParseDeviceAddress(bad)) << bad;
  }
}

TEST(C2dTargetTest, TheServiceSdkTo) {
  EXPECT_EQ(C2dTargetDevice("/devices/dev-1/messages/devicebound"), "dev-1");
  EXPECT_EQ(C2dTargetDevice("/devices/a%2Fb%40c/messages/devicebound"), "a/b@c");
  EXPECT_EQ(C2dTargetDevice("amqps://host:5671/devices/x/Messages/DeviceBound"), "x");
  EXPECT_FALSE(C2dTargetDevice(""));
  EXPECT_FALSE(C2dTargetDevice("/devices//messages/devicebound"));
  EXPECT_FALSE(C2dTargetDevice("/devices/x/messages/events"));
  EXPECT_FALSE(C2dTargetDevice("/devices/x/y/messages/devicebound"));
}

TEST(IdTextTest, UuidsBecomeCanonicalLowerCaseText) {
  proton::uuid u = proton::uuid::copy("\x0F\x8F\xAD\x5B\xD9\xCB\x46\x9F\xA1\x65\x70\x86\x77\x28\x95\x0E");
  EXPECT_EQ(IdText(proton::message_id(u)), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(IdText(proton::message_id(std::string("AbC"))), "AbC");  // strings stay as sent
  EXPECT_EQ(IdText(proton::message_id(uint64_t{42})), "42");
}

TEST(C2dFromAmqpTest, PropertiesAckExpiryAndBody) {
  proton::message m;
  proton::uuid u = proton::uuid::copy("\x0F\x8F\xAD\x5B\xD9\xCB\x46\x9F\xA1\x65\x70\x86\x77\x28\x95\x0E");
  m.id(proton::message_id(u));
  m.correlation_id(proton::message_id(std::string("corr")));
  m.content_type("application/json");
  m.expiry_time(proton::timestamp(1'900'000'000'000));
  m.properties().put("iothub-ack", std::string("full"));
  m.properties().put("color", std::string("blue"));
  m.properties().put("n", int32_t{7});
  m.message_annotations().put(proton::symbol("dt-subject"), std::string("subj"));
  m.body(proton::binary(std::string("{\"x\":1}")));
  m.inferred(true);
  Result<hub::C2dMessage> c = C2dFromAmqp(m);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->properties.system.message_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(c->properties.system.correlation_id, "corr");
  EXPECT_EQ(c->properties.system.content_type, "application/json");
  EXPECT_EQ(c->properties.system.subject, "subj");
  EXPECT_EQ(c->ack, hub::C2dAck::kFull);
  ASSERT_TRUE(c->expiry);
  EXPECT_EQ(ToMillis(*c->expiry), 1'900'000'000'000);
  EXPECT_EQ(c->body, "{\"x\":1}");
  ASSERT_EQ(c->properties.application.size(), 2u);  // iothub-ack is not an app property
  EXPECT_EQ(c->properties.application[0], (std::pair<std::string, std::string>{"color", "blue"}));
  EXPECT_EQ(c->properties.application[1], (std::pair<std::string, std::string>{"n", "7"}));
}

TEST(C2dFromAmqpTest, BadAckAndBodyAreRefused) {
  proton::message m;
  m.properties().put("iothub-ack", std::string("sometimes"));
  EXPECT_EQ(C2dFromAmqp(m).error().code(), StatusCode::kInvalidArgument);
  proton::message list;
  list.body(proton::value(int32_t{1}));  // an amqp-value int, not a Data section
  EXPECT_EQ(C2dFromAmqp(list).error().code(), StatusCode::kInvalidArgument);
}

TEST(C2dToAmqpTest, ADataSectionWithTheDeviceAddress) {
  hub::QueuedC2d q;
  q.lock_token = "lock";
  q.message.body = "payload";
  q.message.ack = hub::C2dAck::kPositive;
  q.message.properties.system.message_id = "mid";
  q.message.properties.application.emplace_back("k", "v");
  q.delivery_count = 2;
  proton::message m = C2dToAmqp(q, "a/b");
  EXPECT_EQ(m.to(), "/devices/a%2Fb/messages/devicebound");
  EXPECT_EQ(IdText(m.id()), "mid");
  EXPECT_TRUE(m.inferred());  // a Data section, which the SDK reads as body.content
  EXPECT_EQ(BodyText(m), "payload");
  EXPECT_EQ(AppString(m, "k"), "v");
  EXPECT_EQ(AppString(m, "iothub-ack"), "positive");
  EXPECT_EQ(m.delivery_count(), 1u);
}

TEST(TelemetryFromAmqpTest, SystemPropertiesAnnotationsAndBody) {
  proton::message m;
  m.id(proton::message_id(std::string("m-1")));
  m.content_encoding("utf-8");
  m.properties().put("iothub-outputname", std::string("out1"));
  m.properties().put("temp", std::string("21"));
  m.message_annotations().put(proton::symbol("iothub-interface-id"), std::string("dtmi:x;1"));
  m.body(proton::binary(std::string("abc")));
  m.inferred(true);
  Result<hub::TelemetryMessage> t = TelemetryFromAmqp(m);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->properties.system.message_id, "m-1");
  EXPECT_EQ(t->properties.system.content_encoding, "utf-8");
  EXPECT_EQ(t->properties.system.output_name, "out1");
  EXPECT_EQ(t->properties.system.interface_id, "dtmi:x;1");
  ASSERT_EQ(t->properties.application.size(), 1u);
  EXPECT_EQ(t->body.size(), 3u);
}

TEST(ConditionForTest, HubRefusalsAsTheSdksReadThem) {
  EXPECT_EQ(ConditionFor(NotFound("Device x not found.")), "amqp:not-found");
  EXPECT_EQ(ConditionFor(ResourceExhausted("full").WithDetail("DeviceMaximumQueueDepthExceeded")),
            "amqp:resource-limit-exceeded");
  EXPECT_EQ(ConditionFor(ResourceExhausted("big").WithDetail("MessageTooLarge")),
            "amqp:link:message-size-exceeded");
  EXPECT_EQ(ConditionFor(InvalidArgument("x")), "com.microsoft:argument-error");
  EXPECT_EQ(ConditionFor(Unauthenticated("x")), "amqp:unauthorized-access");
  EXPECT_EQ(ConditionFor(PermissionDenied("x")), "amqp:unauthorized-access");
  EXPECT_EQ(ConditionFor(Unavailable("x")), "com.microsoft:timeout");
  EXPECT_EQ(ConditionFor(Internal("x")), "amqp:internal-error");
}

TEST(DeviceConnectionsTest, TheNewestHolderWinsAndAStaleReleaseDoesNothing) {
  hub::DeviceConnections table;
  int kicked_a = 0, kicked_b = 0;
  uint64_t a = table.Take("dev", [&] { ++kicked_a; });
  uint64_t b = table.Take("dev", [&] { ++kicked_b; });
  EXPECT_EQ(kicked_a, 1);
  EXPECT_EQ(kicked_b, 0);
  table.Release("dev", a);  // the kicked one's release leaves b holding
  EXPECT_EQ(table.size(), 1u);
  table.Take("dev/mod", [] {});  // a module is its own identity
  EXPECT_EQ(kicked_b, 0);
  table.Release("dev", b);
  EXPECT_EQ(table.size(), 1u);
}

TEST(DeviceLinksTest, HoldsPerConnectionAndClosesOnIdentityChanges) {
  hub::DeviceConnections table;
  DeviceLinks links;
  links.SetConnections(&table);
  int conn1 = 0, conn2 = 0, module = 0;
  int c1 = 1, c2 = 2;
  hub::TwinId dev{"d", std::nullopt}, mod{"d", "m"};
  links.Hold(dev, &c1, [&](std::string) { ++conn1; });
  links.Hold(dev, &c1, [&](std::string) { ++conn1; });  // a second link of the same connection
  EXPECT_EQ(conn1, 0);
  links.Hold(dev, &c2, [&](std::string) { ++conn2; });  // another connection takes over
  EXPECT_EQ(conn1, 1);
  links.Hold(mod, &c2, [&](std::string) { ++module; });
  links.IdentityChanged("d", "m");  // the module only
  EXPECT_EQ(module, 1);
  EXPECT_EQ(conn2, 0);
  links.IdentityChanged("d", std::nullopt);  // the device and its modules
  EXPECT_EQ(conn2, 1);
  EXPECT_EQ(module, 2);
  links.Unhold(dev, &c2);
  links.Unhold(mod, &c2);
  links.Unhold(dev, &c1);
  links.Unhold(dev, &c1);
  EXPECT_EQ(table.size(), 0u);
}

TEST(DeviceLinksTest, WakeUpsAndMethodsReachTheIdentitysLinksOnly) {
  DeviceLinks links;
  int woken = 0;
  std::string got;
  DeviceLinks::Handlers h;
  h.c2d_waiting = [&] { ++woken; };
  h.method = [&](std::string name, std::string rid, std::string payload) {
    got = name + "|" + rid + "|" + payload;
    return true;
  };
  uint64_t token = links.Add({"d", std::nullopt}, h);
  links.C2dWaiting("other");
  EXPECT_EQ(woken, 0);
  links.C2dWaiting("d");
  EXPECT_EQ(woken, 1);
  EXPECT_FALSE(links.DeliverMethod({"d", "m"}, "reboot", "1", "{}"));
  EXPECT_TRUE(links.DeliverMethod({"d", std::nullopt}, "reboot", "1", "{}"));
  EXPECT_EQ(got, "reboot|1|{}");
  links.Remove(token);
  EXPECT_FALSE(links.DeliverMethod({"d", std::nullopt}, "reboot", "2", "{}"));
}

}  // namespace
}  // namespace coffre::amqp
