#pragma once
// dev-01's MQTT CONNECT for hubs that tests start in-process (TestHubOptions bootstraps dev-01
// on host name "localhost"): a SAS token from the device's key, valid for an hour.

#include <chrono>
#include <string>

#include "common/bytes.h"
#include "common/encoding.h"
#include "crypto/secret_bytes.h"
#include "hub/sas_token.h"
#include "mqtt/codec.h"

namespace coffre::testing {

inline Bytes Dev01ConnectPacket(const std::string& device_key) {
  auto key = crypto::SecretBytes::CopyOf(*Base64Decode(device_key)).value();
  int64_t expiry = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count() + 3600;
  std::string token = *hub::MakeSasToken("localhost/devices/dev-01", key, expiry);
  std::string username = "localhost/dev-01/?api-version=2021-04-12";
  mqtt::Connect c;
  c.keep_alive = 180;
  c.client_id = "dev-01";
  c.username = username;
  c.password = AsBytes(token);
  Bytes out;
  mqtt::EncodeConnect(out, c);
  return out;
}

}  // namespace coffre::testing
