#include <gtest/gtest.h>

#include "hub/query.h"
#include "hub/query_eval.h"

namespace coffre::hub {
namespace {

using nlohmann::json;

json Twin(const std::string& id, const json& tags, const json& reported, const char* state = "Connected") {
  return {{"deviceId", id},
          {"status", "enabled"},
          {"connectionState", state},
          {"tags", tags},
          {"properties", {{"desired", json::object()}, {"reported", reported}}}};
}

std::vector<json> Fleet() {
  return {Twin("d1", {{"site", "paris"}, {"floor", 1}}, {{"fw", "1.2.0"}, {"temp", 21.5}}),
          Twin("d2", {{"site", "paris"}, {"floor", 3}}, {{"fw", "1.3.0"}, {"temp", 25}}, "Disconnected"),
          Twin("d3", {{"site", "lyon"}}, {{"fw", "2.0.0"}}),
          Twin("sensor-4", json::object(), json::object(), "Disconnected")};
}

std::vector<std::string> Ids(const std::string& text) {
  auto q = ParseQuery(text);
  EXPECT_TRUE(q.has_value()) << text << ": " << (q ? "" : q.error().message());
  std::vector<std::string> ids;
  if (!q) return ids;
  for (const auto& t : Fleet()) {
    if (QueryMatches(*q, t)) ids.push_back(t["deviceId"]);
  }
  return ids;
}

using Strings = std::vector<std::string>;

TEST(QueryTest, SelectsEverythingWithoutWhere) {
  EXPECT_EQ(Ids("SELECT * FROM devices"), (Strings{"d1", "d2", "d3", "sensor-4"}));
  EXPECT_EQ(Ids("select * from DEVICES"), (Strings{"d1", "d2", "d3", "sensor-4"}));
}

TEST(QueryTest, ComparesTagsReportedPropertiesAndIdentityFields) {
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.site = 'paris'"), (Strings{"d1", "d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.floor >= 2"), (Strings{"d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE properties.reported.temp > 21"), (Strings{"d1", "d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE properties.reported.fw < \"1.3\""), (Strings{"d1"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE connectionState = 'Disconnected'"),
            (Strings{"d2", "sensor-4"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE deviceId != 'd1' AND status = 'enabled'"),
            (Strings{"d2", "d3", "sensor-4"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags['site'] <> 'paris'"), (Strings{"d3"}));
}

TEST(QueryTest, CombinesWithAndOrNotAndParentheses) {
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.site = 'lyon' OR (tags.site = 'paris' AND "
                "NOT connectionState = 'Connected')"),
            (Strings{"d2", "d3"}));
  // A missing property is undefined: neither it nor its negation matches.
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE NOT tags.floor = 1"), (Strings{"d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.floor = 1 OR NOT tags.floor = 1"), (Strings{"d1", "d2"}));
  // Different types never compare.
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.floor = '1'"), Strings{});
}

TEST(QueryTest, InFunctionsAndDefinedness) {
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.site IN ['lyon', 'nice']"), (Strings{"d3"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.site NIN ['lyon']"), (Strings{"d1", "d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE tags.site NOT IN ['lyon']"), (Strings{"d1", "d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE IS_DEFINED(tags.floor)"), (Strings{"d1", "d2"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE NOT is_defined(tags.site)"), (Strings{"sensor-4"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'sensor')"), (Strings{"sensor-4"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE ENDSWITH(properties.reported.fw, '.0.0')"), (Strings{"d3"}));
  EXPECT_EQ(Ids("SELECT * FROM devices WHERE IS_NUMBER(properties.reported.temp)"), (Strings{"d1", "d2"}));
}

TEST(QueryTest, ProjectsWithAliasesAndTop) {
  auto q = ParseQuery("SELECT TOP 2 deviceId, properties.reported.fw AS firmware, tags.floor FROM devices");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->top, 2u);
  EXPECT_EQ(QueryProject(*q, Fleet()[0]), json::parse(R"({"deviceId":"d1","firmware":"1.2.0","floor":1})"));
  EXPECT_EQ(QueryProject(*q, Fleet()[2]), json::parse(R"({"deviceId":"d3","firmware":"2.0.0"})"));
}

TEST(QueryTest, CountsAndGroups) {
  auto q = ParseQuery("SELECT tags.site AS site, COUNT() AS n FROM devices GROUP BY tags.site");
  ASSERT_TRUE(q.has_value()) << q.error();
  QueryGroups groups(*q);
  for (const auto& t : Fleet()) groups.Add(t);
  EXPECT_EQ(groups.Rows(), json::parse(R"([{"site":"lyon","n":1},{"site":"paris","n":2},{"n":1}])"));

  auto count = ParseQuery("SELECT COUNT() AS total FROM devices WHERE tags.site = 'paris'");
  ASSERT_TRUE(count.has_value());
  QueryGroups total(*count);
  EXPECT_EQ(total.Rows(), json::parse(R"([{"total":0}])"));  // one row even when nothing matched
  for (const auto& t : Fleet()) {
    if (QueryMatches(*count, t)) total.Add(t);
  }
  EXPECT_EQ(total.Rows(), json::parse(R"([{"total":2}])"));
}

TEST(QueryTest, ModulesAreASource) {
  auto q = ParseQuery("SELECT * FROM devices.modules WHERE moduleId = 'm1'");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->from, Query::Source::kModules);
}

TEST(QueryTest, MalformedQueriesSayWhereAndWhat) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "expected SELECT at position 0"},
           {"SELECT * devices", "expected FROM at position 9"},
           {"SELECT * FROM things", "devices or devices.modules"},
           {"SELECT * FROM devices WHERE", "expected a condition at position 27"},
           {"SELECT * FROM devices WHERE tags.a = ", "a string, number"},
           {"SELECT * FROM devices WHERE tags.a == 1", "a string, number"},
           {"SELECT * FROM devices WHERE tags.a = 'open", "unterminated string"},
           {"SELECT * FROM devices WHERE tags.a ~ 1", "unexpected character '~'"},
           {"SELECT * FROM devices WHERE LOWER(tags.a) = 'x'", "LOWER at position 28 is not supported"},
           {"SELECT * FROM devices WHERE (tags.a = 1", "expected ')'"},
           {"SELECT * FROM devices WHERE tags.a IN 1", "'[' after IN"},
           {"SELECT * FROM devices extra", "the end of the query"},
           {"SELECT deviceId, COUNT() AS n FROM devices", "must appear in GROUP BY"},
           {"SELECT * FROM devices GROUP BY tags.a", "SELECT * cannot be combined"},
           {"SELECT TOP -1 * FROM devices", "a whole number from 0 to 1000000 after TOP at position 11"},
           {"SELECT TOP 99999999999 * FROM devices", "a whole number"},
       }) {
    auto q = ParseQuery(c.text);
    ASSERT_FALSE(q.has_value()) << c.text;
    EXPECT_EQ(q.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(q.error().message().find(c.says), std::string::npos) << c.text << " -> " << q.error();
  }
}

TEST(QueryTest, HugeOrDeeplyNestedInputIsRefusedNotRecursedInto) {
  std::string deep = "SELECT * FROM devices WHERE " + std::string(10000, '(');
  EXPECT_NE(ParseQuery(deep).error().message().find("over the limit of 8192"), std::string::npos);
  std::string nested = "SELECT * FROM devices WHERE " + std::string(100, '(') + "tags.a = 1" +
                       std::string(100, ')');
  EXPECT_NE(ParseQuery(nested).error().message().find("nest deeper"), std::string::npos);
  std::string nots = "SELECT * FROM devices WHERE ";
  for (int i = 0; i < 1000; ++i) nots += "NOT ";
  EXPECT_NE(ParseQuery(nots + "tags.a = 1").error().message().find("nest deeper"), std::string::npos);
}

}  // namespace
}  // namespace coffre::hub
