#pragma once
// What device and module identities share: key and thumbprint rules, If-Match against an etag,
// and fresh keys, etags and generation ids. Stateless, thread-safe.

#include <cstdint>
#include <string>

#include "common/result.h"

namespace coffre::hub::identity {

// base64 of 16 to 64 bytes (Azure's rule); `name` says which key in the error.
Status CheckKey(const std::string& name, const std::string& key);
// Empty, or the hex SHA-1 (40) or SHA-256 (64) of a certificate.
Status CheckThumbprint(const std::string& thumbprint);
// If-Match: "*" or the current etag, quoted or not; an absent header matches only where the
// SDK sends none (delete). FAILED_PRECONDITION otherwise, naming `what` ("device", "module").
Status CheckEtag(const std::string& if_match, const std::string& etag, bool absent_matches,
                 const std::string& what = "device");
// 32 random bytes in base64, as Azure generates keys.
Result<std::string> RandomKey();
// 8 random bytes in base64.
Result<std::string> NewEtag();
// Azure's generation ids are decimal ticks; ours are milliseconds plus randomness.
Result<std::string> NewGenerationId(int64_t now_ms);

}  // namespace coffre::hub::identity
