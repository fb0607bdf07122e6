#include "keys/local_file_key_provider.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/files.h"
#include "crypto/aes_gcm.h"
#include "crypto/aes_key_wrap.h"

namespace coffre::keys {

using crypto::SecretBytes;

namespace {

constexpr std::string_view kAlgorithm = "A256KW";
}  // namespace

struct LocalFileKeyProvider::LoadedKey {
  crypto::KeyDescription description;
  SecretBytes key;
};

Status LocalFileKeyProvider::CreateKeyFile(const std::filesystem::path& path,
                                           std::string_view name) {
  if (std::filesystem::exists(path)) return AlreadyExists("key file " + path.string() + " exists");
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Random(crypto::kAesGcmKeySize));
  std::string k = Base64UrlEncode(key.Reveal());
  nlohmann::json j = {{"name", name}, {"version", "1"}, {"enabled", true}, {"k", k}};
  std::string text = j.dump(2) + "\n";
  Status s = WriteFileDurably(path, AsBytes(text), 0600);
  crypto::Cleanse(k);
  crypto::Cleanse(text);
  return s;
}

Result<LocalFileKeyProvider::LoadedKey> LocalFileKeyProvider::Load() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return ErrnoStatus("key file " + path_.string(), errno);
  }
  if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    return PermissionDenied("key file " + path_.string() +
                            " must be owned by this user with mode 0600 (chmod 600)");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path_));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  crypto::Cleanse(text);
  auto bad = [&](std::string_view why) {
    return InvalidArgument("key file " + path_.string() + ": " + std::string(why));
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto name = j.find("name");
  auto version = j.find("version");
  auto enabled = j.find("enabled");
  auto k = j.find("k");
  if (name == j.end() || !name->is_string() || version == j.end() || !version->is_string() ||
      enabled == j.end() || !enabled->is_boolean() || k == j.end() || !k->is_string()) {
    return bad("needs string name, version, k and boolean enabled");
  }
  std::string& k_text = k->get_ref<std::string&>();
  Result<Bytes> raw = Base64UrlDecode(k_text);
  crypto::Cleanse(k_text);
  if (!raw.has_value() || raw->size() != crypto::kAesGcmKeySize) {
    if (raw.has_value()) crypto::Cleanse(*raw);
    return bad("k must be the base64url form of 32 bytes");
  }
  Result<SecretBytes> key = SecretBytes::CopyOf(*raw);
  crypto::Cleanse(*raw);
  if (!key.has_value()) return key.error();

  LoadedKey loaded;
  loaded.description.name = name->get<std::string>();
  loaded.description.version = version->get<std::string>();
  loaded.description.id = "file://" + std::filesystem::absolute(path_).string() + "#" +
                          loaded.description.name + "/" + loaded.description.version;
  loaded.description.state =
      enabled->get<bool>() ? crypto::KeyState::kEnabled : crypto::KeyState::kDisabled;
  loaded.key = std::move(*key);
  return loaded;
}

Result<crypto::KeyDescription> LocalFileKeyProvider::Describe() {
  COFFRE_ASSIGN_OR_RETURN(LoadedKey loaded, Load());
  return loaded.description;
}

Result<crypto::WrappedKey> LocalFileKeyProvider::Wrap(const SecretBytes& key) {
  COFFRE_ASSIGN_OR_RETURN(LoadedKey loaded, Load());
  if (!loaded.description.enabled()) {
    return FailedPrecondition("key " + loaded.description.name + " is disabled");
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes ciphertext, crypto::AesKeyWrap(loaded.key.Reveal(), key.Reveal()));
  return crypto::WrappedKey{loaded.description.id, std::string(kAlgorithm), std::move(ciphertext)};
}

Result<SecretBytes> LocalFileKeyProvider::Unwrap(const crypto::WrappedKey& wrapped) {
  COFFRE_ASSIGN_OR_RETURN(LoadedKey loaded, Load());
  if (!loaded.description.enabled()) {
    return FailedPrecondition("key " + loaded.description.name + " is disabled");
  }
  if (wrapped.key_id != loaded.description.id) {
    return NotFound("key version " + wrapped.key_id + " is not in " + path_.string());
  }
  if (wrapped.algorithm != kAlgorithm) return crypto::OpenFailed();
  return crypto::AesKeyUnwrap(loaded.key.Reveal(), wrapped.ciphertext);
}

}  // namespace coffre::keys
