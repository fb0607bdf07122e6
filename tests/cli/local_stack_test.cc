#include "cli/local_stack.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <gtest/gtest.h>

#include "common/files.h"
#include "test_util.h"

namespace coffre::cli {
namespace {

nlohmann::json ReadJson(const std::filesystem::path& p) {
  return nlohmann::json::parse(*ReadTextFile(p));
}

TEST(LocalStackTest, UpWritesConnectionJsonWithTheCaAndAPrivateDirectory) {
  testing::TempDir tmp;
  auto dir = tmp.path() / "stack";
  COFFRE_ASSERT_OK_AND_ASSIGN(StackState s, StackUp({dir, 20000, "localhost", false}));
  auto j = ReadJson(dir / "connection.json");
  EXPECT_EQ(j["ca_file"], (dir / "tls" / "ca.pem").string());
  EXPECT_EQ(j["hub_host"], "localhost");
  EXPECT_TRUE(j["pids"].is_object());
  EXPECT_TRUE(std::filesystem::exists(dir / "tls" / "ca.pem"));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir / "connection.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(LocalStackTest, RestartReusesPortsAndCertificates) {
  testing::TempDir tmp;
  auto dir = tmp.path() / "stack";
  COFFRE_ASSERT_OK_AND_ASSIGN(StackState first, StackUp({dir, 21000, "localhost", false}));
  std::string ca = *ReadTextFile(first.ca_file);
  COFFRE_ASSERT_OK_AND_ASSIGN(StackState second, StackUp({dir, 0, "localhost", false}));
  EXPECT_EQ(second.ports.vault, first.ports.vault);
  EXPECT_EQ(second.ports.mqtt, first.ports.mqtt);
  EXPECT_EQ(second.ports.https, first.ports.https);
  EXPECT_EQ(second.ports.amqp, first.ports.amqp);
  EXPECT_EQ(*ReadTextFile(second.ca_file), ca);
}

TEST(LocalStackTest, PortsFromPicksDistinctFreePortsAtOrAboveN) {
  COFFRE_ASSERT_OK_AND_ASSIGN(StackPorts p, PickFreePorts(22000));
  EXPECT_GE(p.vault, 22000);
  EXPECT_GT(p.mqtt, p.vault);
  EXPECT_GT(p.https, p.mqtt);
  EXPECT_GT(p.amqp, p.https);
}

TEST(LocalStackTest, DefaultPortsAreTheOnesTheAzureSdksHardCode) {
  StackPorts p;
  EXPECT_EQ(p.mqtt, 8883);
  EXPECT_EQ(p.https, 443);
  EXPECT_EQ(p.vault, 8443);
  EXPECT_EQ(p.amqp, 5671);
}

TEST(LocalStackTest, DownWithNothingRunningSucceedsAndDownOfAnUnknownDirFails) {
  testing::TempDir tmp;
  auto dir = tmp.path() / "stack";
  COFFRE_ASSERT_OK(StackUp({dir, 23000, "localhost", false}).status());
  COFFRE_EXPECT_OK(StackDown(dir));
  EXPECT_THAT(StackDown(tmp.path() / "none"), testing::StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace coffre::cli
