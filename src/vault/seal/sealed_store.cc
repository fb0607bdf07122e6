#include "vault/seal/sealed_store.h"

#include "crypto/envelope.h"

namespace coffre::vault {
namespace {

constexpr uint32_t kVaultRecordScope = 1;

}  // namespace

SealedStore::SealedStore(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root,
                         std::unique_ptr<storage::KvDataKeyStore> deks)
    : kv_(kv), root_(std::move(root)), deks_(std::move(deks)), reader_(*root_, *deks_) {}

Result<std::unique_ptr<SealedStore>> SealedStore::Open(storage::KvStore& kv,
                                                       crypto::SecretBytes master_key) {
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::FromSecret(std::move(master_key)));
  auto deks = std::make_unique<storage::KvDataKeyStore>(kv);
  return std::unique_ptr<SealedStore>(new SealedStore(kv, std::move(root), std::move(deks)));
}

Result<Bytes> SealedStore::Seal(const std::string& key, ByteSpan plaintext) {
  std::lock_guard<std::mutex> guard(writer_mu_);
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, crypto::EnvelopeWriter::Start(kVaultRecordScope, *root_, *deks_));
  }
  return writer_->Seal(AsBytes(key), plaintext);
}

Status SealedStore::Put(const std::string& key, ByteSpan plaintext) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, Seal(key, plaintext));
  return kv_.Put(key, sealed, /*sync=*/true);
}

Status SealedStore::PutJson(const std::string& key, const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return Put(key, AsBytes(text));
}

Status SealedStore::Apply(const std::vector<Change>& changes) {
  std::vector<storage::KvWrite> batch;
  for (const Change& c : changes) {
    storage::KvWrite w;
    w.key = c.key;
    w.erase = c.erase;
    if (!c.erase) {
      std::string text = c.json.has_value()
                             ? c.json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                             : std::string();
      ByteSpan plain = c.json.has_value() ? AsBytes(text) : c.raw;
      COFFRE_ASSIGN_OR_RETURN(w.value, Seal(c.key, plain));
    }
    batch.push_back(std::move(w));
  }
  return kv_.Write(batch, /*sync=*/true);
}

Result<Bytes> SealedStore::Get(const std::string& key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, kv_.Get(key));
  Result<Bytes> plain = reader_.Open(sealed, AsBytes(key));
  if (!plain.has_value()) return DataLoss("vault record " + key + " failed its integrity check");
  return plain;
}

Result<crypto::SecretBytes> SealedStore::GetSecret(const std::string& key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, kv_.Get(key));
  if (sealed.size() < crypto::kEnvelopeOverhead) return DataLoss("vault record " + key + " is truncated");
  COFFRE_ASSIGN_OR_RETURN(auto secret,
                          crypto::SecretBytes::Allocate(sealed.size() - crypto::kEnvelopeOverhead));
  if (!reader_.Open(sealed, AsBytes(key), secret.RevealMutable()).ok()) {
    return DataLoss("vault record " + key + " failed its integrity check");
  }
  return secret;
}

Result<nlohmann::json> SealedStore::GetJson(const std::string& key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, Get(key));
  nlohmann::json j = nlohmann::json::parse(AsChars(plain), nullptr, false);
  if (j.is_discarded()) return DataLoss("vault record " + key + " is not JSON");
  return j;
}

Status SealedStore::Delete(const std::string& key) { return kv_.Delete(key, /*sync=*/true); }

Status SealedStore::ScanJson(
    const std::string& prefix,
    const std::function<bool(const std::string& key, const nlohmann::json&)>& fn) {
  std::vector<std::pair<std::string, Bytes>> sealed;
  COFFRE_RETURN_IF_ERROR(kv_.Scan(prefix, [&](std::string_view k, ByteSpan v) {
    sealed.emplace_back(std::string(k), Bytes(v.begin(), v.end()));
    return true;
  }));
  for (const auto& [key, value] : sealed) {
    Result<Bytes> plain = reader_.Open(value, AsBytes(key));
    if (!plain.has_value()) return DataLoss("vault record " + key + " failed its integrity check");
    nlohmann::json j = nlohmann::json::parse(AsChars(*plain), nullptr, false);
    if (j.is_discarded()) return DataLoss("vault record " + key + " is not JSON");
    if (!fn(key, j)) break;
  }
  return Status::Ok();
}

}  // namespace coffre::vault
