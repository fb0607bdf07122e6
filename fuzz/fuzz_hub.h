#pragma once
// The hub the end-to-end fuzz targets start in process: service-managed keys, its data and TLS
// files in a new temporary directory, every port on loopback port 0 with one thread, two small
// partitions, device d1 bootstrapped, the key checked once at start.

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "hubservice/hub_options.h"
#include "net/certificates.h"

namespace coffre::fuzz {

// Creates /tmp/PREFIX-XXXXXX and the stack's certificates in it; `dir` is set to the directory.
inline hubservice::HubOptions FuzzHubOptions(const char* prefix, std::filesystem::path& dir) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  COFFRE_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  dir = tmpl;
  Result<net::StackCertificates> certs = net::EnsureStackCertificates(dir / "tls", {});
  COFFRE_CHECK(certs.has_value());
  hubservice::HubOptions o;
  o.dir = dir / "hub";
  o.service_key_file = dir / "service-key";
  o.tls_cert = certs->cert_file;
  o.tls_key = certs->key_file;
  o.bootstrap_devices = {"d1"};
  o.key_monitor_thread = false;  // checked once at start: the status is that of this check
  o.telemetry.partitions = 2;
  o.telemetry.log.segment_bytes = 1 << 20;
  o.mqtt.address = o.https.address = o.amqp.address = "127.0.0.1";
  o.mqtt.port = o.https.port = o.amqp.port = 0;
  o.mqtt.threads = o.https.threads = o.amqp.threads = 1;
  return o;
}

// One T (with members `service`, a HubService, and `dir`) for the whole run: made on the first
// call, stopped and its directory removed at exit.
template <class T>
T* HubForTheRun() {
  static T* hub = nullptr;
  if (hub == nullptr) {
    hub = new T();
    std::atexit([] {
      hub->service->Stop();
      std::error_code ec;
      std::filesystem::remove_all(hub->dir, ec);
    });
  }
  return hub;
}

}  // namespace coffre::fuzz
