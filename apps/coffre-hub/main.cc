// coffre-hub: the IoT hub. Flags (hub_flags.cc), the process's memory and signals, and one
// HubService (src/hubservice), which wires, starts and stops the hub's parts.
#include <sys/stat.h>

#include <iostream>

#include "common/log.h"
#include "config/daemon_signals.h"
#include "crypto/secure_heap.h"
#include "hub_flags.h"
#include "hubservice/hub_service.h"
#include "vault_keys.h"

bool OpenSslWipesOnFree();  // wipe_on_free.cc

int main(int argc, char** argv) {
  using namespace coffre;
  ::umask(077);  // every file and directory the hub creates is its own: 0600 / 0700
  hubservice::HubOptions options;
  if (std::optional<int> exit_code = ParseHubFlags(argc, argv, options)) return *exit_code;
  // The vault client: apps/, not hub.
  options.customer_keys = VaultKeyProviders(options.service_key_token);

  // Before any thread starts, so that only WaitForStop receives them.
  sigset_t signals = config::BlockDaemonSignals();

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    DaemonLine("coffre-hub", LogLevel::kError, s.ToString());
    return 1;
  }
  if (!OpenSslWipesOnFree()) {
    LogLine("memory",
            "warning: OpenSSL allocated before its allocator could be replaced: its "
            "freed buffers are not wiped");
  }
  auto hub = hubservice::HubService::Start(std::move(options));
  if (!hub.has_value()) {
    DaemonLine("coffre-hub", LogLevel::kError, hub.error().ToString());
    return 1;
  }
  DaemonLine("coffre-hub", LogLevel::kInfo, (*hub)->Describe());
  config::WaitForStop(signals, [&hub]() -> Result<std::string> {
    COFFRE_RETURN_IF_ERROR((*hub)->ReloadCertificates());
    return (*hub)->certificates().subject();
  });
  DaemonLine("coffre-hub", LogLevel::kInfo, "stopping");
  (*hub)->Stop();  // in HubService's stated order
  return 0;
}
