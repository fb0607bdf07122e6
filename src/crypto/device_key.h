#pragma once
// DeviceKey: one device's own data key, for per-device erasure (docs/FORMAT.md, "Device keys").
// 32 random bytes, stored only wrapped under the hub root key, as the data key
// {kDeviceKeyScope, number}. A writer seals the device's records under
// HKDF-SHA256(device key, "coffre/device-record/" + the writer's scope and epoch): one subkey per
// (device, writer incarnation), so the writer's counter nonces never repeat under a subkey.
// Deleting the wrapped copy and every cached one makes all the device's records unreadable,
// wherever they are, without rewriting them.

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "crypto/aes_gcm.h"
#include "crypto/data_key_store.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

// The scope of device keys in the DataKeyStore; epochs there are the device key numbers.
inline constexpr uint32_t kDeviceKeyScope = 0xFFFFFFFEu;

struct DeviceKey {
  uint64_t number = 0;
  SecretBytes key;
};

// The cipher of `device`'s records sealed by the writer whose data key is `writer`.
Result<std::unique_ptr<AesGcm>> DeviceRecordCipher(const SecretBytes& device_key,
                                                   DataKeyId writer);

}  // namespace coffre::crypto
