// A key version acknowledged to a client survives a power loss that drops every unsynced byte.
#include <rocksdb/env.h>

#include <gtest/gtest.h>

#include "fakes/crash_file_system.h"
#include "common/clock.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"
#include "vault/keys/key_vault.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {
namespace {

using testing::CrashFileSystem;

struct OpenVault {
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<SealedStore> store;
  std::unique_ptr<KeyVault> vault;
};

OpenVault Open(const std::filesystem::path& dir, const crypto::SecretBytes& master,
               rocksdb::Env* env) {
  OpenVault v;
  v.kv = std::move(storage::RocksKvStore::Open(dir, {env, nullptr}).value());
  v.store = std::move(SealedStore::Open(*v.kv, std::move(master.Clone().value())).value());
  static ManualClock clock;
  v.vault = std::make_unique<KeyVault>(*v.store, VaultSettings{}, clock, nullptr);
  return v;
}

TEST(VaultCrashTest, AcknowledgedKeyVersionsSurvivePowerLoss) {
  testing::TempDir dir;
  auto master = std::move(crypto::SecretBytes::Random(32).value());
  auto fs = std::make_shared<CrashFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);

  std::string v1, v2;
  Bytes wrapped;
  {
    OpenVault v = Open(dir.path() / "db", master, env.get());
    CreateKeyRequest rsa{"RSA", 2048, {}, {}, {}, {}};
    v1 = std::move(v.vault->Create("cmk", rsa).value()).version;
    v2 = std::move(v.vault->Rotate("cmk").value()).version;
    wrapped = std::move(v.vault->Operate("cmk", v1, "wrapKey", "RSA-OAEP-256", Bytes(32)).value()).value;
    // A write nobody was promised: it must not survive, or the test could not tell.
    COFFRE_ASSERT_OK(v.kv->Put("probe/unsynced", AsBytes("x"), /*sync=*/false));
    ASSERT_GT(fs->unsynced_bytes(), 0u);
    fs->Freeze();  // the power goes out: nothing more reaches the disk
  }
  fs->Crash();

  OpenVault after = Open(dir.path() / "db", master, nullptr);
  EXPECT_EQ(after.kv->Get("probe/unsynced").status().code(), StatusCode::kNotFound);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto versions, after.vault->ListVersions("cmk"));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, v1);
  EXPECT_EQ(versions[1].version, v2);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto back,
                              after.vault->Operate("cmk", v1, "unwrapKey", "RSA-OAEP-256", wrapped));
  EXPECT_EQ(back.value, Bytes(32));
}

}  // namespace
}  // namespace coffre::vault
