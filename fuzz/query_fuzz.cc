// Fuzzes the IoT Hub query parser (POST /devices/query bodies are untrusted) and, for what
// parses, evaluation, projection and grouping over a few fixed twins: never a crash, never
// unbounded recursion.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "hub/query.h"
#include "hub/query_eval.h"

using namespace coffre;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const json* twins = new json(json::parse(R"([
    {"deviceId":"d1","status":"enabled","connectionState":"Connected",
     "tags":{"site":"paris","floor":1,"a":{"b":[1,"x",true]}},
     "properties":{"desired":{"interval":5},"reported":{"fw":"1.2.0","temp":21.5,"on":false}}},
    {"deviceId":"d2","status":"disabled","connectionState":"Disconnected","tags":{},
     "properties":{"desired":{},"reported":{"fw":null}}},
    {"deviceId":"m","moduleId":"m1","tags":"not an object","properties":7}])"));
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto query = hub::ParseQuery(text);
  if (!query.has_value()) return 0;
  hub::QueryGroups groups(*query);
  for (const auto& twin : *twins) {
    if (!hub::QueryMatches(*query, twin)) continue;
    if (query->Aggregates() || !query->group_by.empty()) {
      groups.Add(twin);
    } else {
      (void)hub::QueryProject(*query, twin).dump();
    }
  }
  (void)groups.Rows().dump();
  return 0;
}
