#include "hub/hub_keys.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <mutex>

#include "crypto/hmac.h"

namespace coffre::hub {
namespace {

// 8192 keys of 32 bytes: a quarter of the secure heap. Past that the map starts over: a key
// not remembered is loaded again from its wrapped copy.
constexpr size_t kMaxRememberedDeviceKeys = 8192;

bool SameFingerprint(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status Inaccessible() {
  return Unavailable("the hub's keys are inaccessible (its customer-managed key cannot be used)");
}

}  // namespace

HubKeys::HubKeys(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root,
                 crypto::WrappedKey wrapped)
    : kv_(kv),
      data_keys_(std::make_unique<storage::KvDataKeyStore>(kv)),
      row_digests_(std::make_unique<RowDigests>(kv, *this)),
      root_(std::move(root)),
      reader_(root_ ? std::make_unique<crypto::EnvelopeReader>(*root_, *data_keys_) : nullptr),
      wrapped_(std::move(wrapped)),
      root_fingerprint_(root_ ? Fingerprint(*root_) : Bytes()) {}

Bytes HubKeys::Fingerprint(const crypto::RootKey& root) {
  Result<crypto::SecretBytes> key = root.DeriveKey("root-fingerprint");
  if (!key.has_value()) return {};
  return crypto::HmacSha256(*key, AsBytes(std::string_view("coffre root key"))).value_or(Bytes());
}

Result<crypto::WrappedKey> HubKeys::StoredRoot(storage::KvStore& kv) {
  COFFRE_ASSIGN_OR_RETURN(Bytes stored, kv.Get(kRootKeyRow));
  return crypto::ParseWrappedKey(AsChars(stored));
}

Result<std::unique_ptr<HubKeys>> HubKeys::OpenLocked(storage::KvStore& kv) {
  COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, StoredRoot(kv));
  return std::unique_ptr<HubKeys>(new HubKeys(kv, nullptr, std::move(wrapped)));
}

Result<std::unique_ptr<HubKeys>> HubKeys::Open(storage::KvStore& kv,
                                               crypto::KeyProvider& provider) {
  Result<Bytes> stored = kv.Get(kRootKeyRow);
  if (!stored.has_value() && stored.error().code() == StatusCode::kNotFound) {
    // A new hub: the wrapped root key is durable before anything is sealed under it. Stored
    // only if absent: of two hub nodes starting on a new store, both use the first one's.
    COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::Generate());
    COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, root->WrapWith(provider));
    std::string record = crypto::SerializeWrappedKey(wrapped);
    Status put = kv.PutIfAbsent(kRootKeyRow, AsBytes(record), /*sync=*/true);
    if (put.ok()) return std::unique_ptr<HubKeys>(new HubKeys(kv, std::move(root), std::move(wrapped)));
    if (put.code() != StatusCode::kAlreadyExists) return put;
    stored = kv.Get(kRootKeyRow);
  }
  if (!stored.has_value()) return stored.error();
  COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, crypto::ParseWrappedKey(AsChars(*stored)));
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::Unwrap(provider, wrapped));
  return std::unique_ptr<HubKeys>(new HubKeys(kv, std::move(root), std::move(wrapped)));
}

Status HubKeys::CheckUnlocked() const { return root_ ? Status::Ok() : Inaccessible(); }

Result<std::shared_ptr<crypto::EnvelopeWriter>> HubKeys::StartWriter(uint32_t scope,
                                                                    uint64_t max_seals) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<crypto::EnvelopeWriter> writer,
                          crypto::EnvelopeWriter::Start(scope, *root_, *data_keys_, max_seals));
  writer->CountSealsIn(seals_);
  std::shared_ptr<crypto::EnvelopeWriter> shared = std::move(writer);
  std::lock_guard<std::mutex> guard(writers_mu_);
  std::erase_if(writers_, [](const auto& w) { return w.expired(); });
  writers_.push_back(shared);
  return shared;
}

Result<Bytes> HubKeys::Open(ByteSpan envelope, ByteSpan aad) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  Result<Bytes> plain = reader_->Open(envelope, aad);
  (plain.has_value() ? opens_ : failed_opens_).fetch_add(1, std::memory_order_relaxed);
  return plain;
}

