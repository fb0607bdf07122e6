// PropertiesFromHeaders: the one reading of a message's properties from HTTP headers, which
// device-to-cloud sends and the service's C2D sends share.
#include "hubapi/message_headers.h"

#include <gtest/gtest.h>

namespace coffre::hubapi {
namespace {

TEST(MessageHeadersTest, SystemAndApplicationPropertiesAreReadWithoutCase) {
  net::HttpHeaders headers = {{"iothub-MESSAGEID", "m1"},
                              {"IoTHub-CorrelationId", "c1"},
                              {"iothub-userid", "u1"},
                              {"IoTHub-ContentType", "application/json"},
                              {"iothub-contentencoding", "utf-8"},
                              {"dt-subject", "thermostat"},
                              {"IoTHub-App-Color", "blue"},
                              {"iothub-app-size", "L"},
                              {"Content-Type", "text/plain"},  // the body's, not a property
                              {"Authorization", "SharedAccessSignature x"}};
  hub::MessageProperties p = PropertiesFromHeaders(headers);
  EXPECT_EQ(p.system.message_id, "m1");
  EXPECT_EQ(p.system.correlation_id, "c1");
  EXPECT_EQ(p.system.user_id, "u1");
  EXPECT_EQ(p.system.content_type, "application/json");
  EXPECT_EQ(p.system.content_encoding, "utf-8");
  EXPECT_EQ(p.system.subject, "thermostat");
  ASSERT_EQ(p.application.size(), 2u);
  EXPECT_EQ(p.application[0], (std::pair<std::string, std::string>{"Color", "blue"}));
  EXPECT_EQ(p.application[1], (std::pair<std::string, std::string>{"size", "L"}));
}

TEST(MessageHeadersTest, ABarePrefixIsAnEmptyApplicationNameAndNoHeadersNoProperties) {
  EXPECT_TRUE(PropertiesFromHeaders({}).application.empty());
  EXPECT_FALSE(PropertiesFromHeaders({}).system.message_id.has_value());
  hub::MessageProperties p = PropertiesFromHeaders({{"iothub-app-", "v"}, {"iothub-ap", "w"}});
  ASSERT_EQ(p.application.size(), 1u);
  EXPECT_EQ(p.application[0].first, "");
}

}  // namespace
}  // namespace coffre::hubapi
