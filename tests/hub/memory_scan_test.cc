// After Inaccessible, no trace of a key remains in the hub's process. A real stack (`coffre up`:
// coffre-vault and coffre-hub) stores telemetry over the HTTPS device API; the customer key is
// disabled; once the hub reports Inaccessible, every readable mapped page of coffre-hub is read
// through /proc/PID/mem (a core dump would miss pages excluded from dumps). Then the test works
// out, from the stopped hub's files, the service key and the vault, what it must not find: the
// root key and every data key (raw, base64, base64url, hex), each data key's GHASH key
// (AES_K(0^128)), the device's primary key, and the last telemetry body.
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/daemon.h"
#include "common/encoding.h"
#include "crypto/root_key.h"
#include "hub/sas_token.h"
#include "keys/vault_key_provider.h"
#include "net/https_client.h"
#include "storage/file_cipher.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre {
namespace {

using nlohmann::json;

std::string Bin(const char* name) { return std::string(COFFRE_BIN_DIR) + "/" + name; }

int Shell(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

struct Region {
  std::string line;  // the maps line
  uint64_t start = 0;
  std::string bytes;
};

// Every readable mapping of `pid`, as it is now.
Result<std::vector<Region>> Snapshot(int pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::ifstream mem("/proc/" + std::to_string(pid) + "/mem", std::ios::binary);
  if (!maps || !mem) return PermissionDenied("cannot read the hub's memory (needs root or ptrace)");
  std::vector<Region> out;
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.empty() || perms[0] != 'r' || line.find("[vvar]") != std::string::npos) continue;
    size_t dash = range.find('-');
    uint64_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    // Terabyte-sized reservations (a sanitizer's shadow memory) are not the hub's data.
    if (end - start > (uint64_t{1} << 30)) continue;
    Region r{line, start, std::string(end - start, '\0')};
    mem.clear();
    mem.seekg(static_cast<std::streamoff>(start));
    mem.read(r.bytes.data(), static_cast<std::streamsize>(r.bytes.size()));
    if (mem.gcount() <= 0) continue;
    r.bytes.resize(static_cast<size_t>(mem.gcount()));
    out.push_back(std::move(r));
  }
  if (out.empty()) return PermissionDenied("no readable mapping of the hub");
  return out;
}

struct Needle {
  std::string what;
  std::string bytes;
};

void AddKeyForms(std::vector<Needle>& needles, const std::string& what, ByteSpan key) {
  std::string hex = HexEncode(key);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string b64 = Base64Encode(key), b64url = Base64UrlEncode(key);
  needles.push_back({what + " (raw)", std::string(AsChars(key))});
  needles.push_back({what + " (hex)", hex});
  needles.push_back({what + " (HEX)", upper});
  needles.push_back({what + " (base64)", b64.substr(0, 40)});  // padding and line breaks aside
  needles.push_back({what + " (base64url)", b64url.substr(0, 40)});
}

Bytes GhashKey(ByteSpan data_key) {
  Bytes h(16), zero(16);
  int len = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), nullptr, reinterpret_cast<const unsigned char*>(data_key.data()), nullptr);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(h.data()), &len,
                    reinterpret_cast<const unsigned char*>(zero.data()), 16);
  EVP_CIPHER_CTX_free(ctx);
  return h;
}

