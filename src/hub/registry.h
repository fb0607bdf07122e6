#pragma once
// Registry: the device identities of one hub, as Azure IoT Hub keeps them (symmetric keys or
// X.509 thumbprints, enabled/disabled with a reason, etag, generation id, connection state).
// Each identity is one record in the metadata store, sealed by the customer layer; the record's
// key is an HMAC of the device id under a key derived from the hub root key, so the store does
// not even reveal device names. Listeners (hub/identity_listener.h) hear of every update and
// delete once it is stored, so open sessions are re-checked at once. Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/hub_keys.h"
#include "hub/identity_listener.h"
#include "hub/sealed_rows.h"
#include "storage/kv_store.h"

namespace coffre::hub {

enum class DeviceStatus { kEnabled, kDisabled };
enum class AuthType { kSas, kSelfSigned, kCertificateAuthority, kNone };

std::string_view AuthTypeName(AuthType type);               // "sas", "selfSigned", ...
std::optional<AuthType> ParseAuthType(std::string_view name);

struct DeviceIdentity {
  std::string device_id;
  std::string generation_id;  // set on create; a re-created id gets a new one
  std::string etag;           // changes on every update
  DeviceStatus status = DeviceStatus::kEnabled;
  std::string status_reason;
  AuthType auth_type = AuthType::kSas;
  std::string primary_key, secondary_key;                // base64, for kSas
  std::string primary_thumbprint, secondary_thumbprint;  // hex SHA-1 or SHA-256, for kSelfSigned
  bool connected = false;
  int64_t status_updated_ms = 0;
  int64_t connection_state_updated_ms = 0;
  int64_t last_activity_ms = 0;
};

// Azure's rule: 1-128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '
bool ValidDeviceId(std::string_view id);

// A module identity of a device, as Azure IoT Hub keeps it (no status of its own: the device's
// applies). Its record is sealed like a device's, in a row named by HMACs of the device and
// module ids, under the device's, so that deleting a device deletes its modules.
struct ModuleIdentity {
  std::string device_id;
  std::string module_id;
  std::string generation_id;
  std::string etag;
  std::string managed_by;
  AuthType auth_type = AuthType::kSas;
  std::string primary_key, secondary_key;                // base64, for kSas
  std::string primary_thumbprint, secondary_thumbprint;  // hex SHA-1 or SHA-256, for kSelfSigned
  bool connected = false;
  int64_t connection_state_updated_ms = 0;
  int64_t last_activity_ms = 0;
};

// Module ids follow the device id rule (Azure also allows '+' and '#', which cannot appear in
// an MQTT topic name, so a module named with them could never send).
bool ValidModuleId(std::string_view id);

struct DevicePage {
  std::vector<DeviceIdentity> devices;
  std::string continuation;  // empty: no more
};

class Registry {
 public:
  // kv, keys and clock must outlive the registry.
  Registry(storage::KvStore& kv, HubKeys& keys, const Clock& clock);

  // Generates keys left empty (32 random bytes each) and checks given ones (base64 of 16-64
  // bytes). ALREADY_EXISTS if the id is taken.
  Result<DeviceIdentity> Create(DeviceIdentity device);
  Result<DeviceIdentity> Get(const std::string& device_id);  // NOT_FOUND
  // if_match: "*" or the current etag (quoted or not); anything else is FAILED_PRECONDITION.
  // Keys left empty keep their current values.
  Result<DeviceIdentity> Update(DeviceIdentity device, const std::string& if_match);
  Status Delete(const std::string& device_id, const std::string& if_match);
  Result<DevicePage> List(size_t max_devices, const std::string& continuation);

  // Modules (as azure-iothub's Registry addModule/getModule/getModulesOnDevice/updateModule/
  // removeModule use them). NOT_FOUND if the device (or module) does not exist; ALREADY_EXISTS
  // on create of an existing module; keys and etags as for devices.
  Result<ModuleIdentity> CreateModule(ModuleIdentity module);
  Result<ModuleIdentity> GetModule(const std::string& device_id, const std::string& module_id);
  Result<ModuleIdentity> UpdateModule(ModuleIdentity module, const std::string& if_match);
  Status DeleteModule(const std::string& device_id, const std::string& module_id,
                      const std::string& if_match);
  Result<std::vector<ModuleIdentity>> ListModules(const std::string& device_id);

  // Connection bookkeeping from the protocol front ends (no etag change, as in Azure). Soft
  // state: written without waiting for the disk (a crash may forget the last change).
  Status SetConnected(const std::string& device_id, bool connected);

  // Update, Delete, UpdateModule and DeleteModule tell every listener (after storing, outside
  // the registry's lock). A
  // listener must be removed before it is destroyed; RemoveListener waits for a call in progress.
  void AddListener(IdentityListener& listener);
  void RemoveListener(IdentityListener& listener);
  // Another hub node changed the identity (cluster mode): every listener is told as of a change
  // made here, except `except` (the one that heard it from the other node).
  void ChangedElsewhere(const std::string& device_id, const std::optional<std::string>& module_id,
                        const IdentityListener* except);

 private:
  Result<DeviceIdentity> UpdateStored(DeviceIdentity device, const std::string& if_match);
  Status DeleteStored(const std::string& device_id, const std::string& if_match);
  Result<ModuleIdentity> UpdateModuleStored(ModuleIdentity module, const std::string& if_match);
  Status DeleteModuleStored(const std::string& device_id, const std::string& module_id,
                            const std::string& if_match);
  void NotifyChanged(const std::string& device_id, const std::optional<std::string>& module_id);
  Result<std::string> RowKey(const std::string& device_id);
  Result<DeviceIdentity> Load(const std::string& row);
  Result<std::string> NewEtag();
  Result<std::string> ModuleRowPrefix(const std::string& device_id);
  Result<std::string> ModuleRow(const std::string& device_id, const std::string& module_id);
  Status DeviceExists(const std::string& row, const std::string& device_id);
  Result<ModuleIdentity> LoadModule(const std::string& row);

  SealedRows rows_;
  const Clock& clock_;
  // Orders a device's delete against its modules' creation in this process. Each row's own
  // read-modify-write is a transaction of the store (SealedRows::Update), across hub nodes too.
  std::mutex mu_;
  std::mutex listeners_mu_;  // held while listeners are told: never with mu_
  std::vector<IdentityListener*> listeners_;  // guarded by listeners_mu_
};

}  // namespace coffre::hub
