// Fuzzes the hub's HTTPS routes end to end below TLS, in process over a hub in a temporary
// directory wired as coffre-hub wires it (service-managed keys): the throttle, the encryption
// API, key events, the service (registry), read and device APIs, in main's order. Input layout:
// byte 0 picks the credential (none, iothubowner, the "service" policy, device d1's SAS, a forged
// signature, a valid key-events signature of the body), then "METHOD\nTARGET\n", header lines
// "Name: value\n", an empty line, and the body. Every answer must be a status 200-599 and, when
// it fails, an IoT Hub error body ({"Message": "ErrorCode:...", ...}); a client's input is never
// answered with a 500. A request ending the process is what this looks for.
// Run with the dictionary and the suppressions of OpenSSL's per-thread DRBGs (the telemetry
// writer threads keep theirs until exit):
//   LSAN_OPTIONS=suppressions=tests/lsan.supp build/fuzz/fuzz/hub_routes_fuzz
//       -dict=fuzz/hub_routes_fuzz.dict -max_total_time=300 CORPUS_DIR
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"
#include "crypto/secure_heap.h"
#include "crypto/webhook_signature.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/device_auth.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/registry.h"
#include "hub/sas_token.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"
#include "hubapi/device_api.h"
#include "hubapi/encryption_api.h"
#include "hubapi/http_throttle.h"
#include "hubapi/key_events_api.h"
#include "hubapi/read_api.h"
#include "hubapi/service_api.h"
#include "storage/rocks_kv_store.h"

using namespace coffre;
using nlohmann::json;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t NowS() { return NowMs() / 1000; }

template <typename T>
T Must(Result<T> r) {
  COFFRE_CHECK(r.has_value());
  return std::move(*r);
}

