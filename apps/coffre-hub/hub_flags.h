#pragma once
// coffre-hub's command line, read into HubOptions.

#include <optional>

#include "hubservice/hub_options.h"

namespace coffre {

// Fills `options` from the flags. nullopt: start the hub; a number: exit with it (0 after
// --help; otherwise the flag's error has been printed).
std::optional<int> ParseHubFlags(int argc, char** argv, hubservice::HubOptions& options);

}  // namespace coffre
