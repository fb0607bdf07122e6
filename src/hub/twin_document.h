#pragma once
// TwinDocument: one device's or module's twin as IoT Hub keeps it. Tags are written and read by
// the service only; desired properties are written by the service and read by the device;
// reported properties are written by the device. Each property section has a $version that grows
// by one per update and $metadata that mirrors its tree with when each node last changed (and,
// for desired, at which $version). The twin's own version grows on every change and gives the
// etag. Patches are JSON merge patches (RFC 7396: null removes a key, objects merge). Every
// limit is checked before anything changes, so a refused patch leaves the document as it was.
// Value type, thread-compatible.

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"

namespace coffre::hub {

// Azure IoT Hub's twin limits. Sizes count key bytes plus value sizes (strings by bytes, numbers
// 8, booleans 4), as Azure does, but strings by UTF-8 bytes rather than characters.
struct TwinLimits {
  size_t tags_bytes = 8 * 1024;
  size_t properties_bytes = 32 * 1024;  // desired and reported, each
  int max_depth = 10;                   // nested objects below a section's root
  size_t max_key_bytes = 1024;
  size_t max_string_bytes = 4 * 1024;
};

enum class TwinSection { kDesired, kReported };

class TwinDocument {
 public:
  // A new identity's twin: no tags or properties, every version 1, created at `created`.
  explicit TwinDocument(Clock::WallTime created);

  // Merges `patch` (a JSON object) into the tags. INVALID_ARGUMENT naming the rule broken
  // (a key with '.', '$', a space or a control character; too deep; too large).
  Status PatchTags(const nlohmann::json& patch, const TwinLimits& limits = {});
  // Merges `patch` into desired or reported properties and bumps that section's $version.
  Status PatchProperties(TwinSection section, const nlohmann::json& patch, Clock::WallTime now,
                         const TwinLimits& limits = {});
  // PUT: tags and desired properties replaced whole (reported is the device's and stays).
  Status Replace(const nlohmann::json& tags, const nlohmann::json& desired, Clock::WallTime now,
                 const TwinLimits& limits = {});

  // What the device reads: {"desired":{...,"$version":D},"reported":{...,"$version":R}}.
  nlohmann::json DeviceView() const;
  // What the service reads of a section: its properties, "$metadata" and "$version".
  nlohmann::json PropertiesView(TwinSection section) const;
  const nlohmann::json& tags() const { return tags_; }

  int64_t version() const { return version_; }
  int64_t SectionVersion(TwinSection section) const { return Of(section).version; }
  // Azure's twin etag: the version as 8 big-endian bytes in base64 ("AAAAAAAAAAE=").
  std::string Etag() const;

  // The stored form (sealed by the caller) and back. FromStored never throws; a record that is
  // not one this class wrote is DATA_LOSS.
  nlohmann::json ToStored() const;
  static Result<TwinDocument> FromStored(const nlohmann::json& stored);

 private:
  struct Properties {
    nlohmann::json values = nlohmann::json::object();
    nlohmann::json metadata = nlohmann::json::object();
    int64_t version = 1;
  };

  Properties& Of(TwinSection s) { return s == TwinSection::kDesired ? desired_ : reported_; }
  TwinDocument() = default;  // for FromStored
  const Properties& Of(TwinSection s) const {
    return s == TwinSection::kDesired ? desired_ : reported_;
  }

  nlohmann::json tags_ = nlohmann::json::object();
  Properties desired_;
  Properties reported_;
  int64_t version_ = 1;
};

}  // namespace coffre::hub
