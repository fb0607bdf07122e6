// mqtt_load's identities: devices created through the hub's service API (--owner), read from a
// devices file ("id base64-key" lines: Azure SAS per device), or one shared password.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "load_options.h"

namespace coffre::load {

// Creates (or re-keys) devices PREFIX0 .. PREFIX{clients-1} with fresh keys and writes them ("id
// key" lines, mode 0600) to --keep-devices-file, or to a temp file. Returns the file's path.
Result<std::string> CreateDevices(const Options& o);

// The --clients identities: SAS tokens from o.devices_file's keys (valid an hour), or
// PREFIX0.. with o.password.
Result<std::vector<Identity>> LoadIdentities(const Options& o);

}  // namespace coffre::load
