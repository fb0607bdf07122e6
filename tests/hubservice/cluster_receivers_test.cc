// Event Hubs epoch receivers across hub nodes (cluster mode): a partition of a consumer group
// belongs to the highest epoch on every node, as on one. A receiver with a higher epoch on one
// node detaches the other node's (amqp:link:stolen); a lower epoch, or none, is refused while
// the holder's node runs; once its receiver leaves, or its node stops, receivers without an
// epoch are served again.
#include <cstring>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "amqp/amqp_test_client.h"
#include "common/encoding.h"
#include "hub/sas_token.h"
#include "hubservice/hub_cluster_fixture.h"

namespace coffre::hubservice {
namespace {

using coffre::testing::AmqpTestClient;

class ClusterReceiversTest : public TwoHubNodesFixture {
 protected:
  // A service client of `hub`'s AMQP port, its token put.
  std::unique_ptr<AmqpTestClient> Client(HubService& hub) {
    auto c = std::make_unique<AmqpTestClient>(hub.amqp_port(), certs_.ca_file);
    std::string key = hub.policies().Get("service").value().primary_key;
    auto secret = crypto::SecretBytes::CopyOf(*Base64Decode(key)).value();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    EXPECT_EQ(
        c->PutToken("localhost", *hub::MakeSasToken("localhost", secret, now + 3600, "service")),
        200);
    return c;
  }
  // A receiver of $Default's partition 0, with `epoch` (com.microsoft:epoch) if given.
  static pn_link_t* Receiver(AmqpTestClient& c, const std::string& name,
                             std::optional<int64_t> epoch) {
    pn_link_t* l = pn_receiver(c.Begin(), name.c_str());
    pn_terminus_set_address(pn_link_source(l), "localhost/ConsumerGroups/$Default/Partitions/0");
    pn_terminus_set_address(pn_link_target(l), name.c_str());
    if (epoch) {
      pn_data_t* props = pn_link_properties(l);
      pn_data_put_map(props);
      pn_data_enter(props);
      const char* kKey = "com.microsoft:epoch";
      pn_data_put_symbol(props, pn_bytes(std::strlen(kKey), kKey));
      pn_data_put_long(props, *epoch);
      pn_data_exit(props);
    }
    pn_link_open(l);
    pn_link_flow(l, 10);
    return l;
  }
  // Whether the link is attached and stays so for a moment (a refusal detaches at once).
  static bool Served(AmqpTestClient& c, pn_link_t* l) {
    if (!c.Until(
            [&] { return AmqpTestClient::RemoteOpen(l) || AmqpTestClient::RemoteClosed(l); })) {
      return false;
    }
    c.PumpFor(std::chrono::milliseconds(300));
    return AmqpTestClient::RemoteOpen(l) && !AmqpTestClient::RemoteClosed(l);
  }
  static std::string DetachedWith(AmqpTestClient& c, pn_link_t* l) {
    if (!c.Until([&] { return AmqpTestClient::RemoteClosed(l); })) return "(still attached)";
    return AmqpTestClient::ConditionOf(pn_link_remote_condition(l));
  }
};

TEST_F(ClusterReceiversTest, AHigherEpochOnOneNodeTakesThePartitionFromTheOther) {
  auto on_b = Client(*b_);
  pn_link_t* first = Receiver(*on_b, "epoch-1", 1);
  ASSERT_TRUE(Served(*on_b, first));

  auto on_a = Client(*a_);
  const auto started = std::chrono::steady_clock::now();
  pn_link_t* second = Receiver(*on_a, "epoch-2", 2);
  ASSERT_TRUE(Served(*on_a, second));
  EXPECT_EQ(DetachedWith(*on_b, first), "amqp:link:stolen");
  std::printf("epoch 1 on node b detached %lld ms after epoch 2 attached on node a\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started)
                                         .count()));

  // While it holds the partition, node b refuses lower epochs and receivers without one.
  auto again_b = Client(*b_);
  EXPECT_EQ(DetachedWith(*again_b, Receiver(*again_b, "epoch-1-again", 1)), "amqp:link:stolen");
  EXPECT_EQ(DetachedWith(*again_b, Receiver(*again_b, "no-epoch", std::nullopt)),
            "amqp:link:stolen");
  // Its receiver gone, node b serves receivers without an epoch again.
  pn_link_close(second);
  on_a->PumpFor(std::chrono::milliseconds(200));
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    auto c = Client(*b_);
    served = Served(*c, Receiver(*c, "no-epoch-later", std::nullopt));
  }
  EXPECT_TRUE(served) << "node a's row was never cleared";
}

// A node that stops holds nothing: the other node serves a lower epoch after it.
TEST_F(ClusterReceiversTest, AStoppedNodesEpochNoLongerHoldsThePartition) {
  {
    auto on_a = Client(*a_);
    ASSERT_TRUE(Served(*on_a, Receiver(*on_a, "epoch-5", 5)));
    auto on_b = Client(*b_);
    EXPECT_EQ(DetachedWith(*on_b, Receiver(*on_b, "epoch-3", 3)), "amqp:link:stolen");
    a_.reset();  // its registration goes with it (the row may stay)
  }
  auto on_b = Client(*b_);
  EXPECT_TRUE(Served(*on_b, Receiver(*on_b, "epoch-3-after", 3)));
}

}  // namespace
}  // namespace coffre::hubservice
