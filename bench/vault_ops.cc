// vault_ops: wrapKey / unwrapKey requests per second against a vault speaking the Azure Key
// Vault keys API (coffre-vault), over HTTPS keep-alive: --connections threads, one connection
// each, each request a fresh 32-byte value (wrapKey) or the same wrapped one (unwrapKey, wrapped
// once first). Bounded by --count requests and --seconds. Prints one JSON line: requests,
// seconds, requests/s, latency p50/p99, and the tool's own CPU. Loopback vaults only.
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/strings.h"
#include "crypto/random.h"
#include "crypto/secure_heap.h"
#include "keys/vault_http_client.h"

namespace {

using namespace coffre;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string vault_url, ca_file, token_file, key, alg = "RSA-OAEP-256", op = "wrapKey";
  int connections = 2;
  uint64_t count = 10000;
  double seconds = 10;
};

struct Run {
  std::atomic<uint64_t> issued{0};
  Clock::time_point deadline;
  std::mutex mu;
  std::vector<uint32_t> latencies_us;
  std::string error;
  void Fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (error.empty()) error = why;
  }
};

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

Result<std::unique_ptr<keys::VaultHttpClient>> Connect(const Options& o, const std::string& token) {
  return keys::VaultHttpClient::Create(o.vault_url, o.ca_file, token);
}

// One wrapKey or unwrapKey call; the reply's value.
Result<std::string> Call(keys::VaultHttpClient& vault, const Options& o, const std::string& op,
                         const std::string& value) {
  json body = {{"alg", o.alg}, {"value", value}};
  COFFRE_ASSIGN_OR_RETURN(keys::VaultReply reply,
                          vault.Call("POST", "/keys/" + o.key + "/" + op, &body));
  COFFRE_RETURN_IF_ERROR(keys::VaultHttpClient::ToStatus(reply));
  if (!reply.body.is_object() || !reply.body.contains("value")) {
    return Internal(op + ": no value in the vault's reply");
  }
  return reply.body["value"].get<std::string>();
}

void Worker(const Options& o, const std::string& token, const std::string& wrapped, Run& run) {
  auto vault = Connect(o, token);
  if (!vault.has_value()) return run.Fail(vault.error().ToString());
  std::vector<uint32_t> latencies;
  Bytes plain(32);
  while (run.issued++ < o.count && Clock::now() < run.deadline) {
    std::string value = wrapped;
    if (o.op == "wrapKey") {
      if (Status s = crypto::RandomBytes(plain); !s.ok()) return run.Fail(s.ToString());
      value = Base64UrlEncode(plain);
    }
    auto t0 = Clock::now();
    Result<std::string> out = Call(**vault, o, o.op, value);
    if (!out.has_value()) return run.Fail(out.error().ToString());
    latencies.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
  }
  std::lock_guard lock(run.mu);
  run.latencies_us.insert(run.latencies_us.end(), latencies.begin(), latencies.end());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"vault_ops: wrapKey/unwrapKey requests per second against a loopback vault"};
  app.add_option("--vault-url", o.vault_url, "https://localhost:PORT")->required();
  app.add_option("--ca-file", o.ca_file, "the vault's CA")->required();
  app.add_option("--token-file", o.token_file, "a principal's token with wrapKey/unwrapKey")->required();
  app.add_option("--key", o.key, "key name")->required();
  app.add_option("--alg", o.alg, "RSA-OAEP-256, RSA-OAEP, RSA1_5 or A256KW");
  app.add_option("--op", o.op)->check(CLI::IsMember({"wrapKey", "unwrapKey"}));
  app.add_option("--connections", o.connections)->check(CLI::Range(1, 64));
  app.add_option("--count", o.count, "requests in all")->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}));
  app.add_option("--seconds", o.seconds, "time bound")->check(CLI::Range(0.1, 600.0));
  CLI11_PARSE(app, argc, argv);
  if (!o.vault_url.starts_with("https://localhost:") && !o.vault_url.starts_with("https://127.0.0.1:")) {
    std::cerr << "vault_ops: loopback vaults only (https://localhost:PORT or https://127.0.0.1:PORT)\n";
    return 2;
  }
  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "vault_ops: " << s << "\n";
    return 1;
  }
  std::ifstream in(o.token_file);
  std::stringstream text;
  text << in.rdbuf();
  std::string token(TrimEnd(text.str()));
  if (token.empty()) {
    std::cerr << "vault_ops: no token in " << o.token_file << "\n";
    return 2;
  }

  // unwrapKey: one value wrapped first, unwrapped by every request.
  std::string wrapped;
  if (o.op == "unwrapKey") {
    auto vault = Connect(o, token);
    Bytes plain(32);
    Result<std::string> w = vault.has_value() ? Call(**vault, o, "wrapKey", Base64UrlEncode(plain))
                                              : Result<std::string>(vault.error());
    if (!w.has_value()) {
      std::cerr << "vault_ops: wrapping the value to unwrap: " << w.error() << "\n";
      return 1;
    }
    wrapped = *w;
  }

  Run run;
  double cpu0 = CpuSeconds();
  auto start = Clock::now();
  run.deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> workers;
  for (int i = 0; i < o.connections; ++i) {
    workers.emplace_back(Worker, std::cref(o), std::cref(token), std::cref(wrapped), std::ref(run));
  }
  for (auto& t : workers) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto& l = run.latencies_us;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> double {
    if (l.empty()) return 0;
    return l[std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())))] / 1000.0;
  };
  std::printf("{\"requests\":%zu,\"seconds\":%.3f,\"requests_per_s\":%.0f,\"p50_ms\":%.3f,"
              "\"p99_ms\":%.3f,\"tool_cpu_s\":%.3f,\"error\":\"%s\"}\n",
              l.size(), seconds, seconds > 0 ? static_cast<double>(l.size()) / seconds : 0,
              pct(0.5), pct(0.99), CpuSeconds() - cpu0, run.error.c_str());
  return run.error.empty() && !l.empty() ? 0 : 1;
}
