#include "hubapi/http_throttle.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace coffre::hubapi {
namespace {

using namespace std::chrono_literals;

class HttpThrottleTest : public ::testing::Test {
 protected:
  HttpThrottle Make(HttpThrottleOptions o) {
    return HttpThrottle(o, [this] { return now_; });
  }
  static net::HttpRequest From(const std::string& address) {
    net::HttpRequest r;
    r.remote_address = address;
    return r;
  }
  static net::HttpResponse Status(unsigned status) {
    net::HttpResponse r;
    r.status = status;
    return r;
  }
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

TEST_F(HttpThrottleTest, ASourceThatFailsAuthenticationTooOftenIsRefusedThenRecovers) {
  HttpThrottle t = Make({{1, 3}, {}});
  net::HttpRequest attacker = From("192.0.2.1");
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(t.RefuseSource(attacker).has_value()) << i;
    t.Observe(attacker, Status(401));
  }
  std::optional<net::HttpResponse> refused = t.RefuseSource(attacker);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 429u);
  EXPECT_EQ(refused->Header("Retry-After"), "1");
  EXPECT_EQ(refused->Header("iothub-errorcode"), "ThrottlingException");
  auto body = nlohmann::json::parse(refused->body);
  EXPECT_EQ(body["Message"].get<std::string>().rfind("ErrorCode:ThrottlingException;", 0), 0u);
  // Another address, and successes, are not charged.
  EXPECT_FALSE(t.RefuseSource(From("192.0.2.2")).has_value());
  t.Observe(From("192.0.2.2"), Status(200));
  t.Observe(From("192.0.2.2"), Status(404));
  EXPECT_FALSE(t.RefuseSource(From("192.0.2.2")).has_value());
  now_ += 1s;
  EXPECT_FALSE(t.RefuseSource(attacker).has_value()) << "one token back after a second";
}

TEST_F(HttpThrottleTest, RegistryOperationsShareOneHubWideQuota) {
  HttpThrottle t = Make({{}, {2, 2}});
  EXPECT_FALSE(t.TakeRegistryOperation().has_value());
  EXPECT_FALSE(t.TakeRegistryOperation().has_value());
  std::optional<net::HttpResponse> refused = t.TakeRegistryOperation();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 429u);
  EXPECT_EQ(refused->Header("Retry-After"), "1");
  now_ += 500ms;
  EXPECT_FALSE(t.TakeRegistryOperation().has_value());
}

TEST_F(HttpThrottleTest, ZeroRatesTurnThrottlingOff) {
  HttpThrottle t = Make({{0, 1}, {0, 1}});
  for (int i = 0; i < 1000; ++i) {
    t.Observe(From("a"), Status(401));
    EXPECT_FALSE(t.TakeRegistryOperation().has_value());
  }
  EXPECT_FALSE(t.RefuseSource(From("a")).has_value());
}

}  // namespace
}  // namespace coffre::hubapi
