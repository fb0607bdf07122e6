// Fuzzes twin patches (reported patches from devices, desired/tag patches from the service, stored
// twin records): the input as JSON applied to a twin that already holds properties, and read as a
// stored record: never a crash, and a refused patch changes nothing.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "hub/twin_document.h"

using namespace coffre;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  json patch = json::parse(text, nullptr, false);
  if (patch.is_discarded()) return 0;
  Clock::WallTime now{std::chrono::seconds(1'800'000'000)};
  hub::TwinDocument twin(now);
  COFFRE_CHECK(twin.PatchProperties(hub::TwinSection::kReported,
                                    json::parse(R"({"a":{"b":1},"c":"x"})"), now).ok());
  json before = twin.ToStored();
  Status reported = twin.PatchProperties(hub::TwinSection::kReported, patch, now);
  if (!reported.ok()) COFFRE_CHECK(twin.ToStored() == before);
  (void)twin.PatchProperties(hub::TwinSection::kDesired, patch, now);
  (void)twin.PatchTags(patch);
  if (patch.is_object() && patch.contains("tags") && patch.contains("desired")) {
    (void)twin.Replace(patch["tags"], patch["desired"], now);
  }
  (void)twin.DeviceView().dump(-1, ' ', false, json::error_handler_t::replace);
  (void)hub::TwinDocument::FromStored(patch);
  return 0;
}
