#include "storage/file_cipher.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/encoding.h"
#include "common/files.h"
#include "crypto/aes_gcm.h"
#include "crypto/aes_key_wrap.h"
#include "crypto/ossl.h"
#include "crypto/random.h"

namespace coffre::storage {
namespace {

constexpr char kFileMagic[8] = {'C', 'F', 'C', 'I', 'P', 'H', 'R', '1'};
// magic(8) version(4) reserved(4) service key id(8) wrapped file key(40) counter base(16)
constexpr size_t kKeyIdAt = 16, kWrappedAt = 24, kIvAt = 64;
constexpr size_t kWrappedBytes = 40;

// Names the service key without revealing it: the first 8 bytes of SHA-256("coffre-sk" || key).
void ServiceKeyId(const crypto::SecretBytes& key, std::byte out[8]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  crypto::EvpMdCtx ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), "coffre-sk", 9) == 1 &&
            EVP_DigestUpdate(ctx.get(), key.Reveal().data(), key.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1;
  COFFRE_CHECK(ok);  // SHA-256 in memory cannot fail short of a broken OpenSSL
  std::memcpy(out, digest, 8);
  OPENSSL_cleanse(digest, sizeof digest);
}

}  // namespace

Status CreateServiceKeyFile(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return AlreadyExists(path.string() + " exists");
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, crypto::SecretBytes::Random(32));
  std::string k = Base64UrlEncode(key.Reveal());
  std::string text = nlohmann::json{{"version", 1}, {"k", k}}.dump() + "\n";
  Status s = WriteFileDurably(path, AsBytes(text), 0600);
  crypto::Cleanse(k);
  crypto::Cleanse(text);
  return s;
}

Result<crypto::SecretBytes> LoadServiceKeyFile(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("service key " + path.string(), errno);
  if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    return PermissionDenied("service key " + path.string() +
                            " must be owned by this user with mode 0600 (chmod 600)");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  crypto::Cleanse(text);
  if (j.is_discarded() || !j.is_object() || !j["k"].is_string()) {
    return InvalidArgument("service key " + path.string() + " is not a service key file");
  }
  std::string& k = j["k"].get_ref<std::string&>();
  Result<Bytes> raw = Base64UrlDecode(k);
  crypto::Cleanse(k);
  if (!raw.has_value() || raw->size() != 32) {
    return InvalidArgument("service key " + path.string() + " must hold 32 bytes");
  }
  Result<crypto::SecretBytes> key = crypto::SecretBytes::CopyOf(*raw);
  crypto::Cleanse(*raw);
  return key;
}

Result<std::unique_ptr<FileCipher>> FileCipher::CreateNew(const crypto::SecretBytes& service_key,
                                                          MutableByteSpan header) {
  if (header.size() < kFileCipherHeaderBytes) return InvalidArgument("file header too small");
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, crypto::SecretBytes::Random(32));
  std::array<std::byte, 16> iv{};
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(iv));
  COFFRE_ASSIGN_OR_RETURN(Bytes wrapped, crypto::AesKeyWrap(service_key.Reveal(), key.Reveal()));
  std::memset(header.data(), 0, kFileCipherHeaderBytes);
  std::memcpy(header.data(), kFileMagic, sizeof kFileMagic);
  PutU32(header.data() + 8, 1);
  ServiceKeyId(service_key, header.data() + kKeyIdAt);
  std::memcpy(header.data() + kWrappedAt, wrapped.data(), kWrappedBytes);
  std::memcpy(header.data() + kIvAt, iv.data(), iv.size());
  return std::unique_ptr<FileCipher>(new FileCipher(std::move(key), iv));
}

Result<std::unique_ptr<FileCipher>> FileCipher::FromHeader(const crypto::SecretBytes& service_key,
                                                           ByteSpan header) {
  if (header.size() < kFileCipherHeaderBytes ||
      std::memcmp(header.data(), kFileMagic, sizeof kFileMagic) != 0 || GetU32(header.data() + 8) != 1) {
    return DataLoss("not a file encrypted by Coffre's file cipher");
  }
  std::byte id[8];
  ServiceKeyId(service_key, id);
  Result<crypto::SecretBytes> key =
      std::memcmp(id, header.data() + kKeyIdAt, 8) == 0
          ? crypto::AesKeyUnwrap(service_key.Reveal(), header.subspan(kWrappedAt, kWrappedBytes))
          : Result<crypto::SecretBytes>(crypto::OpenFailed());
  if (!key.has_value() || key->size() != 32) {
    return PermissionDenied("this file was encrypted under another service key");
  }
  std::array<std::byte, 16> iv{};
  std::memcpy(iv.data(), header.data() + kIvAt, iv.size());
  return std::unique_ptr<FileCipher>(new FileCipher(std::move(*key), iv));
}

Status FileCipher::Apply(uint64_t offset, MutableByteSpan data) const {
  if (data.empty()) return Status::Ok();
  // The counter block of `offset`: the base plus the block index, as a 128-bit big-endian sum.
  std::array<std::byte, 16> counter = iv_;
  uint64_t block = offset / 16;
  uint64_t lo = GetU64(counter.data() + 8);
  uint64_t hi = GetU64(counter.data());
  uint64_t sum = lo + block;
  PutU64(counter.data() + 8, sum);
  PutU64(counter.data(), hi + (sum < lo ? 1 : 0));
  crypto::CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr,
                                 AsUChars(key_.Reveal()), AsUChars(ByteSpan(counter))) != 1) {
    return crypto::OsslError("AES-256-CTR setup");
  }
  if (size_t skip = offset % 16; skip > 0) {  // consume the keystream before `offset`
    unsigned char waste[16];
    if (EVP_EncryptUpdate(ctx.get(), waste, &len, waste, static_cast<int>(skip)) != 1) {
      return crypto::OsslError("AES-256-CTR");
    }
  }
  if (EVP_EncryptUpdate(ctx.get(), AsUChars(data), &len, AsUChars(data),
                        static_cast<int>(data.size())) != 1) {
    return crypto::OsslError("AES-256-CTR");
  }
  return Status::Ok();
}

}  // namespace coffre::storage
