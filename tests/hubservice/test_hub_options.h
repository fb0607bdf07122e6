#pragma once
// HubOptions for a hub that a test starts in-process: its data under `dir`, the test's TLS
// certificates, any free ports, a device dev-01, small segments and two threads per server.

#include <filesystem>

#include "hubservice/hub_options.h"
#include "net/certificates.h"

namespace coffre::testing {

inline hubservice::HubOptions TestHubOptions(const std::filesystem::path& dir,
                                             const net::StackCertificates& certs) {
  hubservice::HubOptions o;
  o.dir = dir;
  o.service_key_file = dir.string() + ".service-key";
  o.tls_cert = certs.cert_file;
  o.tls_key = certs.key_file;
  o.bootstrap_devices = {"dev-01"};
  o.telemetry.log.segment_bytes = 1 << 20;
  o.mqtt.port = 0;
  o.mqtt.threads = 2;
  o.https.port = 0;
  o.https.threads = 2;  // coffre-hub's count on a two-core machine
  return o;
}

}  // namespace coffre::testing
