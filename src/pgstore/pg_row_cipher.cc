#include "pgstore/pg_row_cipher.h"

#include "common/encoding.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"

namespace coffre::pgstore {
namespace {

constexpr std::byte kVersion{1};
constexpr uint64_t kSealsPerSalt = uint64_t{1} << 31;
constexpr size_t kKeptKeys = 64;

}  // namespace

Result<std::unique_ptr<PgRowCipher>> PgRowCipher::Create(const crypto::SecretBytes& service_key) {
  if (service_key.size() != crypto::kAesGcmKeySize) {
    return InvalidArgument("the service key must be 32 bytes");
  }
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes copy, service_key.Clone());
  std::unique_ptr<PgRowCipher> cipher(new PgRowCipher(std::move(copy)));
  std::lock_guard<std::mutex> lock(cipher->mu_);
  COFFRE_RETURN_IF_ERROR(cipher->NewSalt());
  return cipher;
}

Status PgRowCipher::NewSalt() {
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(salt_));
  seals_ = 0;
  return KeyFor(salt_).status();
}

Result<crypto::AesGcm*> PgRowCipher::KeyFor(const Salt& salt) {
  auto found = keys_.find(salt);
  if (found != keys_.end()) return found->second.get();
  // A few writers' salts live at a time; rows with many more (older incarnations, or planted
  // ones) must not grow the cache without bound.
  if (keys_.size() >= kKeptKeys) std::erase_if(keys_, [&](auto& k) { return k.first != salt_; });
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key,
                          crypto::HkdfSha256(service_key_, "coffre pg rows " + HexEncode(salt)));
  COFFRE_ASSIGN_OR_RETURN(auto gcm, crypto::AesGcm::Create(key));
  return keys_.emplace(salt, std::move(gcm)).first->second.get();
}

Result<Bytes> PgRowCipher::Seal(std::string_view where, ByteSpan plain) {
  Bytes out(kRowOverhead + plain.size());
  std::lock_guard<std::mutex> lock(mu_);
  if (++seals_ > kSealsPerSalt) COFFRE_RETURN_IF_ERROR(NewSalt());
  crypto::GcmNonce nonce;
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(nonce));
  out[0] = kVersion;
  std::copy(salt_.begin(), salt_.end(), out.begin() + 1);
  std::copy(nonce.begin(), nonce.end(), out.begin() + 1 + kRowSaltBytes);
  COFFRE_ASSIGN_OR_RETURN(crypto::AesGcm * gcm, KeyFor(salt_));
  const size_t header = 1 + kRowSaltBytes + crypto::kAesGcmNonceSize;
  COFFRE_RETURN_IF_ERROR(gcm->Seal(nonce, {ByteSpan(out.data(), header), AsBytes(where)}, plain,
                                   MutableByteSpan(out.data() + header, out.size() - header)));
  return out;
}

Result<Bytes> PgRowCipher::Open(std::string_view where, ByteSpan sealed) {
  const size_t header = 1 + kRowSaltBytes + crypto::kAesGcmNonceSize;
  if (sealed.size() < kRowOverhead || sealed[0] != kVersion) {
    return DataLoss("a value in PostgreSQL at " + std::string(where) + " is not one Coffre sealed");
  }
  Salt salt;
  std::copy(sealed.begin() + 1, sealed.begin() + 1 + kRowSaltBytes, salt.begin());
  crypto::GcmNonce nonce;
  std::copy(sealed.begin() + 1 + kRowSaltBytes, sealed.begin() + header, nonce.begin());
  Bytes out(sealed.size() - kRowOverhead);
  std::lock_guard<std::mutex> lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(crypto::AesGcm * gcm, KeyFor(salt));
  if (!gcm->Open(nonce, {sealed.first(header), AsBytes(where)}, sealed.subspan(header), out).ok()) {
    return DataLoss("a value in PostgreSQL at " + std::string(where) +
                    " does not open under the service key: changed, moved from another row, or "
                    "written under another service key");
  }
  return out;
}

}  // namespace coffre::pgstore
