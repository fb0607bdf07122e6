#pragma once
// ExpectKeysListAPrefix: KvTxn::Keys on a store, the same check for each engine
// (tests/storage/kv_transact_test.cc: RocksDB; tests/pgstore/pg_store_test.cc: PostgreSQL).
// Keys lists a prefix as the transaction sees it (stored rows, its own puts and deletes) and
// reads the values with it: a row removed behind the transaction's back after the listing (no
// lock taken) still reads as listed.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/kv_store.h"
#include "test_util.h"

namespace coffre::testing {

inline void ExpectKeysListAPrefix(storage::KvStore& kv) {
  for (const char* key : {"p/a", "p/b", "p/c", "pq", "q/a"}) COFFRE_ASSERT_OK(kv.Put(key, AsBytes(key), false));
  COFFRE_EXPECT_OK(kv.Transact({"p/"}, [&](storage::KvTxn& txn) -> Status {
    txn.Delete("p/b");
    txn.Put("p/d", AsBytes("new"));
    txn.Put("p/a", AsBytes("changed"));
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> keys, txn.Keys("p/"));
    EXPECT_EQ(keys, (std::vector<std::string>{"p/a", "p/c", "p/d"}));
    txn.Put("p/b", AsBytes("back"));
    EXPECT_EQ(txn.Keys("p/").value().size(), 4u);
    EXPECT_TRUE(txn.Keys("r/").value().empty());
    COFFRE_RETURN_IF_ERROR(kv.Delete("p/c", false));
    EXPECT_EQ(AsChars(txn.Get("p/c").value()), "p/c");
    EXPECT_EQ(AsChars(txn.Get("p/a").value()), "changed");
    return Status::Ok();
  }, true));
  EXPECT_EQ(AsChars(kv.Get("p/b").value()), "back");
  EXPECT_EQ(AsChars(kv.Get("p/d").value()), "new");
  EXPECT_THAT(kv.Get("p/c").status(), StatusIs(StatusCode::kNotFound));
}

}  // namespace coffre::testing