TEST(MemoryScanTest, AfterInaccessibleNoKeyDeviceKeyOrBodyRemainsInTheHubProcess) {
  testing::TempDir dir;
  std::string stack = (dir.path() / "stack").string();
  std::mt19937 rng(std::random_device{}());
  // Below Linux's ephemeral ports (32768 on), which clients' source ports take.
  int ports_from = 20000 + static_cast<int>(rng() % 12000);
  ASSERT_EQ(Shell(Bin("coffre") + " up --dir " + stack + " --ports-from " + std::to_string(ports_from)), 0);
  struct Down {
    std::string stack;
    ~Down() { Shell(Bin("coffre") + " down --dir " + stack); }
  } down{stack};
  std::ifstream connection_file(stack + "/connection.json");
  json c = json::parse(connection_file);
  int hub_pid = c["pids"]["hub"];
  std::string device_cs = c["device_connection_string"];
  std::string device_key = device_cs.substr(device_cs.find("SharedAccessKey=") + 16);
  device_key = device_key.substr(0, device_key.find(';'));

  // Telemetry over the HTTPS device API, each body unique; the connection is closed after.
  std::string last_body;
  {
    net::HttpsClientOptions o;
    o.origin = *net::ParseOrigin("https://localhost:" + std::to_string(c["https_port"].get<int>()));
    o.ca_file = c["ca_file"].get<std::string>();
    auto client = std::move(net::HttpsClient::Create(o).value());
    auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(device_key)).value());
    std::string token = *hub::MakeSasToken("localhost/devices/demo-device", key, std::time(nullptr) + 3600);
    for (int n = 0; n < 3; ++n) {
      last_body = "memscan-body-" + std::to_string(rng()) + "-" + std::to_string(n);
      auto r = client->Send("POST", "/devices/demo-device/messages/events?api-version=2021-04-12",
                            {{"Authorization", token}}, last_body);
      ASSERT_TRUE(r.has_value()) << r.status();
      ASSERT_EQ(r->status, 204u) << r->body;
    }
  }

  // And one over MQTT/TLS with the unmodified device SDK (its connection is closed after).
  std::string mqtt_body = "memscan-mqtt-" + std::to_string(rng());
  {
    std::string script =
        "const fs=require('fs');const {Client,Message}=require('azure-iot-device');"
        "const {Mqtt}=require('azure-iot-device-mqtt');(async()=>{"
        "const c=Client.fromConnectionString(process.argv[1],Mqtt);"
        "await c.setOptions({ca:fs.readFileSync(process.argv[2],'utf8')});await c.open();"
        "await c.sendEvent(new Message(process.argv[3]));await c.close();})()"
        ".catch(e=>{console.error(e);process.exit(1);});";
    std::string command = "NODE_PATH=" + std::string(COFFRE_COMPAT_DIR) + "/node_modules node -e \"" +
                          script + "\" '" + device_cs + "' '" + c["ca_file"].get<std::string>() + "' " +
                          mqtt_body;
    ASSERT_EQ(Shell(command), 0) << command;
  }

  // A control: while the key is usable, the same scan must find the root key, or it proves
  // nothing.
  Result<std::vector<Region>> before = Snapshot(hub_pid);
  if (!before.has_value()) GTEST_SKIP() << before.status();

  // The customer disables the key; the hub turns Inaccessible.
  ASSERT_EQ(Shell(Bin("coffre") + " vault key disable " + c["key_name"].get<std::string>() +
                " --dir " + stack), 0);
  bool inaccessible = false;
  for (int i = 0; i < 100 && !inaccessible; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    net::HttpsClientOptions o;
    o.origin = *net::ParseOrigin("https://localhost:" + std::to_string(c["https_port"].get<int>()));
    o.ca_file = c["ca_file"].get<std::string>();
    auto client = std::move(net::HttpsClient::Create(o).value());
    auto r = client->Send("GET", "/$coffre/encryption", {}, "");
    inaccessible = r.has_value() && json::parse(r->body, nullptr, false).value("state", "") == "Inaccessible";
  }
  ASSERT_TRUE(inaccessible);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // connections wind down
  Result<std::vector<Region>> memory = Snapshot(hub_pid);
  if (!memory.has_value()) GTEST_SKIP() << memory.status();

  // Now learn what must not be there: enable the key again, stop the hub, open its files.
  ASSERT_EQ(Shell(Bin("coffre") + " vault key enable " + c["key_name"].get<std::string>() +
                " --dir " + stack), 0);
  ::kill(hub_pid, SIGTERM);
  for (int i = 0; i < 200 && cli::ProcessAlive(hub_pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(cli::ProcessAlive(hub_pid));
  auto service_key = std::move(storage::LoadServiceKeyFile(stack + "/hub/service.key").value());
  auto kv = std::move(storage::RocksKvStore::Open(stack + "/hub/data/meta", {nullptr, &service_key}).value());
  auto wrapped = std::move(crypto::ParseWrappedKey(AsChars(kv->Get("keys/root").value())).value());
  keys::VaultKeyProviderOptions vo;
  vo.key_uri = c["vault_url"].get<std::string>() + "/keys/" + c["key_name"].get<std::string>();
  vo.ca_file = c["ca_file"].get<std::string>();
  vo.token = c["vault_token"].get<std::string>();
  auto vault = std::move(keys::VaultKeyProvider::Create(vo).value());
  auto root_bytes = std::move(vault->Unwrap(wrapped).value());
  auto root = std::move(crypto::RootKey::FromSecret(std::move(root_bytes.Clone().value())).value());

  std::vector<Needle> needles;
  AddKeyForms(needles, "the root key", root_bytes.Reveal());
  int data_keys = 0;
  COFFRE_ASSERT_OK(kv->Scan("dek/key/", [&](std::string_view row, ByteSpan value) {
    std::string id(row.substr(8));
    uint32_t scope = static_cast<uint32_t>(std::stoul(id.substr(0, id.find('/'))));
    uint64_t epoch = std::stoull(id.substr(id.find('/') + 1));
    auto key = root->UnwrapDataKey({scope, epoch}, value);
    EXPECT_TRUE(key.has_value()) << row;
    if (!key.has_value()) return true;
    std::string what = "data key " + id;
    AddKeyForms(needles, what, key->Reveal());
    Bytes h = GhashKey(key->Reveal());
    AddKeyForms(needles, "GHASH key of " + what, h);
    ++data_keys;
    return true;
  }));
  EXPECT_GE(data_keys, 2);  // the registry's and at least one partition's
  needles.push_back({"the device's primary key (base64)", device_key});
  Bytes device_raw = *Base64Decode(device_key);
  needles.push_back({"the device's primary key (raw)", std::string(AsChars(device_raw))});
  needles.push_back({"the last telemetry body (HTTPS)", last_body});
  needles.push_back({"the last telemetry body (MQTT)", mqtt_body});

  auto search = [&](const std::vector<Region>& snapshot) {
    std::vector<std::string> found;
    for (const Region& r : snapshot) {
      for (const Needle& n : needles) {
        size_t at = r.bytes.find(n.bytes);
        if (at != std::string::npos) {
          std::ostringstream where;
          where << n.what << " at 0x" << std::hex << (r.start + at) << " in " << r.line;
          found.push_back(where.str());
        }
      }
    }
    return found;
  };
  std::vector<std::string> control = search(*before);
  EXPECT_TRUE(std::any_of(control.begin(), control.end(), [](const std::string& f) {
    return f.rfind("the root key (raw)", 0) == 0;
  })) << "the scan did not find the root key while the hub used it";
  std::vector<std::string> found = search(*memory);
  size_t scanned = 0;
  for (const Region& r : *memory) scanned += r.bytes.size();
  std::cout << "scanned " << scanned / (1024 * 1024) << " MiB of coffre-hub in " << memory->size()
            << " mappings for " << needles.size() << " needles (" << data_keys << " data keys); "
            << "while the key was usable " << control.size() << " were found" << std::endl;
  EXPECT_TRUE(found.empty()) << [&] {
    std::string all;
    for (const auto& f : found) all += f + "\n";
    return all;
  }();
}

}  // namespace
}  // namespace coffre
