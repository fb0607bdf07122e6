#include "vault/seal/master_key.h"

#include <argon2.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/log.h"
#include "crypto/aes_gcm.h"
#include "crypto/envelope.h"
#include "crypto/random.h"
#include "vault/seal/master_key_file.h"

namespace coffre::vault {
namespace {

using crypto::SecretBytes;

constexpr uint32_t kTimeCost = 3;
constexpr uint32_t kMemoryKib = 64 * 1024;
constexpr uint32_t kParallelism = 1;

// The test suite's costs (ctest sets COFFRE_TEST_ONLY_FAST_KDF=1 for every test): a vault start
// spends ~1 s in Argon2id at the default costs on a small machine, and the suite starts vaults
// by the dozen. Only a file's creation reads the variable; the costs are recorded in the file,
// and opening one always uses its own. Never set it for a deployment: opening a file made with
// costs below the default logs a warning.
constexpr uint32_t kTestTimeCost = 1;
constexpr uint32_t kTestMemoryKib = 8 * 1024;

bool FastKdfForTests() {
  const char* v = std::getenv("COFFRE_TEST_ONLY_FAST_KDF");
  return v != nullptr && std::string_view(v) == "1";
}

void WarnIfBelowDefaultCosts(const std::filesystem::path& path, uint32_t t, uint32_t m) {
  if (t >= kTimeCost && m >= kMemoryKib) return;
  LogLine("vault", "warning: " + path.string() + " is sealed with Argon2id costs t=" +
                       std::to_string(t) + ", m=" + std::to_string(m / 1024) +
                       " MiB, below the default t=3, m=64 MiB (COFFRE_TEST_ONLY_FAST_KDF: for "
                       "tests only)");
}

Result<SecretBytes> DeriveKek(std::string_view passphrase, ByteSpan salt, uint32_t t, uint32_t m,
                              uint32_t p) {
  if (passphrase.size() < 8) return InvalidArgument("the passphrase needs at least 8 characters");
  COFFRE_ASSIGN_OR_RETURN(SecretBytes kek, SecretBytes::Allocate(crypto::kAesGcmKeySize));
  int rc = argon2id_hash_raw(t, m, p, passphrase.data(), passphrase.size(), salt.data(),
                             salt.size(), kek.RevealMutable().data(), kek.size());
  if (rc != ARGON2_OK) return Internal(std::string("argon2id: ") + argon2_error_message(rc));
  return kek;
}

}  // namespace

Result<SecretBytes> CreateMasterKeyFile(const std::filesystem::path& path,
                                        std::string_view passphrase) {
  if (std::filesystem::exists(path)) return AlreadyExists(path.string() + " exists");
  Bytes salt(16);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(salt));
  const bool fast = FastKdfForTests();
  const uint32_t t_cost = fast ? kTestTimeCost : kTimeCost;
  const uint32_t m_cost = fast ? kTestMemoryKib : kMemoryKib;
  WarnIfBelowDefaultCosts(path, t_cost, m_cost);
  COFFRE_ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(passphrase, salt, t_cost, m_cost, kParallelism));
  COFFRE_ASSIGN_OR_RETURN(SecretBytes master, SecretBytes::Random(crypto::kAesGcmKeySize));
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(kek));
  crypto::EnvelopeHeader header;
  header.key_id = crypto::kRootKeyId;
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(header.nonce));
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed,
                          crypto::SealEnvelope(*aead, header, AsBytes(kMasterKeyAad), master.Reveal()));
  nlohmann::json j = {{"kdf", kPassphraseKdf},       {"t_cost", t_cost},
                      {"m_cost_kib", m_cost},          {"parallelism", kParallelism},
                      {"salt", Base64UrlEncode(salt)}, {"sealed", Base64UrlEncode(sealed)}};
  COFFRE_RETURN_IF_ERROR(WriteSealedMasterFile(path, std::move(j), master));
  return master;
}

Result<SecretBytes> UnsealMasterKey(const std::filesystem::path& path,
                                    std::string_view passphrase) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ReadSealedMasterFile(path, kPassphraseKdf));
  auto bad = [&] { return DataLoss(path.string() + " is not a sealed master key file"); };
  // A damaged file may hold any type in any field: typed reads, never a throw.
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(j));
  auto salt_text = f.Required<std::string>("salt");
  auto sealed_text = f.Required<std::string>("sealed");
  auto t_cost = f.Required<uint32_t>("t_cost");
  auto m_cost = f.Required<uint32_t>("m_cost_kib");
  auto parallelism = f.Required<uint32_t>("parallelism");
  if (!salt_text.has_value() || !sealed_text.has_value() || !t_cost.has_value() ||
      !m_cost.has_value() || !parallelism.has_value()) {
    return bad();
  }
  auto salt = Base64UrlDecode(*salt_text);
  auto sealed = Base64UrlDecode(*sealed_text);
  uint32_t t = *t_cost, m = *m_cost, p = *parallelism;
  if (!salt.has_value() || !sealed.has_value() || t == 0 || t > 64 || m < 8 || m > (4u << 20) ||
      p == 0 || p > 64) {
    return bad();
  }
  WarnIfBelowDefaultCosts(path, t, m);
  COFFRE_ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(passphrase, *salt, t, m, p));
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(kek));
  COFFRE_ASSIGN_OR_RETURN(SecretBytes master, SecretBytes::Allocate(crypto::kAesGcmKeySize));
  if (sealed->size() != crypto::SealedEnvelopeSize(crypto::kAesGcmKeySize) ||
      !crypto::OpenEnvelope(*aead, *sealed, AsBytes(kMasterKeyAad), master.RevealMutable()).ok()) {
    return PermissionDenied("cannot unseal the vault master key: wrong passphrase or damaged " +
                            path.string());
  }
  COFFRE_RETURN_IF_ERROR(VerifyRecordedLineage(path, j, master));
  return master;
}

}  // namespace coffre::vault
