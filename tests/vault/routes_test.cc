// The vault's route table (vault/api/routes.h): which route a method and path take, what the
// audit log calls it, and what the table itself promises (every route has a handler, fallbacks
// come after the real routes of their path).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/strings.h"
#include "vault/api/routes.h"

namespace coffre::vault {
namespace {

RouteMatch Match(std::string_view method, std::string_view path,
                 bool (*available)(RouteNeeds, const void*) = nullptr) {
  static std::vector<std::string> storage;  // the views must outlive the match
  storage.clear();
  for (std::string_view s : Split(path.substr(1), '/')) storage.emplace_back(s);
  static std::vector<std::string_view> views;
  views.assign(storage.begin(), storage.end());
  return MatchRoute(VaultRoutes(), method, views, available);
}

std::string Name(std::string_view method, std::string_view path) {
  return std::string(OperationName(Match(method, path)));
}

TEST(VaultRoutesTest, NamesEveryKeyVaultOperation) {
  EXPECT_EQ(Name("GET", "/keys"), "listKeys");
  EXPECT_EQ(Name("POST", "/keys/restore"), "restoreKey");
  EXPECT_EQ(Name("GET", "/keys/k"), "getKey");
  EXPECT_EQ(Name("GET", "/keys/k/"), "getKey");  // the latest, as /keys/k
  EXPECT_EQ(Name("GET", "/keys/k/v1"), "getKey");
  EXPECT_EQ(Name("PATCH", "/keys/k/v1"), "updateKey");
  EXPECT_EQ(Name("PUT", "/keys/k"), "importKey");
  EXPECT_EQ(Name("DELETE", "/keys/k"), "deleteKey");
  EXPECT_EQ(Name("POST", "/keys/k/create"), "createKey");
  EXPECT_EQ(Name("POST", "/keys/k/rotate"), "rotateKey");
  EXPECT_EQ(Name("POST", "/keys/k/backup"), "backupKey");
  EXPECT_EQ(Name("GET", "/keys/k/rotationpolicy"), "getRotationPolicy");
  EXPECT_EQ(Name("PUT", "/keys/k/rotationpolicy"), "setRotationPolicy");
  EXPECT_EQ(Name("GET", "/keys/k/versions"), "listKeyVersions");
  EXPECT_EQ(Name("POST", "/keys/k/v1/WRAPKEY"), "wrapKey");
  EXPECT_EQ(Name("POST", "/keys/k/unwrapkey"), "unwrapKey");  // .NET: no version segment
  EXPECT_EQ(Name("POST", "/keys/k/v1/sign"), "sign");  // named, though refused with 400
  EXPECT_EQ(Name("GET", "/deletedkeys"), "listDeletedKeys");
  EXPECT_EQ(Name("GET", "/deletedkeys/k"), "getDeletedKey");
  EXPECT_EQ(Name("DELETE", "/deletedkeys/k"), "purgeDeletedKey");
  EXPECT_EQ(Name("POST", "/deletedkeys/k/recover"), "recoverDeletedKey");
  EXPECT_EQ(Name("PUT", "/coffre/principals/p"), "setPrincipal");
  EXPECT_EQ(Name("POST", "/coffre/clock"), "advanceTestClock");
  EXPECT_EQ(Name("POST", "/coffre/audit/verify"), "verifyAuditLog");
  EXPECT_EQ(Name("GET", "/coffre/seal-status"), "getSealStatus");
  EXPECT_EQ(Name("DELETE", "/coffre/eventsubscriptions/x"), "removeEventSubscription");
}

TEST(VaultRoutesTest, FillsThePlaceholders) {
  RouteMatch m = Match("POST", "/keys/MyKey/abc/encrypt");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.key, "MyKey");
  EXPECT_TRUE(m.params.key_is_name);
  EXPECT_EQ(m.params.version, "abc");
  EXPECT_EQ(m.params.op, "encrypt");
  EXPECT_EQ(m.route->permission.kind, Permission::Kind::kKeyOperation);

  m = Match("GET", "/deletedkeys/k");
  EXPECT_TRUE(m.params.has_key);
  EXPECT_FALSE(m.params.key_is_name);  // a deleted key's name is not re-validated

  m = Match("GET", "/keys");
  EXPECT_FALSE(m.params.has_key);  // the whole vault: a key-scoped caller is refused
  EXPECT_EQ(m.route->permission.kind, Permission::Kind::kKey);
  EXPECT_EQ(m.route->permission.name, "list");
}

TEST(VaultRoutesTest, AKnownPathWithAnotherMethodIs405AndAnUnknownOne404) {
  RouteMatch m = Match("DELETE", "/keys/k/v1");  // no route; the path is known
  EXPECT_EQ(m.route, nullptr);
  ASSERT_NE(m.path_route, nullptr);
  EXPECT_EQ(m.params.key, "k");  // still checked for name and scope before the 405

  m = Match("POST", "/keys/k/rotationpolicy");  // not a key operation named rotationpolicy
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "*");
  EXPECT_EQ(OperationName(m), "");

  m = Match("GET", "/keys/k/v1/wrapkey/extra");  // under a key: 404 after its checks
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "*");

  EXPECT_EQ(Match("GET", "/nothing").path_route, nullptr);
  EXPECT_EQ(Match("GET", "/coffre/seal-status/x").path_route, nullptr);
  EXPECT_EQ(Match("GET", "/").path_route, nullptr);
}

TEST(VaultRoutesTest, RoutesThatNeedAPartAreAbsentWithoutIt) {
  auto none = [](RouteNeeds needs, const void*) { return needs == RouteNeeds::kNothing; };
  EXPECT_EQ(Match("GET", "/coffre/clock", none).path_route, nullptr);
  EXPECT_EQ(Match("GET", "/coffre/eventsubscriptions", none).path_route, nullptr);
  EXPECT_NE(Match("GET", "/coffre/clock").route, nullptr);  // the audit log names it anyway
}

TEST(VaultRoutesTest, TheTableIsWellFormed) {
  const std::set<std::string_view> methods = {"GET", "PUT", "POST", "PATCH", "DELETE", "*"};
  std::set<std::string> seen;
  for (const Route& r : VaultRoutes()) {
    SCOPED_TRACE(std::string(r.method) + " " + std::string(r.pattern));
    EXPECT_NE(r.handler, nullptr);
    EXPECT_TRUE(methods.count(r.method));
    ASSERT_FALSE(r.pattern.empty());
    EXPECT_EQ(r.pattern[0], '/');
    // One route per method and pattern: a second would never be taken.
    EXPECT_TRUE(seen.insert(std::string(r.method) + " " + std::string(r.pattern)).second);
    // A fallback names nothing and grants nothing beyond its path's owner check.
    if (r.method == "*") {
      EXPECT_EQ(r.operation, "");
      EXPECT_NE(r.permission.kind, Permission::Kind::kKey);
    } else {
      EXPECT_NE(r.operation, "");
    }
  }
  // A "*" route shadows every later route of its pattern.
  std::set<std::string_view> fallen;
  for (const Route& r : VaultRoutes()) {
    EXPECT_FALSE(fallen.count(r.pattern)) << r.method << " " << r.pattern;
    if (r.method == "*") fallen.insert(r.pattern);
  }
}

}  // namespace
}  // namespace coffre::vault
