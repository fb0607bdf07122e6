#include "hub/device_keys.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "common/log.h"
#include "crypto/random.h"

namespace coffre::hub {
namespace {

using json = nlohmann::json;

constexpr std::string_view kKeyPrefix = "device-key/";
constexpr std::string_view kErasurePrefix = "device-erasure/";
constexpr uint64_t kMaxKeyNumber = (uint64_t{1} << 53) - 1;
constexpr int kMaxNumberAttempts = 8;

Result<DeviceErasure> ParseErasure(const json& record) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  DeviceErasure e;
  COFFRE_ASSIGN_OR_RETURN(e.device_id, f.Required<std::string>("deviceId"));
  COFFRE_ASSIGN_OR_RETURN(e.key_number, f.Required<uint64_t>("number"));
  COFFRE_ASSIGN_OR_RETURN(e.erased_ms, f.Required<int64_t>("erasedAt"));
  COFFRE_ASSIGN_OR_RETURN(e.erased_by, f.Required<std::string>("erasedBy"));
  return e;
}

// A key row: the key's number and the identity generation it was made for ("" before rows kept
// it).
struct KeyRowRecord {
  uint64_t number = 0;
  std::string generation;
};

Result<KeyRowRecord> ParseKeyRow(const json& record) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  KeyRowRecord r;
  COFFRE_ASSIGN_OR_RETURN(r.number, f.Required<uint64_t>("number"));
  COFFRE_ASSIGN_OR_RETURN(r.generation, f.Or<std::string>("generation", ""));
  return r;
}

}  // namespace

std::string ErasureRow(uint64_t number) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(number));
  return std::string(kErasurePrefix) + digits;
}

DeviceKeys::DeviceKeys(HubKeys& keys, SealedRows& rows, Clock& clock,
                       std::function<Status()> destroy_deleted)
    : keys_(keys), rows_(rows), clock_(clock), destroy_deleted_(std::move(destroy_deleted)) {}

Result<std::string> DeviceKeys::KeyRow(std::string_view device_id) {
  return rows_.HashedRow(kKeyPrefix, "device-key", device_id);
}

Result<std::shared_ptr<const crypto::DeviceKey>> DeviceKeys::For(std::string_view device_id,
                                                                 std::string_view generation) {
  COFFRE_ASSIGN_OR_RETURN(auto remembered, keys_.RememberedDeviceKey(device_id));
  if (remembered) return remembered;
  std::lock_guard<std::mutex> guard(change_mu_);
  COFFRE_ASSIGN_OR_RETURN(remembered, keys_.RememberedDeviceKey(device_id));
  if (remembered) return remembered;
  COFFRE_ASSIGN_OR_RETURN(std::string row, KeyRow(device_id));
  // The number the row names now, if any: a new key replaces it only if the row still does.
  std::optional<uint64_t> replaced;
  Result<json> stored = rows_.Load(row);
  if (stored.has_value()) {
    COFFRE_ASSIGN_OR_RETURN(KeyRowRecord key_row, ParseKeyRow(*stored));
    const uint64_t number = key_row.number;
    replaced = number;
    const std::string& made_for = key_row.generation;
    auto loaded = keys_.LoadDeviceKey(device_id, number);
    if (loaded.has_value() || loaded.error().code() != StatusCode::kNotFound) return loaded;
    // The key is gone. Erased: a late message of the erased incarnation is erased on arrival
    // (a throwaway key under the erased number, remembered nowhere); a new incarnation gets a
    // new key. Not erased (a crash between this row and its key): a new key.
    Result<DeviceErasure> erased = FindErasure(number);
    if (!erased.has_value() && erased.error().code() != StatusCode::kNotFound) {
      return erased.error();
    }
    bool same_incarnation = generation.empty() || made_for.empty() || generation == made_for;
    if (erased.has_value() && same_incarnation) {
      auto tombstone = std::make_shared<crypto::DeviceKey>();
      tombstone->number = number;
      COFFRE_ASSIGN_OR_RETURN(tombstone->key, crypto::SecretBytes::Random(crypto::kAesGcmKeySize));
      return std::shared_ptr<const crypto::DeviceKey>(std::move(tombstone));
    }
  } else if (stored.error().code() != StatusCode::kNotFound) {
    return stored.error();
  }
  // A random number (below 2^53, so that JSON readers keep it exact) instead of a reserved
  // counter. The key is stored first, then the row naming it, created only if the row is as
  // read above (absent, or naming a key that is gone): of two hub nodes making the first key of
  // one device, one row wins, and the other node drops its key, sealed nothing under it, and
  // uses the winner's. Nothing is sealed under a key before its row names it, so a device's
  // erasure (which destroys the key its row names) reaches every record. A crash between the
  // two writes leaves a key no row names and nothing sealed under it.
  for (int attempt = 0; attempt < kMaxNumberAttempts; ++attempt) {
    uint64_t number = 0;
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(
        MutableByteSpan(reinterpret_cast<std::byte*>(&number), sizeof number)));
    number &= kMaxKeyNumber;
    if (number == 0) continue;
    auto key = keys_.NewDeviceKey(number);
    if (!key.has_value() && key.error().code() == StatusCode::kAlreadyExists) continue;  // taken
    if (!key.has_value()) return key.error();
    std::optional<uint64_t> winner;
    Status named = rows_.Update(row, [&](Result<json> now) -> Result<std::optional<json>> {
      winner.reset();
      if (now.has_value()) {
        COFFRE_ASSIGN_OR_RETURN(KeyRowRecord other, ParseKeyRow(*now));
        if (!replaced || other.number != *replaced) {
          winner = other.number;
          return AlreadyExists("another node named this device's key first");
        }
      } else if (now.error().code() != StatusCode::kNotFound) {
        return now.error();
      }
      return std::optional<json>(json{{"number", number}, {"generation", std::string(generation)}});
    }, /*sync=*/true);  // durable before a record sealed under the key can be acknowledged
    if (named.ok()) return keys_.UseDeviceKey(device_id, std::move(*key));
    // Nothing was sealed under the key just made: it goes, before the error or the winner.
    COFFRE_RETURN_IF_ERROR(keys_.DestroyDeviceKey(number));
    if (!winner) return named;
    return keys_.LoadDeviceKey(device_id, *winner);
  }
  return Internal("no free device key number after several random draws");
}

