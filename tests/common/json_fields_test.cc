#include "common/json_fields.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre {
namespace {

using nlohmann::json;
using testing::StatusIs;

JsonFields Fields(const json& j) { return JsonFields::Of(j).value(); }

TEST(JsonFieldsTest, ReadsEachTypeWhenItMatches) {
  json j = json::parse(R"({"s":"x","b":true,"i":-5,"u":18446744073709551615,"p":443,"d":1.5,
                          "a":["x","y"],"o":{"t":"sas"}})");
  JsonFields f = Fields(j);
  EXPECT_EQ(*f.Required<std::string>("s"), "x");
  EXPECT_EQ(*f.Required<bool>("b"), true);
  EXPECT_EQ(*f.Required<int>("i"), -5);
  EXPECT_EQ(*f.Required<uint64_t>("u"), UINT64_MAX);
  EXPECT_EQ(*f.Required<uint16_t>("p"), 443);
  EXPECT_EQ(*f.Required<double>("d"), 1.5);
  EXPECT_EQ(f.Required<std::vector<std::string>>("a")->size(), 2u);
  COFFRE_ASSERT_OK_AND_ASSIGN(JsonFields o, f.Required<JsonFields>("o"));
  EXPECT_EQ(*o.Required<std::string>("t"), "sas");
}

TEST(JsonFieldsTest, WrongTypesAndNullsAreInvalidArgumentNamingTheField) {
  json j = json::parse(R"({"status":null,"n":5,"auth":{"type":7},"s":"5"})");
  JsonFields f = Fields(j);
  EXPECT_THAT(f.Optional<std::string>("status").status(),
              StatusIs(StatusCode::kInvalidArgument, "field 'status' must be a string"));
  EXPECT_THAT(f.Or<std::string>("n", "enabled").status(),
              StatusIs(StatusCode::kInvalidArgument, "field 'n' must be a string"));
  JsonFields auth = f.Required<JsonFields>("auth").value();
  EXPECT_THAT(auth.Required<std::string>("type").status(),
              StatusIs(StatusCode::kInvalidArgument, "field 'auth.type' must be a string"));
  EXPECT_THAT(f.Required<int64_t>("s").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.Required<bool>("n").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.Required<JsonFields>("n").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.Required<std::vector<std::string>>("n").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.Required<std::string>("missing").status(),
              StatusIs(StatusCode::kInvalidArgument, "field 'missing' is missing"));
}

TEST(JsonFieldsTest, NullableTreatsNullAsAbsentOptionalDoesNot) {
  json j = json::parse(R"({"reason":null})");
  JsonFields f = Fields(j);
  EXPECT_FALSE(f.Nullable<std::string>("reason")->has_value());
  EXPECT_FALSE(f.Nullable<std::string>("absent")->has_value());
  EXPECT_FALSE(f.Optional<std::string>("absent")->has_value());
  EXPECT_FALSE(f.Optional<std::string>("reason").has_value());
  EXPECT_EQ(*f.Or<std::string>("absent", "dflt"), "dflt");
}

TEST(JsonFieldsTest, IntegersOutsideTheTypeOrNotIntegersAreRefused) {
  json j = json::parse(R"({"big":99999999999999999999999,"neg":-1,"huge":1e300,"frac":1.5,
                          "over_int":2147483648,"over_u16":65536,"i64max":9223372036854775807,
                          "past_i64":9223372036854775808})");
  JsonFields f = Fields(j);
  EXPECT_FALSE(f.Required<int64_t>("big").has_value());
  EXPECT_FALSE(f.Required<uint64_t>("big").has_value());
  EXPECT_FALSE(f.Required<uint64_t>("neg").has_value());
  EXPECT_FALSE(f.Required<uint16_t>("neg").has_value());
  EXPECT_FALSE(f.Required<int64_t>("huge").has_value());
  EXPECT_FALSE(f.Required<int>("frac").has_value());
  EXPECT_FALSE(f.Required<int>("over_int").has_value());
  EXPECT_FALSE(f.Required<uint16_t>("over_u16").has_value());
  EXPECT_EQ(*f.Required<int64_t>("i64max"), INT64_MAX);
  EXPECT_FALSE(f.Required<int64_t>("past_i64").has_value());
  EXPECT_EQ(*f.Required<uint64_t>("past_i64"), uint64_t{9223372036854775808u});
  EXPECT_EQ(*f.Required<int>("neg"), -1);
  EXPECT_THAT(f.Required<int>("over_int").status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "field 'over_int' must be an integer from -2147483648 to 2147483647"));
  // Built in code (signed storage) as well as parsed.
  json built = {{"n", int64_t{70000}}};
  EXPECT_FALSE(Fields(built).Required<uint16_t>("n").has_value());
  EXPECT_EQ(*Fields(built).Required<uint32_t>("n"), 70000u);
}

TEST(JsonFieldsTest, OnlyObjectsAreRead) {
  for (const char* text : {"[]", "5", "null", "\"x\"", "{", ""}) {
    EXPECT_FALSE(ParseJsonObject(text).has_value()) << text;
  }
  EXPECT_TRUE(ParseJsonObject("{}").has_value());
  EXPECT_FALSE(JsonFields::Of(json::array()).has_value());
  EXPECT_FALSE(JsonFields::Of(json(nullptr)).has_value());
}

}  // namespace
}  // namespace coffre
