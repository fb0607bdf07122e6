// Direct methods and desired-property notifications across hub nodes (cluster mode): a service
// calls through one node, the device is connected to the other. The call is handed to the node
// holding the device, which calls it there and sends back how it ended: the device's answer
// (128 KiB each way), DeviceNotOnline, GatewayTimeout. A call waiting for its device to connect
// is handed over once the device connects to the other node. A desired-property patch through
// one node reaches the device's session on the other.
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hubservice/cluster_forwarding.h"
#include "hubservice/cluster_sessions.h"
#include "hubservice/hub_cluster_fixture.h"
#include "mqtt/codec.h"
#include "net/tls_test_client.h"

namespace coffre::hubservice {
namespace {

class ClusterForwardingTest : public TwoHubNodesFixture {
 protected:
  // dev-01 connected to node b.
  bool ConnectToB(mqtt::Client& device) { return ConnectDev01(*b_, device); }
  // True once node a knows b holds dev-01.
  bool AKnowsBHoldsDev01() {
    const std::string b = b_->cluster_sessions()->node_id();
    for (int i = 0; i < 1000; ++i) {
      if (a_->cluster_sessions()->HolderOf("dev-01") == b) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  static bool Subscribe(mqtt::Client& device, const std::string& filter) {
    mqtt::Subscribe s;
    s.packet_id = 1;
    s.filters = {{filter, 0}};
    Bytes out;
    mqtt::EncodeSubscribe(out, s);
    device.Send(out);
    auto ack = device.Receive();
    return ack && std::holds_alternative<mqtt::SubAck>(*ack);
  }
  static std::optional<mqtt::Publish> NextPublish(mqtt::Client& device) {
    for (;;) {
      auto p = device.Receive(std::chrono::seconds(20));
      if (!p) return std::nullopt;
      if (auto* pub = std::get_if<mqtt::Publish>(&*p)) return *pub;
    }
  }
  // The service's call through node a, on a thread of its own (it waits for the device).
  std::future<coffre::testing::test_http::response<coffre::testing::test_http::string_body>>
  CallThroughA(const std::string& body) {
    const std::string auth = OwnerAuthorization(*a_);
    const uint16_t port = a_->https_port();
    const std::string ca = certs_.ca_file.string();
    return std::async(std::launch::async, [=] {
      coffre::testing::TlsClient https(port, ca);
      return https.Call("POST", "/twins/dev-01/methods?api-version=2021-04-12", body,
                        auth + "Content-Type: application/json\r\n");
    });
  }
};

TEST_F(ClusterForwardingTest, AMethodCalledThroughOneNodeIsAnsweredByTheDeviceOnTheOther) {
  mqtt::Client device(b_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectToB(device));
  ASSERT_TRUE(Subscribe(device, "$iothub/methods/POST/#"));
  ASSERT_TRUE(AKnowsBHoldsDev01());
  const std::string asked(120 * 1024, 'q');
  const std::string answer = nlohmann::json{{"echo", std::string(120 * 1024, 'r')}}.dump();
  auto call = CallThroughA(nlohmann::json{
      {"methodName", "reboot"}, {"payload", {{"blob", asked}}}, {"responseTimeoutInSeconds", 30}}
                               .dump());
  std::optional<mqtt::Publish> request = NextPublish(device);
  ASSERT_TRUE(request.has_value()) << "the device on node b got no method request";
  const std::string topic(request->topic);
  ASSERT_EQ(topic.rfind("$iothub/methods/POST/reboot/?$rid=", 0), 0u) << topic;
  EXPECT_EQ(nlohmann::json::parse(AsChars(request->payload))["blob"], asked);
  const std::string rid = topic.substr(topic.find("$rid=") + 5);
  Bytes out;
  mqtt::EncodePublish(
      out, {false, 0, false, "$iothub/methods/res/201/?$rid=" + rid, 0, AsBytes(answer)});
  device.Send(out);
  auto response = call.get();
  ASSERT_EQ(response.result_int(), 200u) << response.body();
  nlohmann::json body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["status"], 201);
  EXPECT_EQ(body["payload"].dump(), answer);
  EXPECT_EQ(a_->cluster_forwarding()->handoff().received(), 1u);  // the answer
  EXPECT_EQ(b_->cluster_forwarding()->handoff().received(), 1u);  // the call
}

// How a call ended on the device's node is how it ends for the caller: a device connected but
// not listening for methods is not online; one that never answers times out.
TEST_F(ClusterForwardingTest, TheDevicesNodeDecidesNotOnlineAndTimeout) {
  mqtt::Client device(b_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectToB(device));
  ASSERT_TRUE(AKnowsBHoldsDev01());
  auto not_listening = CallThroughA(R"({"methodName":"m","responseTimeoutInSeconds":5})").get();
  EXPECT_EQ(not_listening.result_int(), 404u) << not_listening.body();
  EXPECT_NE(not_listening.body().find("DeviceNotOnline"), std::string::npos)
      << not_listening.body();
  EXPECT_EQ(b_->cluster_forwarding()->handoff().received(), 1u);  // asked b, which said so

  ASSERT_TRUE(Subscribe(device, "$iothub/methods/POST/#"));
  const auto started = std::chrono::steady_clock::now();
  auto silent = CallThroughA(R"({"methodName":"m","responseTimeoutInSeconds":5})");
  ASSERT_TRUE(NextPublish(device).has_value());  // delivered on b, never answered
  auto timed_out = silent.get();
  EXPECT_EQ(timed_out.result_int(), 504u) << timed_out.body();
  EXPECT_NE(timed_out.body().find("GatewayTimeout"), std::string::npos) << timed_out.body();
  // Ended by b's response timeout, not by a's longer bound (connect + response + margin).
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(5) + hub::kHandOverMargin);
}

// A device connected to no node is not online at once, as on one node; with a connect timeout
// the call waits, and is handed over when the device connects to the other node.
TEST_F(ClusterForwardingTest, ACallWaitingForItsDeviceIsHandedOverWhenItConnectsElsewhere) {
  auto offline = CallThroughA(R"({"methodName":"m","responseTimeoutInSeconds":5})").get();
  EXPECT_EQ(offline.result_int(), 404u) << offline.body();
  EXPECT_EQ(b_->cluster_forwarding()->handoff().received(), 0u);  // nobody holds it: not asked

  auto call = CallThroughA(
      R"({"methodName":"later","payload":7,"responseTimeoutInSeconds":20,"connectTimeoutInSeconds":30})");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the call waits on node a
  mqtt::Client device(b_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectToB(device));
  ASSERT_TRUE(Subscribe(device, "$iothub/methods/POST/#"));
  std::optional<mqtt::Publish> request = NextPublish(device);
  ASSERT_TRUE(request.has_value()) << "the waiting call did not reach the device on node b";
  const std::string topic(request->topic);
  EXPECT_EQ(AsChars(request->payload), "7");
  Bytes out;
  mqtt::EncodePublish(
      out,
      {false, 0, false, "$iothub/methods/res/200/?$rid=" + topic.substr(topic.find("$rid=") + 5), 0,
       AsBytes(R"("done")")});
  device.Send(out);
  auto response = call.get();
  ASSERT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_EQ(nlohmann::json::parse(response.body())["payload"], "done");
}

TEST_F(ClusterForwardingTest, ADesiredPropertyPatchedThroughOneNodeReachesTheDeviceOnTheOther) {
  mqtt::Client device(b_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectToB(device));
  ASSERT_TRUE(Subscribe(device, "$iothub/twin/PATCH/properties/desired/#"));
  ASSERT_TRUE(AKnowsBHoldsDev01());
  coffre::testing::TlsClient https(a_->https_port(), certs_.ca_file);
  auto patched = https.Call("PATCH", "/twins/dev-01?api-version=2021-04-12",
                            R"({"properties":{"desired":{"colour":"green"}}})",
                            OwnerAuthorization(*a_) + "Content-Type: application/json\r\n");
  ASSERT_EQ(patched.result_int(), 200u) << patched.body();
  std::optional<mqtt::Publish> told = NextPublish(device);
  ASSERT_TRUE(told.has_value()) << "the device on node b was not told of the patch";
  EXPECT_EQ(std::string(told->topic).rfind("$iothub/twin/PATCH/properties/desired/?$version=", 0),
            0u)
      << told->topic;
  nlohmann::json patch = nlohmann::json::parse(AsChars(told->payload));
  EXPECT_EQ(patch["colour"], "green");
  EXPECT_TRUE(patch.contains("$version"));
}

// A node that stops forgets nothing it should not: the other node no longer hands calls to it
// (its registration gone), and answers for a device that was held there as not online.
TEST_F(ClusterForwardingTest, ANodeThatStoppedIsNoLongerAskedForItsDevices) {
  {
    mqtt::Client device(b_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(ConnectToB(device));
    ASSERT_TRUE(AKnowsBHoldsDev01());
    b_.reset();  // whether or not its last notifications go out, its registration goes
  }
  bool forgotten = false;
  for (int i = 0; i < 1000 && !forgotten; ++i) {
    forgotten = !a_->cluster_sessions()->HolderOf("dev-01").has_value();
    if (!forgotten) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(forgotten);
  auto offline = CallThroughA(R"({"methodName":"m","responseTimeoutInSeconds":5})").get();
  EXPECT_EQ(offline.result_int(), 404u) << offline.body();
}

}  // namespace
}  // namespace coffre::hubservice
