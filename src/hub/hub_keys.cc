#include "hub/hub_keys.h"

namespace coffre::hub {
namespace {

constexpr const char* kRootRecord = "keys/root";

}  // namespace

HubKeys::HubKeys(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root,
                 crypto::WrappedKey wrapped)
    : data_keys_(std::make_unique<storage::KvDataKeyStore>(kv)),
      root_(std::move(root)),
      reader_(std::make_unique<crypto::EnvelopeReader>(*root_, *data_keys_)),
      wrapped_(std::move(wrapped)) {}

Result<std::unique_ptr<HubKeys>> HubKeys::Open(storage::KvStore& kv,
                                               crypto::KeyProvider& provider) {
  Result<Bytes> stored = kv.Get(kRootRecord);
  if (stored.has_value()) {
    COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, crypto::ParseWrappedKey(AsChars(*stored)));
    COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::Unwrap(provider, wrapped));
    return std::unique_ptr<HubKeys>(new HubKeys(kv, std::move(root), std::move(wrapped)));
  }
  if (stored.error().code() != StatusCode::kNotFound) return stored.error();
  // A new hub: the wrapped root key is durable before anything is sealed under it.
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::Generate());
  COFFRE_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, root->WrapWith(provider));
  std::string record = crypto::SerializeWrappedKey(wrapped);
  COFFRE_RETURN_IF_ERROR(kv.Put(kRootRecord, AsBytes(record), /*sync=*/true));
  return std::unique_ptr<HubKeys>(new HubKeys(kv, std::move(root), std::move(wrapped)));
}

Result<std::unique_ptr<crypto::EnvelopeWriter>> HubKeys::StartWriter(uint32_t scope) {
  return crypto::EnvelopeWriter::Start(scope, *root_, *data_keys_);
}

}  // namespace coffre::hub
