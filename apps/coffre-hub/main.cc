// coffre-hub: the IoT hub. Flags (hub_flags.cc), the process's memory and signals, and one
// HubService (src/hubservice), which wires, starts and stops the hub's parts.
#include <sys/stat.h>

#include <csignal>
#include <iostream>

#include "common/log.h"
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
  options.customer_keys = VaultKeyProviders();  // the vault client: apps/, not hub

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "coffre-hub: " << s << std::endl;
    return 1;
  }
  if (!OpenSslWipesOnFree()) {
    LogLine("memory",
            "warning: OpenSSL allocated before its allocator could be replaced: its "
            "freed buffers are not wiped");
  }
  auto hub = hubservice::HubService::Start(std::move(options));
  if (!hub.has_value()) {
    std::cerr << "coffre-hub: " << hub.error() << std::endl;
    return 1;
  }
  std::cout << "coffre-hub " << (*hub)->Describe() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "coffre-hub stopping" << std::endl;
  (*hub)->Stop();  // in HubService's stated order
  return 0;
}
