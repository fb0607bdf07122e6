#include "storage/rocks_encryption.h"

#include <rocksdb/env_encryption.h>

#include <cstring>

#include "storage/file_cipher.h"

namespace coffre::storage {
namespace {

constexpr size_t kPrefixBytes = 4096;

rocksdb::Status ToRocks(const Status& s) {
  if (s.ok()) return rocksdb::Status::OK();
  if (s.code() == StatusCode::kPermissionDenied) return rocksdb::Status::NotSupported(s.message());
  if (s.code() == StatusCode::kDataLoss) return rocksdb::Status::Corruption(s.message());
  return rocksdb::Status::IOError(s.message());
}

class CipherStream : public rocksdb::BlockAccessCipherStream {
 public:
  explicit CipherStream(std::unique_ptr<FileCipher> cipher) : cipher_(std::move(cipher)) {}
  size_t BlockSize() override { return 16; }
  rocksdb::Status Encrypt(uint64_t offset, char* data, size_t size) override {
    return ToRocks(cipher_->Apply(offset, {reinterpret_cast<std::byte*>(data), size}));
  }
  rocksdb::Status Decrypt(uint64_t offset, char* data, size_t size) override {
    return Encrypt(offset, data, size);  // CTR: the same XOR
  }

 protected:
  void AllocateScratch(std::string&) override {}
  rocksdb::Status EncryptBlock(uint64_t block, char* data, char*) override {
    return Encrypt(block * 16, data, 16);
  }
  rocksdb::Status DecryptBlock(uint64_t block, char* data, char*) override {
    return Encrypt(block * 16, data, 16);
  }

 private:
  std::unique_ptr<FileCipher> cipher_;
};

class Provider : public rocksdb::EncryptionProvider {
 public:
  explicit Provider(crypto::SecretBytes key) : key_(std::move(key)) {}
  const char* Name() const override { return "CoffreFileCipher"; }
  size_t GetPrefixLength() const override { return kPrefixBytes; }

  rocksdb::Status CreateNewPrefix(const std::string&, char* prefix, size_t length) const override {
    if (length < kFileCipherHeaderBytes) return rocksdb::Status::InvalidArgument("prefix too small");
    std::memset(prefix, 0, length);
    auto cipher = FileCipher::CreateNew(key_, {reinterpret_cast<std::byte*>(prefix), length});
    return ToRocks(cipher.status());
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    return rocksdb::Status::NotSupported("the service key is fixed when the store opens");
  }

  rocksdb::Status CreateCipherStream(
      const std::string& fname, const rocksdb::EnvOptions&, rocksdb::Slice& prefix,
      std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    auto cipher = FileCipher::FromHeader(
        key_, {reinterpret_cast<const std::byte*>(prefix.data()), prefix.size()});
    if (!cipher.has_value()) return ToRocks(cipher.error().WithContext(fname));
    *result = std::make_unique<CipherStream>(std::move(*cipher));
    return rocksdb::Status::OK();
  }

 private:
  crypto::SecretBytes key_;
};

}  // namespace

std::shared_ptr<rocksdb::EncryptionProvider> NewFileCipherProvider(
    const crypto::SecretBytes& service_key) {
  return std::make_shared<Provider>(std::move(service_key.Clone().value()));
}

}  // namespace coffre::storage
