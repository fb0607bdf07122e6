// Where the cluster store's nodes run (`coffre up --cluster-node-hosts/-netns`): the options'
// checks, what stack.json keeps, and what each node's Patroni is told. The default, every node
// on 127.0.0.1, must come out as before the options existed.
#include <gtest/gtest.h>

#include "cli/daemon.h"
#include "cli/stack_cluster_secrets.h"
#include "cli/stack_cluster_state.h"
#include "cli/stack_patroni.h"
#include "common/files.h"
#include "test_util.h"

namespace coffre::cli {
namespace {

StackCluster ThreeNodes() {
  StackCluster c;
  c.enabled = true;
  for (int i = 0; i < kClusterMembers; ++i) {
    EtcdMember e;
    e.name = "etcd" + std::to_string(i);
    e.port = static_cast<uint16_t>(30000 + 2 * i);
    e.peer_port = static_cast<uint16_t>(30001 + 2 * i);
    c.etcd.push_back(e);
    PostgresMember p;
    p.name = "pg" + std::to_string(i);
    p.port = static_cast<uint16_t>(30010 + 2 * i);
    p.patroni_port = static_cast<uint16_t>(30011 + 2 * i);
    c.postgres.push_back(p);
  }
  return c;
}

const ClusterNodes kApart{{"169.254.77.1", "169.254.77.2", "169.254.77.3"},
                          {"n0", "n1", "n2"}};

TEST(ClusterNodesTest, NoneGivenKeepsLoopback) {
  StackCluster c = ThreeNodes();
  COFFRE_ASSERT_OK(ApplyClusterNodes(c, {}, true));
  for (const PostgresMember& m : c.postgres) {
    EXPECT_EQ(m.host, "127.0.0.1");
    EXPECT_EQ(m.netns, "");
  }
  nlohmann::json record = ClusterRecord(c);
  EXPECT_EQ(record["postgres"][0]["host"], "127.0.0.1");
  EXPECT_FALSE(record["postgres"][0].contains("netns"));
}

TEST(ClusterNodesTest, EachNodeGetsItsAddressAndNamespaceAndKeepsThem) {
  StackCluster c = ThreeNodes();
  COFFRE_ASSERT_OK(ApplyClusterNodes(c, kApart, true));
  EXPECT_EQ(c.etcd[1].host, "169.254.77.2");
  EXPECT_EQ(c.postgres[1].host, "169.254.77.2");
  EXPECT_EQ(c.etcd[2].netns, "n2");
  EXPECT_EQ(c.postgres[2].netns, "n2");
  StackCluster again = ReadClusterRecord(ClusterRecord(c));
  EXPECT_EQ(again.postgres[0].host, "169.254.77.1");
  EXPECT_EQ(again.etcd[0].netns, "n0");
  // A later start: the same places, or none said, are fine; others are refused.
  COFFRE_EXPECT_OK(ApplyClusterNodes(again, kApart, false));
  COFFRE_EXPECT_OK(ApplyClusterNodes(again, {}, false));
  EXPECT_EQ(again.postgres[0].netns, "n0");
  Status moved = ApplyClusterNodes(again, {{"169.254.78.1", "169.254.78.2", "169.254.78.3"}, {}},
                                   false);
  EXPECT_EQ(moved.code(), StatusCode::kFailedPrecondition);
}

TEST(ClusterNodesTest, RefusesListsThatDoNotNameEachNodeOnce) {
  StackCluster c = ThreeNodes();
  EXPECT_EQ(ApplyClusterNodes(c, {{"169.254.77.1"}, {}}, true).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyClusterNodes(c, {{}, {"n0", "n1", "n2"}}, true).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyClusterNodes(c, {{"169.254.77.1", "169.254.77.1", "169.254.77.3"}, {}}, true)
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyClusterNodes(c, {{"node-a", "169.254.77.2", "169.254.77.3"}, {}}, true).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyClusterNodes(c, {kApart.hosts, {"n0", "../n1", "n2"}}, true).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.postgres[0].host, "127.0.0.1");
}

TEST(ClusterNodesTest, PatroniListensOnItsNodeAndTakesItsSubnet) {
  StackCluster c = ThreeNodes();
  COFFRE_ASSERT_OK(ApplyClusterNodes(c, kApart, true));
  std::string y = PatroniConfig("/srv/stack", c, 1, ClusterSecrets{}, PatroniTiming{});
  EXPECT_NE(y.find("listen: '169.254.77.2:30013'"), std::string::npos) << y;
  EXPECT_NE(y.find("listen: '169.254.77.2:30012'"), std::string::npos) << y;
  EXPECT_NE(y.find("hosts: '169.254.77.1:30000,169.254.77.2:30002,169.254.77.3:30004'"),
            std::string::npos)
      << y;
  EXPECT_NE(y.find("host all all samenet scram-sha-256"), std::string::npos) << y;
  EXPECT_EQ(y.find("127.0.0.1"), std::string::npos) << y;
}

TEST(ClusterNodesTest, OnLoopbackPatroniIsConfiguredAsBefore) {
  StackCluster c = ThreeNodes();
  std::string y = PatroniConfig("/srv/stack", c, 0, ClusterSecrets{}, PatroniTiming{});
  EXPECT_NE(y.find("listen: '127.0.0.1:30011'"), std::string::npos) << y;
  EXPECT_NE(y.find("hosts: '127.0.0.1:30000,127.0.0.1:30002,127.0.0.1:30004'"), std::string::npos)
      << y;
  EXPECT_NE(y.find("host replication replicator 127.0.0.1/32 scram-sha-256"), std::string::npos)
      << y;
  EXPECT_NE(y.find("host all all 127.0.0.1/32 scram-sha-256"), std::string::npos) << y;
  EXPECT_EQ(y.find("samenet"), std::string::npos) << y;
}

TEST(ClusterNodesTest, PasswordFileHasALinePerNodeAddress) {
  testing::TempDir tmp;
  COFFRE_ASSERT_OK_AND_ASSIGN(ClusterSecrets s, EnsureClusterSecrets(tmp.path(), kApart.hosts));
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string pgpass, ReadTextFile(tmp.path() / "pgpass"));
  EXPECT_EQ(pgpass, "169.254.77.1:*:coffre:coffre:" + s.application + "\n" +
                        "169.254.77.2:*:coffre:coffre:" + s.application + "\n" +
                        "169.254.77.3:*:coffre:coffre:" + s.application + "\n");
  COFFRE_ASSERT_OK(
      EnsureClusterSecrets(tmp.path(), {"127.0.0.1", "127.0.0.1", "127.0.0.1"}).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(pgpass, ReadTextFile(tmp.path() / "pgpass"));
  EXPECT_EQ(pgpass, "127.0.0.1:*:coffre:coffre:" + s.application + "\n");
}

// A namespace that is not there fails the start: the daemon never runs on this process's network
// instead, where it would bind an address that is not there or, worse, is someone else's.
TEST(ClusterNodesTest, AMissingNamespaceIsAnError) {
  testing::TempDir tmp;
  Result<int> pid = SpawnDaemon("/bin/true", {}, tmp.path() / "log", {}, "coffre-no-such-netns");
  ASSERT_FALSE(pid.has_value());
  EXPECT_NE(pid.error().message().find("ip netns add coffre-no-such-netns"), std::string::npos)
      << pid.error();
}

}  // namespace
}  // namespace coffre::cli
