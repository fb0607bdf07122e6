// Fuzzes telemetry topic matching and property-bag parsing (untrusted PUBLISH topics): for what
// parses, the bag the hub would format for the same properties parses back to them.
#include <cstdint>

#include "common/check.h"
#include "mqtt/topics.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view topic(reinterpret_cast<const char*>(data), size);
  auto t = mqtt::MatchTelemetryTopic(topic);
  std::string_view bag = t ? t->bag : topic;
  auto props = mqtt::ParsePropertyBag(bag);
  if (props.has_value()) {
    // C2D bags carry only these system properties; compare what survives a round trip.
    props->system.interface_id.reset();
    props->system.subject.reset();
    props->system.output_name.reset();
    auto back = mqtt::ParsePropertyBag(mqtt::FormatPropertyBag(*props));
    COFFRE_CHECK(back.has_value());
    COFFRE_CHECK(back->application == props->application);
    COFFRE_CHECK(back->system.message_id == props->system.message_id);
    COFFRE_CHECK(back->system.to == props->system.to);
  }
  return 0;
}
