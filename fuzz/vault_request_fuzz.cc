// Fuzzes the vault's request handling end to end below TLS: routing, query decoding,
// authentication, JSON bodies, base64url, and the key operations they reach. Input layout:
// byte 0 picks the credential (none, the owner's token, garbage), then "METHOD\nTARGET\nBODY".
// Every answer must be a well-formed HTTP status with an Azure-shaped JSON error when it fails.
#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/clock.h"
#include "crypto/secure_heap.h"
#include "storage/rocks_kv_store.h"
#include "vault/api/access_control.h"
#include "vault/keys/key_vault.h"
#include "vault/api/rest_api.h"
#include "vault/seal/sealed_store.h"

using namespace coffre;

namespace {

struct Vault {
  Vault() {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    char tmpl[] = "/tmp/coffre-fuzz-vault-XXXXXX";
    dir = ::mkdtemp(tmpl);
    kv = std::move(storage::RocksKvStore::Open(dir / "db").value());
    auto master = std::move(crypto::SecretBytes::Random(32).value());
    backup = std::move(vault::KeyBackup::Create(master).value());
    store = std::move(vault::SealedStore::Open(*kv, std::move(master)).value());
    access = std::make_unique<vault::AccessControl>(*store);
    std::set<std::string> all(vault::AllKeyPermissions().begin(), vault::AllKeyPermissions().end());
    token = *access->SetPrincipal("owner", all, true, true).value().token;
    keys = std::make_unique<vault::KeyVault>(*store, vault::VaultSettings{}, clock,
                                             [this] { return kv->DestroyDeletedData(); });
    vault::CreateKeyRequest oct;
    oct.kty = "oct-HSM";
    COFFRE_CHECK(keys->Create("k", oct).has_value());
    api = std::make_unique<vault::RestApi>(*keys, *access,
                                           vault::RestApiOptions{"https://localhost:8443"},
                                           backup.get());
  }
  ~Vault() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path dir;
  ManualClock clock;  // 1'800'000'000 s, as a fixed vault time
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<vault::SealedStore> store;
  std::unique_ptr<vault::AccessControl> access;
  std::unique_ptr<vault::KeyVault> keys;
  std::unique_ptr<vault::KeyBackup> backup;
  std::unique_ptr<vault::RestApi> api;
  std::string token;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Vault* v = [] {  // one vault for the whole run; its directory goes at exit
    static Vault* created = new Vault();
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(created->dir, ec); });
    return created;
  }();
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  net::HttpRequest req;
  size_t a = in.find('\n');
  size_t b = a == std::string_view::npos ? a : in.find('\n', a + 1);
  req.method = std::string(in.substr(0, a));
  if (a != std::string_view::npos) req.target = std::string(in.substr(a + 1, b - a - 1));
  if (b != std::string_view::npos) req.body = std::string(in.substr(b + 1));
  switch (data[0] % 3) {
    case 0: break;
    case 1: req.headers.emplace_back("Authorization", "Bearer " + v->token); break;
    default: req.headers.emplace_back("Authorization", "Bearer cvt1.forged"); break;
  }
  net::HttpResponse r = v->api->Handle(req);
  COFFRE_CHECK(r.status >= 200 && r.status < 600);
  if (r.status >= 400) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    COFFRE_CHECK(j.is_object() && j.contains("error") && j["error"].contains("code"));
    COFFRE_CHECK(r.status != 500);  // a client mistake is never answered as a server fault
  }
  return 0;
}
