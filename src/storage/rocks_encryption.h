#pragma once
// The file cipher as RocksDB's EncryptionProvider: every RocksDB file (WAL, tables, manifest)
// starts with a 4 KiB prefix holding the FileCipher header, and its content is AES-256-CTR
// under that file's key. Not RocksDB's sample CTR provider: ours is AES through OpenSSL with a
// per-file key wrapped under the service key.

#include <memory>

#include "crypto/secret_bytes.h"

namespace rocksdb {
class EncryptionProvider;
}

namespace coffre::storage {

// service_key is copied into the provider.
std::shared_ptr<rocksdb::EncryptionProvider> NewFileCipherProvider(
    const crypto::SecretBytes& service_key);

}  // namespace coffre::storage
