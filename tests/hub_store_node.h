#pragma once
// HubStoreNode: one hub node's sealed metadata over a cluster store in a test: its PgStoreNode
// (pool, row cipher, store), its HubKeys with a digest shard of its own (`node_id`), and its
// SealedRows over them, as cluster mode gives each node.

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "crypto/key_provider.h"
#include "hub/hub_keys.h"
#include "hub/sealed_rows.h"
#include "pg_store_node.h"

namespace coffre::testing {

struct HubStoreNode : PgStoreNode {
  HubStoreNode(const std::string& conninfo, const crypto::SecretBytes& service_key,
               crypto::KeyProvider& provider, const std::string& node_id)
      : PgStoreNode(conninfo, service_key) {
    auto opened = hub::HubKeys::Open(*kv, provider);
    EXPECT_TRUE(opened.has_value()) << opened.error().message();
    keys = std::move(opened.value());
    keys->row_digests().UseShard(node_id);
    rows = std::make_unique<hub::SealedRows>(*kv, *keys);
  }
  std::unique_ptr<hub::HubKeys> keys;
  std::unique_ptr<hub::SealedRows> rows;
};

}  // namespace coffre::testing
