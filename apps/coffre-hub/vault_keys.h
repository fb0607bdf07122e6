#pragma once
// The customer key's provider for coffre-hub: a client of the vault named by the settings'
// key URI, with the hub's token and the vault's CA from their files. Built here, in apps/, so
// that the hub library opens no sockets (HubOptions::customer_keys).

#include "hub/key_custody.h"

namespace coffre {

hub::KeyCustody::ProviderFactory VaultKeyProviders();

}  // namespace coffre
