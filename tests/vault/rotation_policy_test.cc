#include "vault/keys/rotation_policy.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::StatusIs;

json Action(const char* type, const char* trigger, const char* time) {
  return {{"trigger", {{trigger, time}}}, {"action", {{"type", type}}}};
}

json Body(std::vector<json> actions, const char* expiry = nullptr) {
  json body = {{"lifetimeActions", actions}, {"attributes", json::object()}};
  if (expiry != nullptr) body["attributes"]["expiryTime"] = expiry;
  return body;
}

Status Check(const json& body) { return ParseRotationPolicyUpdate(body).status(); }

TEST(RotationPolicyTest, ParsesAzuresShapeAndAddsTheDefaultNotify) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      RotationPolicy p,
      ParseRotationPolicyUpdate(Body({Action("rotate", "timeAfterCreate", "P90D")}, "P2Y")));
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].type, LifetimeActionType::kRotate);
  EXPECT_EQ(p.actions[0].trigger, LifetimeTrigger::kTimeAfterCreate);
  EXPECT_EQ(p.actions[0].time.seconds, 90 * 86400);
  EXPECT_EQ(p.actions[1].type, LifetimeActionType::kNotify);
  EXPECT_EQ(p.actions[1].time.text, "P30D");
  EXPECT_EQ(p.expiry_time->text, "P2Y");
  EXPECT_EQ(RotationPolicyToWire(p, "https://v/keys/k/rotationpolicy"),
            json::parse(R"({"id":"https://v/keys/k/rotationpolicy",
              "lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}},
                                 {"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Notify"}}],
              "attributes":{"expiryTime":"P2Y"}})"));
}

TEST(RotationPolicyTest, KeepsAGivenNotifyAndAcceptsAnEmptyPolicy) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      RotationPolicy p,
      ParseRotationPolicyUpdate(Body({Action("Notify", "timeBeforeExpiry", "P10D")})));
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].time.text, "P10D");
  // What the SDK sends for {} : no lifetimeActions, empty attributes: the default policy.
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy empty,
                              ParseRotationPolicyUpdate(json{{"attributes", json::object()}}));
  EXPECT_EQ(RotationPolicyToRecord(empty), RotationPolicyToRecord(RotationPolicy::Default()));
}

TEST(RotationPolicyTest, AppliesAzuresDefaultValidation) {
  struct Case {
    std::vector<json> actions;
    const char* expiry;
    const char* refusal;  // nullptr: accepted
  };
  const Case cases[] = {
      // expiryTime >= 28 days.
      {{}, "P28D", nullptr},
      {{}, "P27D", "minimum is 28 days"},
      // Rotate after creation: >= 7 days, and >= 7 days before expiry.
      {{Action("Rotate", "timeAfterCreate", "P7D")}, nullptr, nullptr},
      {{Action("Rotate", "timeAfterCreate", "PT167H")}, nullptr, "minimum is 7 days"},
      {{Action("Rotate", "timeAfterCreate", "P21D")}, "P28D", nullptr},
      {{Action("Rotate", "timeAfterCreate", "P22D")}, "P28D", "less than 7 days"},
      // Rotate before expiry: needs expiryTime, >= 7 days, and >= 7 days after creation.
      {{Action("Rotate", "timeBeforeExpiry", "P30D")}, nullptr, "needs attributes.expiryTime"},
      {{Action("Rotate", "timeBeforeExpiry", "P30D")}, "P90D", nullptr},
      {{Action("Rotate", "timeBeforeExpiry", "P6D")}, "P90D", "minimum is 7 days"},
      {{Action("Rotate", "timeBeforeExpiry", "P21D")}, "P28D", nullptr},
      {{Action("Rotate", "timeBeforeExpiry", "P22D")}, "P28D", "less than 7 days"},
      // Notify by timeBeforeExpiry only (no expiryTime needed); one action of each type.
      {{Action("Notify", "timeBeforeExpiry", "P1D")}, nullptr, nullptr},
      {{Action("Notify", "timeAfterCreate", "P30D")}, nullptr, "timeBeforeExpiry trigger only"},
      {{Action("Rotate", "timeAfterCreate", "P30D"), Action("Rotate", "timeAfterCreate", "P60D")},
       nullptr,
       "at most one Rotate"},
      {{Action("Notify", "timeBeforeExpiry", "P30D"), Action("Notify", "timeBeforeExpiry", "P9D")},
       nullptr,
       "one Notify"},
  };
  for (const Case& c : cases) {
    json body = Body(c.actions, c.expiry);
    if (c.refusal == nullptr) {
      EXPECT_TRUE(Check(body).ok()) << body.dump() << ": " << Check(body);
    } else {
      EXPECT_THAT(Check(body), StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.refusal)))
          << body.dump();
    }
  }
}

TEST(RotationPolicyTest, RejectsMalformedBodiesNamingTheField) {
  auto expect = [](const json& body, const char* text) {
    EXPECT_THAT(Check(body), StatusIs(StatusCode::kInvalidArgument, HasSubstr(text)))
        << body.dump();
  };
  expect(json::array(), "must be a JSON object");
  expect(json::parse(R"({"lifetimeActions":"P90D"})"), "lifetimeActions must be an array");
  expect(json::parse(R"({"lifetimeActions":[1]})"), "lifetimeActions[0] must be an object");
  expect(json::parse(R"({"lifetimeActions":[{"action":{"type":"Rotate"}}]})"),
         "lifetimeActions[0].trigger is required");
  expect(json::parse(R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P9D"}}]})"),
         "lifetimeActions[0].action is required");
  expect(Body({Action("Delete", "timeAfterCreate", "P90D")}), "must be Rotate or Notify");
  expect(json::parse(R"({"lifetimeActions":[{"trigger":{},"action":{"type":"Rotate"}}]})"),
         "needs timeAfterCreate or timeBeforeExpiry");
  expect(json::parse(R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P9D",
           "timeBeforeExpiry":"P9D"},"action":{"type":"Rotate"}}]})"),
         "not both");
  expect(Body({Action("Rotate", "timeAfterCreate", "90 days")}),
         "lifetimeActions[0].trigger.timeAfterCreate '90 days' is not a valid ISO 8601 duration");
  expect(json::parse(R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":90},
           "action":{"type":"Rotate"}}]})"),
         "timeAfterCreate must be a string");
  expect(Body({}, "2 years"), "attributes.expiryTime '2 years' is not a valid ISO 8601");
  expect(json::parse(R"({"attributes":"P2Y"})"), "attributes must be an object");
}

TEST(RotationPolicyTest, RecordRoundTripKeepsCreatedAndUpdated) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      RotationPolicy p,
      ParseRotationPolicyUpdate(Body({Action("Rotate", "timeBeforeExpiry", "P30D")}, "P1Y")));
  p.created = 1'800'000'000;
  p.updated = 1'800'000'100;
  json record = RotationPolicyToRecord(p);
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy back, RotationPolicyFromRecord(record));
  EXPECT_EQ(RotationPolicyToRecord(back), record);
  EXPECT_EQ(record["attributes"]["created"], 1'800'000'000);
  EXPECT_FALSE(
      RotationPolicyToWire(RotationPolicy::Default(), "id")["attributes"].contains("created"));
}

}  // namespace
}  // namespace coffre::vault
