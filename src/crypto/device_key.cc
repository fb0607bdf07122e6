#include "crypto/device_key.h"

#include <string>

#include "crypto/hkdf.h"

namespace coffre::crypto {

Result<std::unique_ptr<AesGcm>> DeviceRecordCipher(const SecretBytes& device_key,
                                                   DataKeyId writer) {
  std::string info = "coffre/device-record/" + std::to_string(writer.scope) + "/" +
                     std::to_string(writer.epoch);
  COFFRE_ASSIGN_OR_RETURN(SecretBytes subkey, HkdfSha256(device_key, info));
  return AesGcm::Create(subkey);
}

}  // namespace coffre::crypto
