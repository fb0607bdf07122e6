// Fuzzes the hub's HTTPS routes end to end below TLS, in process: a whole hub
// (hubservice::HubService, service-managed keys, in a temporary directory) and its real
// dispatcher (HubService::HandleHttps, i.e. HubRoutes): the throttle, encryption, key events,
// registry, twins and direct methods, queries, C2D (device and service side, feedback), read and
// device APIs, and every route added to HubRoutes later, with no wiring here. Input layout:
// byte 0 picks the credential (none, iothubowner, the "service" policy, device d1's SAS, a forged
// signature, a valid key-events signature of the body), then "METHOD\nTARGET\n", header lines
// "Name: value\n", an empty line, and the body. Every answer must be a status 200-599 and, when
// it fails, an IoT Hub error body ({"Message": "ErrorCode:...", ...}); a client's input is never
// answered with a 500. A request ending the process is what this looks for.
// Run with the dictionary and the suppressions of OpenSSL's per-thread DRBGs (the hub's
// threads keep theirs until exit; full stacks, so that the suppressions match through libcrypto):
//   ASAN_OPTIONS=fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=tests/lsan.supp
//       build/fuzz/fuzz/hub_routes_fuzz -dict=fuzz/hub_routes_fuzz.dict -max_total_time=300
//       NEW_INPUTS_DIR fuzz/corpus/hub_routes_fuzz
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/encoding.h"
#include "common/files.h"
#include "crypto/secure_heap.h"
#include "crypto/webhook_signature.h"
#include "hub/sas_token.h"
#include "fuzz_hub.h"
#include "hubservice/hub_service.h"

using namespace coffre;
using nlohmann::json;

namespace {

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename T>
T Must(Result<T> r) {
  COFFRE_CHECK(r.has_value());
  return std::move(*r);
}

struct Hub {
  Hub() {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    hubservice::HubOptions o = fuzz::FuzzHubOptions("coffre-fuzz-hub", dir);
    secret_file = dir / "key-events-secret";
    COFFRE_CHECK(WriteFileDurably(secret_file, AsBytes(std::string("fuzz-secret")), 0600).ok());
    o.encryption.key_events_secret_file = secret_file.string();
    // The limiters' code runs on every request, but never refuses: runs stay reproducible
    // input by input.
    o.throttling.failed_auth_per_source = {1e12, 1e12};
    o.throttling.registry_operations = {1e12, 1e12};
    // No provider for customer keys: a key URI the input sets is refused before any vault
    // call, and the fuzzer never resolves or reaches another host.
    service = Must(hubservice::HubService::Start(std::move(o)));

    int64_t expiry = NowS() + 365 * 86400;
    auto policy_token = [&](const std::string& name) {
      auto key = Must(crypto::SecretBytes::CopyOf(
          Must(Base64Decode(Must(service->policies().Get(name)).primary_key))));
      return Must(hub::MakeSasToken("localhost", key, expiry, name));
    };
    owner_token = policy_token("iothubowner");
    service_token = policy_token("service");
    hub::DeviceIdentity d1 = Must(service->registry().Get("d1"));
    auto device_key = Must(crypto::SecretBytes::CopyOf(Must(Base64Decode(d1.primary_key))));
    device_token = Must(hub::MakeSasToken("localhost/devices/d1", device_key, expiry));
  }
  ~Hub() {
    service.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Through the hub's dispatcher; its answer may come later, from a worker thread.
  net::HttpResponse Route(net::HttpRequest r) {
    auto later = std::make_shared<std::promise<net::HttpResponse>>();
    std::future<net::HttpResponse> answer = later->get_future();
    service->HandleHttps(std::move(r), net::HttpResponder([later](net::HttpResponse out) {
                           later->set_value(std::move(out));
                         }));
    COFFRE_CHECK(answer.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return answer.get();
  }

  std::string KeyEventsSignature(const std::string& body) {
    Result<std::string> secret = ReadTextFile(service->config().Get().key_events_secret_file);
    if (!secret.has_value()) return "";
    auto key = crypto::SecretBytes::CopyOf(AsBytes(*secret));
    if (!key.has_value()) return "";
    return crypto::SignWebhook(*key, NowS(), body).value_or("");
  }

  std::filesystem::path dir, secret_file;
  std::unique_ptr<hubservice::HubService> service;
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

// No device is connected here: a direct method with a connect timeout would only wait for one
// to subscribe (up to 300 s an input). It waits for none; its parsing and checks still run.
void NoConnectWait(net::HttpRequest& r) {
  if (r.body.find("connectTimeoutInSeconds") == std::string::npos) return;
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) return;
  auto it = j.find("connectTimeoutInSeconds");
  if (it == j.end() || !it->is_number() || !(it->get<double>() > 0 && it->get<double>() <= 300)) {
    return;
  }
  *it = 0;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Hub* hub = fuzz::HubForTheRun<Hub>();
  if (size == 0) return 0;
  net::HttpRequest r = Decode(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (LongPoll(r)) return 0;
  NoConnectWait(r);
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
  net::HttpResponse response = hub->Route(r);  // r stays: its method decides the clean-up
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
      (void)hub->service->registry().Delete(j["deviceId"].get<std::string>(), "");
    }
  }
  return 0;
}
