#pragma once
// PgStoreNode: one hub node's view of a cluster store in a test, as cluster mode gives each
// node: a pool of its own, a row cipher of its own (the shared service key, its own salt) and
// the metadata store over them, on the test's PostgreSQL (pg_server.h).

#include <memory>
#include <string>

#include "crypto/secret_bytes.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"

namespace coffre::testing {

struct PgStoreNode {
  PgStoreNode(const std::string& conninfo, const crypto::SecretBytes& service_key)
      : pool(std::move(pgstore::PgPool::Connect({conninfo, 4}).value())),
        cipher(std::move(pgstore::PgRowCipher::Create(service_key).value())),
        kv(std::move(pgstore::PgKvStore::Open(*pool, *cipher).value())) {}
  std::unique_ptr<pgstore::PgPool> pool;
  std::unique_ptr<pgstore::PgRowCipher> cipher;
  std::unique_ptr<pgstore::PgKvStore> kv;
};

}  // namespace coffre::testing
