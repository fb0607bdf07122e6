#include "vault/seal/master_key.h"

#include <argon2.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
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
  COFFRE_ASSIGN_OR_RETURN(SecretBytes kek,
                          DeriveKek(passphrase, salt, kTimeCost, kMemoryKib, kParallelism));
  COFFRE_ASSIGN_OR_RETURN(SecretBytes master, SecretBytes::Random(crypto::kAesGcmKeySize));
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(kek));
  crypto::EnvelopeHeader header;
  header.key_id = crypto::kRootKeyId;
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(header.nonce));
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed,
                          crypto::SealEnvelope(*aead, header, AsBytes(kMasterKeyAad), master.Reveal()));
  nlohmann::json j = {{"kdf", kPassphraseKdf},       {"t_cost", kTimeCost},
                      {"m_cost_kib", kMemoryKib},      {"parallelism", kParallelism},
                      {"salt", Base64UrlEncode(salt)}, {"sealed", Base64UrlEncode(sealed)}};
  COFFRE_RETURN_IF_ERROR(WriteSealedMasterFile(path, std::move(j), master));
  return master;
}

Result<SecretBytes> UnsealMasterKey(const std::filesystem::path& path,
                                    std::string_view passphrase) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ReadSealedMasterFile(path, kPassphraseKdf));
  auto bad = [&] { return DataLoss(path.string() + " is not a sealed master key file"); };
  auto salt = Base64UrlDecode(j.value("salt", ""));
  auto sealed = Base64UrlDecode(j.value("sealed", ""));
  uint32_t t = j.value("t_cost", 0u), m = j.value("m_cost_kib", 0u), p = j.value("parallelism", 0u);
  if (!salt.has_value() || !sealed.has_value() || t == 0 || t > 64 || m < 8 || m > (4u << 20) ||
      p == 0 || p > 64) {
    return bad();
  }
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