Result<Bytes> HubKeys::Hmac(std::string_view label, std::string_view data) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  std::lock_guard<std::mutex> guard(derived_mu_);
  auto it = derived_.find(label);
  if (it == derived_.end()) {
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, root_->DeriveKey(label));
    it = derived_.emplace(std::string(label), std::move(key)).first;
  }
  return crypto::HmacSha256(it->second, AsBytes(data));
}

Result<crypto::SecretBytes> HubKeys::DeriveKey(std::string_view label) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  return root_->DeriveKey(label);
}

Result<std::shared_ptr<const crypto::DeviceKey>> HubKeys::RememberedDeviceKey(
    std::string_view device_id) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  std::lock_guard<std::mutex> guard(device_mu_);
  auto it = device_keys_.find(std::string(device_id));
  if (it == device_keys_.end()) return std::shared_ptr<const crypto::DeviceKey>();
  return it->second;
}

Result<std::shared_ptr<crypto::DeviceKey>> HubKeys::NewDeviceKey(uint64_t number) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  auto key = std::make_shared<crypto::DeviceKey>();
  key->number = number;
  COFFRE_ASSIGN_OR_RETURN(key->key, crypto::SecretBytes::Random(crypto::kAesGcmKeySize));
  crypto::DataKeyId id{crypto::kDeviceKeyScope, number};
  COFFRE_ASSIGN_OR_RETURN(Bytes wrapped, root_->WrapDataKey(id, key->key));
  COFFRE_RETURN_IF_ERROR(data_keys_->PutWrapped(id, wrapped));  // ALREADY_EXISTS: taken
  return key;
}

std::shared_ptr<const crypto::DeviceKey> HubKeys::UseDeviceKey(
    std::string_view device_id, std::shared_ptr<crypto::DeviceKey> key) {
  return Remember(device_id, std::move(key));
}

Result<std::shared_ptr<const crypto::DeviceKey>> HubKeys::LoadDeviceKey(std::string_view device_id,
                                                                        uint64_t number) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  COFFRE_RETURN_IF_ERROR(CheckUnlocked());
  crypto::DataKeyId id{crypto::kDeviceKeyScope, number};
  COFFRE_ASSIGN_OR_RETURN(Bytes wrapped, data_keys_->GetWrapped(id));
  auto key = std::make_shared<crypto::DeviceKey>();
  key->number = number;
  COFFRE_ASSIGN_OR_RETURN(key->key, root_->UnwrapDataKey(id, wrapped));
  return Remember(device_id, std::move(key));
}

std::shared_ptr<const crypto::DeviceKey> HubKeys::Remember(std::string_view device_id,
                                                           std::shared_ptr<crypto::DeviceKey> key) {
  std::lock_guard<std::mutex> guard(device_mu_);
  if (device_keys_.size() >= kMaxRememberedDeviceKeys) device_keys_.clear();
  device_keys_[std::string(device_id)] = key;
  return key;
}

Status HubKeys::DestroyDeviceKey(uint64_t number) {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    COFFRE_RETURN_IF_ERROR(data_keys_->DeleteWrapped({crypto::kDeviceKeyScope, number}));
  }
  ForgetDeviceKey(number);
  return Status::Ok();
}

void HubKeys::ForgetDeviceKey(uint64_t number) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  {
    std::lock_guard<std::mutex> guard(device_mu_);
    std::erase_if(device_keys_, [number](const auto& e) { return e.second->number == number; });
  }
  {
    std::lock_guard<std::mutex> guard(writers_mu_);
    for (auto& w : writers_) {
      if (auto writer = w.lock()) writer->ForgetDevice(number);
    }
  }
  if (reader_) reader_->ForgetDevice(number);
}

Result<bool> HubKeys::DeviceKeyStored(uint64_t number) {
  Result<Bytes> wrapped = data_keys_->GetWrapped({crypto::kDeviceKeyScope, number});
  if (wrapped.has_value()) return true;
  if (wrapped.error().code() == StatusCode::kNotFound) return false;
  return wrapped.error();
}

size_t HubKeys::remembered_device_keys() const {
  std::lock_guard<std::mutex> guard(device_mu_);
  return device_keys_.size();
}

size_t HubKeys::cached_read_keys() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return reader_ ? reader_->cached_keys() : 0;
}

