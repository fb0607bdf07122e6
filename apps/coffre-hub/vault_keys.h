#pragma once
// The customer key's provider for coffre-hub: a client of the vault named by the settings'
// key URI, with the hub's token and the vault's CA from their files. Built here, in apps/, so
// that the hub library opens no sockets (HubOptions::customer_keys). A token file sealed by the
// hub's PKCS#11 token (`coffre seal-vault-token`) is opened with `token`.

#include <optional>

#include "hub/key_custody.h"
#include "hubservice/service_key.h"

namespace coffre {

hub::KeyCustody::ProviderFactory VaultKeyProviders(
    std::optional<hubservice::ServiceKeyToken> token);

}  // namespace coffre
