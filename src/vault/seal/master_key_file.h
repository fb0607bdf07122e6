#pragma once
// master.json: the vault master key's sealed file, and what its two sealing methods share. JSON,
// mode 0600, written durably, never overwritten:
//   {"version":1, "kdf":"argon2id" | "pkcs11", <the method's fields>, "sealed":"<b64url>",
//    "lineage":"<32 hex: master_key_lineage.h>"}
// Its metadata (method, token and key labels, mechanism, lineage) holds no secret and is read
// without one (`coffre vault seal-status`). The fields of each method: docs/VAULT.md.
// Stateless, thread-safe.

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

inline constexpr std::string_view kPassphraseKdf = "argon2id";
inline constexpr std::string_view kPkcs11Kdf = "pkcs11";
// The associated data both methods seal the master key under.
inline constexpr std::string_view kMasterKeyAad = "coffre-vault-master-v1";

// How master.json is sealed.
struct MasterKeySealing {
  std::string kdf;          // kPassphraseKdf or kPkcs11Kdf
  std::string token_label;  // pkcs11 only: the token, the key on it, and the mechanism
  std::string key_label;
  std::string mechanism;
  std::string lineage;  // as recorded at creation; empty in files older than lineage ids
};

// A string field of master.json; empty when absent or of another type (a damaged file).
std::string TextField(const nlohmann::json& j, const char* field);

// DATA_LOSS for a file that is not a sealed master key file.
Result<MasterKeySealing> ReadMasterKeySealing(const std::filesystem::path& path);

// The file's JSON when `kdf` sealed it; FAILED_PRECONDITION saying which method did seal it
// when another did (a vault started with the wrong method).
Result<nlohmann::json> ReadSealedMasterFile(const std::filesystem::path& path,
                                            std::string_view kdf);

// Writes `fields` with "version" and the lineage of `master`. ALREADY_EXISTS if present.
Status WriteSealedMasterFile(const std::filesystem::path& path, nlohmann::json fields,
                             const crypto::SecretBytes& master);

// OK when `file` records no lineage or the lineage of `master`: DATA_LOSS for an edited file,
// so the metadata that seal-status reads offline is the truth once the vault has started.
Status VerifyRecordedLineage(const std::filesystem::path& path, const nlohmann::json& file,
                             const crypto::SecretBytes& master);

}  // namespace coffre::vault