Result<DeviceErasure> DeviceKeys::Erase(std::string_view device_id, std::string_view by,
                                        int64_t erased_ms) {
  std::lock_guard<std::mutex> guard(change_mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string row, KeyRow(device_id));
  DeviceErasure e;
  e.device_id = std::string(device_id);
  e.erased_ms = erased_ms != 0 ? erased_ms : clock_.NowMillis();
  e.erased_by = std::string(by);
  Result<json> stored = rows_.Load(row);
  if (stored.has_value()) {
    COFFRE_ASSIGN_OR_RETURN(KeyRowRecord key_row, ParseKeyRow(*stored));
    e.key_number = key_row.number;
  } else if (stored.error().code() != StatusCode::kNotFound) {
    return stored.error();
  }
  json record{{"deviceId", e.device_id},
              {"number", e.key_number},
              {"erasedAt", e.erased_ms},
              {"erasedBy", e.erased_by}};
  // Key 0 names no key: such erasures are kept apart, by time, so they never collide.
  std::string erasure_row = e.key_number != 0
                                ? ErasureRow(e.key_number)
                                : ErasureRow(0) + "-" + std::to_string(e.erased_ms) + "-" +
                                      std::string(row.substr(kKeyPrefix.size(), 8));
  COFFRE_RETURN_IF_ERROR(rows_.Store(erasure_row, record));
  // The row stays, naming the destroyed key: messages of this incarnation still in flight are
  // erased on arrival (For).
  if (e.key_number != 0) COFFRE_RETURN_IF_ERROR(keys_.DestroyDeviceKey(e.key_number));
  if (e.key_number != 0 && erased_) erased_(e.key_number);
  if (destroy_deleted_) COFFRE_RETURN_IF_ERROR(destroy_deleted_());
  LogLine("erasure", "device " + e.device_id + ": " +
                         (e.key_number != 0 ? "key " + std::to_string(e.key_number) + " destroyed"
                                            : std::string("no key to destroy (it never sent)")) +
                         " (asked by " + e.erased_by + ")");
  return e;
}

Result<DeviceErasure> DeviceKeys::FindErasure(uint64_t number) {
  if (number == 0) return NotFound("key 0 names no device key");
  COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(ErasureRow(number)));
  return ParseErasure(record);
}

Result<std::vector<DeviceErasure>> DeviceKeys::Erasures() {
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> names, rows_.Rows(kErasurePrefix));
  std::vector<DeviceErasure> out;
  for (const std::string& name : names) {
    COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(name));
    COFFRE_ASSIGN_OR_RETURN(DeviceErasure e, ParseErasure(record));
    out.push_back(std::move(e));
  }
  return out;
}

Status DeviceKeys::ForgetErased() {
  COFFRE_ASSIGN_OR_RETURN(std::vector<DeviceErasure> all, Erasures());
  for (const DeviceErasure& e : all) {
    if (e.key_number != 0) keys_.ForgetDeviceKey(e.key_number);
  }
  return Status::Ok();
}

Status DeviceKeys::FinishErasures() {
  COFFRE_ASSIGN_OR_RETURN(std::vector<DeviceErasure> all, Erasures());
  std::lock_guard<std::mutex> guard(change_mu_);
  bool finished = false;
  for (const DeviceErasure& e : all) {
    if (e.key_number == 0) continue;
    COFFRE_ASSIGN_OR_RETURN(bool stored, keys_.DeviceKeyStored(e.key_number));
    if (!stored) continue;
    COFFRE_RETURN_IF_ERROR(keys_.DestroyDeviceKey(e.key_number));
    LogLine("erasure", "device " + e.device_id + ": key " + std::to_string(e.key_number) +
                           " destroyed (an erasure the last run did not finish)");
    finished = true;
  }
  if (finished && destroy_deleted_) COFFRE_RETURN_IF_ERROR(destroy_deleted_());
  return Status::Ok();
}

}  // namespace coffre::hub