struct Hub {
  Hub() {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    char tmpl[] = "/tmp/coffre-fuzz-hub-XXXXXX";
    dir = ::mkdtemp(tmpl);
    service_key = Must(crypto::SecretBytes::Random(32));
    kv = Must(storage::RocksKvStore::Open(dir / "meta", {nullptr, &service_key}));
    std::filesystem::path secret_file = dir / "key-events-secret";
    COFFRE_CHECK(WriteFileDurably(secret_file, AsBytes(std::string("fuzz-secret")), 0600).ok());
    hub::EncryptionSettings initial;
    initial.key_events_secret_file = secret_file.string();
    config = Must(hub::EncryptionConfig::Load(*kv, initial));
    // No vault: a customer key the input turns on fails at its provider, as an unreachable
    // vault would (coffre-hub's vault client is built in apps/).
    custody = std::make_unique<hub::KeyCustody>(
        *config, service_key, dir,
        [](const hub::EncryptionSettings&,
           std::chrono::milliseconds) -> Result<std::shared_ptr<crypto::KeyProvider>> {
          return Unavailable("the fuzzer has no vault");
        });
    Status locked;
    keys = Must(custody->Open(*kv, &locked));
    registry = std::make_unique<hub::Registry>(*kv, *keys, SystemClock());
    hub::TelemetryStoreOptions telemetry;
    telemetry.hub_name = "localhost";
    telemetry.partitions = 2;
    telemetry.log.service_key = &service_key;
    store = Must(hub::TelemetryStore::Open(dir / "telemetry", *keys, telemetry));
    ingest = std::make_unique<hub::TelemetryIngest>(*store);
    auth = std::make_unique<hub::DeviceAuthenticator>(*registry, std::vector<std::string>{"localhost"}, SystemClock());
    policies = Must(hub::AccessPolicies::Open(*kv, *keys, {"localhost"}, SystemClock()));
    groups = Must(hub::ConsumerGroups::Open(*kv, *keys, 2, SystemClock()));
    monitor = std::make_unique<hub::KeyMonitor>(*keys, custody->checker(), hub::KeyMonitorOptions{},
                                                nullptr);
    monitor->CheckNow();  // not started: no thread, the status is that of this one check
    // Each input comes a whole hour after the last: buckets start full, so runs stay
    // reproducible input by input; the limiter's code still runs on every request.
    throttle = std::make_unique<hubapi::HttpThrottle>(hubapi::HttpThrottleOptions{}, [this] {
      return std::chrono::steady_clock::time_point(std::chrono::hours(++ticks));
    });
    service_api = std::make_unique<hubapi::ServiceApi>(*registry, *policies);
    service_api->set_throttle(throttle.get());
    read_api = std::make_unique<hubapi::ReadApi>(*store, *groups, *policies);
    device_api = std::make_unique<hubapi::DeviceApi>(*auth, *ingest);
    encryption_api = std::make_unique<hubapi::EncryptionApi>(*monitor, *config, *custody, *keys, *policies);
    key_events_api = std::make_unique<hubapi::KeyEventsApi>(*monitor, *config, SystemClock());

    hub::DeviceIdentity d1;
    d1.device_id = "d1";
    d1 = Must(registry->Create(d1));
    int64_t expiry = NowS() + 365 * 86400;
    auto policy_token = [&](const std::string& name) {
      auto key = Must(crypto::SecretBytes::CopyOf(Must(Base64Decode(Must(policies->Get(name)).primary_key))));
      return Must(hub::MakeSasToken("localhost", key, expiry, name));
    };
    owner_token = policy_token("iothubowner");
    service_token = policy_token("service");
    auto device_key = Must(crypto::SecretBytes::CopyOf(Must(Base64Decode(d1.primary_key))));
    device_token = Must(hub::MakeSasToken("localhost/devices/d1", device_key, expiry));
  }
  ~Hub() {
    ingest->Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // main's route order.
  net::HttpResponse Route(const net::HttpRequest& r) {
    if (auto throttled = throttle->RefuseSource(r)) return *throttled;
    net::HttpResponse response = [&] {
      if (auto answer = encryption_api->Handle(r)) return *answer;
      if (auto answer = key_events_api->Handle(r)) return *answer;
      if (auto refusal = encryption_api->RefuseIfInaccessible()) return *refusal;
      if (auto answer = service_api->Handle(r)) return *answer;
      // The read and device APIs may answer later, from another thread (a durable send).
      std::promise<net::HttpResponse> later;
      std::future<net::HttpResponse> answer = later.get_future();
      net::HttpResponder respond([&later](net::HttpResponse out) { later.set_value(std::move(out)); });
      if (read_api->Handle(r, respond) || device_api->Handle(r, respond)) {
        COFFRE_CHECK(answer.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
        return answer.get();
      }
      return hubapi::ServiceApi::Error(404, "NotFound", "No such path: " + r.target);
    }();
    throttle->Observe(r, response);
    return response;
  }

  std::string KeyEventsSignature(const std::string& body) {
    Result<std::string> secret = ReadTextFile(config->Get().key_events_secret_file);
    if (!secret.has_value()) return "";
    auto key = crypto::SecretBytes::CopyOf(AsBytes(*secret));
    if (!key.has_value()) return "";
    return crypto::SignWebhook(*key, NowS(), body).value_or("");
  }

  int64_t ticks = 0;
  std::filesystem::path dir;
  crypto::SecretBytes service_key;
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<hub::EncryptionConfig> config;
  std::unique_ptr<hub::KeyCustody> custody;
  std::unique_ptr<hub::HubKeys> keys;
  std::unique_ptr<hub::Registry> registry;
  std::unique_ptr<hub::TelemetryStore> store;
  std::unique_ptr<hub::TelemetryIngest> ingest;
  std::unique_ptr<hub::DeviceAuthenticator> auth;
  std::unique_ptr<hub::AccessPolicies> policies;
  std::unique_ptr<hub::ConsumerGroups> groups;
  std::unique_ptr<hub::KeyMonitor> monitor;
  std::unique_ptr<hubapi::HttpThrottle> throttle;
  std::unique_ptr<hubapi::ServiceApi> service_api;
  std::unique_ptr<hubapi::ReadApi> read_api;
  std::unique_ptr<hubapi::DeviceApi> device_api;
  std::unique_ptr<hubapi::EncryptionApi> encryption_api;
  std::unique_ptr<hubapi::KeyEventsApi> key_events_api;
  std::string owner_token, service_token, device_token;
};

// "METHOD\nTARGET\n(Name: value\n)*\nBODY"; a missing part is empty.
net::HttpRequest Decode(std::string_view in) {
  net::HttpRequest r;
  auto line = [&in]() {
    size_t end = in.find('\n');
    std::string_view l = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);
    return std::string(l);
  };
  r.method = line();
  r.target = line();
  while (!in.empty()) {
    std::string header = line();
    if (header.empty()) break;
    size_t colon = header.find(':');
    std::string value = colon == std::string::npos ? "" : header.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    r.headers.emplace_back(header.substr(0, colon), value);
  }
  r.body = std::string(in);
  r.remote_address = "127.0.0.1";
  return r;
}

// A long poll only sleeps (up to 10 s an input): its parsing is what matters here.
bool LongPoll(const net::HttpRequest& r) {
  std::optional<std::string> wait = r.Query("waitMs");
  if (!wait || wait->empty()) return false;
  char* end = nullptr;
  long long v = std::strtoll(wait->c_str(), &end, 10);
  return *end == '\0' && v > 0 && v <= 10000;
}

// A key URI the hub would accept is pointed at a closed loopback port: the route runs to the
// vault call, which fails at once, and the fuzzer never resolves or reaches another host.
void KeepVaultLocal(net::HttpRequest& r) {
  if (r.body.find("keyUri") == std::string::npos) return;
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("keyUri") || !j["keyUri"].is_string() ||
      j["keyUri"].get_ref<const std::string&>().empty()) {
    return;
  }
  j["keyUri"] = "https://127.0.0.1:1/keys/fuzz";
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Hub* hub = [] {  // one hub for the whole run; its directory goes at exit
    static Hub* h = new Hub();
    std::atexit([] { h->ingest->Stop(); std::error_code ec; std::filesystem::remove_all(h->dir, ec); });
    return h;
  }();
  if (size == 0) return 0;
  net::HttpRequest r = Decode(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (LongPoll(r)) return 0;
  KeepVaultLocal(r);
  switch (data[0] % 6) {
    case 0: break;
    case 1: r.headers.emplace_back("Authorization", hub->owner_token); break;
    case 2: r.headers.emplace_back("Authorization", hub->service_token); break;
    case 3: r.headers.emplace_back("Authorization", hub->device_token); break;
    case 4:
      r.headers.emplace_back("Authorization",
                             "SharedAccessSignature sr=localhost&sig=Zm9yZ2Vk&se=9999999999&skn=iothubowner");
      break;
    default:
      r.headers.emplace_back(std::string(crypto::kWebhookSignatureHeader), hub->KeyEventsSignature(r.body));
  }
  net::HttpResponse response = hub->Route(r);
  COFFRE_CHECK(response.status >= 200 && response.status < 600);
  if (response.status >= 400) {
    json j = json::parse(response.body, nullptr, false);
    COFFRE_CHECK(j.is_object() && j.contains("Message") && j["Message"].is_string());
    COFFRE_CHECK(j["Message"].get_ref<const std::string&>().rfind("ErrorCode:", 0) == 0);
    COFFRE_CHECK(response.status != 500);  // a client's mistake is never a server fault
  }
  // Keep the registry small (GET /devices and statistics walk it): a device the input made
  // goes again, d1 stays.
  if (r.method == "PUT" && response.status == 200) {
    json j = json::parse(response.body, nullptr, false);
    if (j.is_object() && j.contains("deviceId") && j["deviceId"].is_string() && j["deviceId"] != "d1") {
      (void)hub->registry->Delete(j["deviceId"].get<std::string>(), "");
    }
  }
  return 0;
}
