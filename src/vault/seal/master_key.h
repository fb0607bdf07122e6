#pragma once
// The vault master key: 256 random bits from which every vault record's sealing keys descend.
// On disk it exists only sealed, in a JSON file (master_key_file.h), here under a key derived
// from the operator's passphrase with Argon2id (RFC 9106; t=3, m=64 MiB, p=1, 16-byte salt):
//   {"version":1, "kdf":"argon2id", "t_cost":3, "m_cost_kib":65536, "parallelism":1,
//    "salt":"<b64url>", "sealed":"<b64url envelope, AAD coffre-vault-master-v1>", "lineage":...}
// The other method, a key on a PKCS#11 token, is pkcs11_master_key.h. Stateless, thread-safe.

#include <filesystem>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

// Makes a new master key and writes its sealed file (mode 0600). ALREADY_EXISTS if present.
Result<crypto::SecretBytes> CreateMasterKeyFile(const std::filesystem::path& path,
                                                std::string_view passphrase);

// PERMISSION_DENIED for a wrong passphrase (or a damaged file: they cannot be told apart);
// FAILED_PRECONDITION when a PKCS#11 token seals the file.
Result<crypto::SecretBytes> UnsealMasterKey(const std::filesystem::path& path,
                                            std::string_view passphrase);

}  // namespace coffre::vault