void HubKeys::Lock() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  {
    std::lock_guard<std::mutex> guard(writers_mu_);
    for (auto& w : writers_) {
      if (auto writer = w.lock()) writer->Forget();
    }
    writers_.clear();
  }
  {
    std::lock_guard<std::mutex> guard(derived_mu_);
    derived_.clear();  // SecretBytes zeroize on destruction
  }
  {
    std::lock_guard<std::mutex> guard(device_mu_);
    device_keys_.clear();  // a copy still in use is zeroized when its last user drops it
  }
  reader_.reset();  // its cached data keys with it
  root_.reset();
}

Status HubKeys::Unlock(crypto::KeyProvider& provider) {
  std::lock_guard<std::mutex> one_change(change_mu_);
  crypto::WrappedKey wrapped;
  Bytes fingerprint;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (root_) return Status::Ok();
    wrapped = wrapped_;  // stable: only Rewrap changes it, and change_mu_ keeps it out
    fingerprint = root_fingerprint_;
  }
  std::shared_ptr<crypto::RootKey> root;
  Result<crypto::WrappedKey> stored = StoredRoot(kv_);
  if (stored.has_value() && *stored != wrapped) {
    Result<std::unique_ptr<crypto::RootKey>> opened = crypto::RootKey::Unwrap(provider, *stored);
    // A store that lies can keep this node locked, never give it another root key.
    if (opened.has_value() &&
        (fingerprint.empty() || SameFingerprint(Fingerprint(**opened), fingerprint))) {
      root = std::move(*opened);
      wrapped = std::move(*stored);
    }
  }
  if (!root) {
    COFFRE_ASSIGN_OR_RETURN(root, crypto::RootKey::Unwrap(provider, wrapped));
  }
  Bytes unwrapped_fingerprint = Fingerprint(*root);
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (root_) return Status::Ok();
  root_ = std::move(root);
  reader_ = std::make_unique<crypto::EnvelopeReader>(*root_, *data_keys_);
  wrapped_ = std::move(wrapped);
  if (root_fingerprint_.empty()) root_fingerprint_ = std::move(unwrapped_fingerprint);
  return Status::Ok();
}

bool HubKeys::locked() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return !root_;
}

Status HubKeys::Rewrap(crypto::KeyProvider& provider) {
  std::lock_guard<std::mutex> one_change(change_mu_);
  std::shared_ptr<crypto::RootKey> root;
  crypto::WrappedKey held;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    COFFRE_RETURN_IF_ERROR(CheckUnlocked());
    root = root_;
    held = wrapped_;
  }
  const Bytes fingerprint = Fingerprint(*root);
  // The vault round trips and the synced write happen here, with no lock a key user needs; the
  // stored copy's row is locked from its read to the write, so hub nodes sharing the store
  // follow a rotation one at a time: a node that finds a copy stored since its own, opening
  // under the key to this same root, takes that copy instead of writing another.
  crypto::WrappedKey now;
  Status done = kv_.Transact({kRootKeyRow}, [&](storage::KvTxn& txn) -> Status {
    Result<Bytes> stored = txn.Get(kRootKeyRow);
    if (stored.has_value()) {
      Result<crypto::WrappedKey> parsed = crypto::ParseWrappedKey(AsChars(*stored));
      if (parsed.has_value() && *parsed != held) {
        Result<std::unique_ptr<crypto::RootKey>> opened = crypto::RootKey::Unwrap(provider, *parsed);
        if (opened.has_value() && SameFingerprint(Fingerprint(**opened), fingerprint)) {
          now = std::move(*parsed);
          return Status::Ok();
        }
      }
    }
    COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, root->WrapWith(provider));
    // Prove the new copy opens before it replaces the old one.
    COFFRE_RETURN_IF_ERROR(crypto::RootKey::Unwrap(provider, wrapped).status());
    txn.Put(kRootKeyRow, AsBytes(crypto::SerializeWrappedKey(wrapped)));
    now = std::move(wrapped);
    return Status::Ok();
  }, /*sync=*/true);
  root.reset();  // if Lock() ran meanwhile, the root key goes now
  COFFRE_RETURN_IF_ERROR(done);
  std::unique_lock<std::shared_mutex> lock(mu_);
  wrapped_ = std::move(now);
  return Status::Ok();
}

crypto::WrappedKey HubKeys::wrapped_root() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return wrapped_;
}

}  // namespace coffre::hub
