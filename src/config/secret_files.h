#pragma once
// Files that hold secrets (tokens, keys, passphrases, PINs): where they are and whether they are
// kept as a secret should be. A setting may name a systemd credential instead of a path:
// `credential:NAME` is $CREDENTIALS_DIRECTORY/NAME, the file systemd makes for the unit's
// LoadCredential=NAME:... (the directory exists only for the service, on a private mount).

#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace coffre::config {

// `credential:NAME` resolved against $CREDENTIALS_DIRECTORY; any other text is a path as is.
Result<std::filesystem::path> SecretPath(std::string_view setting);

// Refuses a secret file that others could read or change: it must be a regular file owned by
// this user (or root), with no permission for others and none to write for the group (a group
// may read it, as Debian's ssl-cert group reads TLS keys). `what` names the file in errors.
// A missing file is NotFound.
Status CheckSecretFile(const std::filesystem::path& path, std::string_view what);

// Both: the path `setting` names, checked if it exists (`may_be_missing`: a file the daemon
// creates) and refused if missing otherwise.
Result<std::filesystem::path> SecretFile(std::string_view setting, std::string_view what,
                                         bool may_be_missing = false);

// For a daemon's flags: the setting `path` replaced by the file it names (SecretFile); on a
// problem, "<daemon>: <why>" on stderr and false. An empty setting is left alone.
bool ResolveSecretSetting(std::string_view daemon, std::filesystem::path& path,
                          std::string_view what, bool may_be_missing = false);
bool ResolveSecretSetting(std::string_view daemon, std::string& path, std::string_view what,
                          bool may_be_missing = false);

// The TLS pair's settings the same way: the certificate is public but may be a credential, the
// key is a secret file.
bool ResolveTlsSettings(std::string_view daemon, std::filesystem::path& cert,
                        std::filesystem::path& key);

}  // namespace coffre::config
