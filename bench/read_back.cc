// read_back: how fast the read API returns retained telemetry (bench/compare_mosquitto.sh).
// Reads every partition of a hub from its oldest retained message to its end, one thread and
// one keep-alive HTTPS connection per partition (as an Event Hubs consumer reads), 1,000
// messages per request, and prints one JSON line: messages, body bytes, seconds, msgs/s, MB/s.
// The hub is named as the `coffre hub` commands name it (--dir of a `coffre up` stack).
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/hub_connection.h"
#include "crypto/secure_heap.h"

namespace {

using namespace coffre;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Totals {
  std::atomic<uint64_t> messages{0}, body_bytes{0};
  std::mutex mu;
  std::string error;
  void Fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (error.empty()) error = why;
  }
};

uint64_t Number(const json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_string()) return std::stoull(j.get<std::string>());
  return 0;
}

// Reads [begin, end) of one partition.
void ReadPartition(const cli::HubConnectionOptions& where, const std::string& partition,
                   uint64_t begin, uint64_t end, Totals& totals) {
  Result<cli::HubConnection> connection = cli::ResolveHubConnection(where);
  if (!connection.has_value()) return totals.Fail(connection.error().ToString());
  auto hub = cli::HubClient::Create(std::move(*connection));
  if (!hub.has_value()) return totals.Fail(hub.error().ToString());
  std::string path = "/telemetry/partitions/" + partition + "/messages";
  for (uint64_t next = begin; next < end;) {
    auto reply = (*hub)->Call("GET", path, nullptr, "from=" + std::to_string(next) + "&max=1000");
    if (!reply.has_value()) return totals.Fail(reply.error().ToString());
    const json& messages = (*reply)["messages"];
    if (!messages.is_array() || messages.empty()) return totals.Fail("no messages at " + std::to_string(next));
    uint64_t bytes = 0;
    for (const json& m : messages) bytes += m.value("body", std::string()).size();
    totals.messages += messages.size();
    totals.body_bytes += bytes;
    next = Number((*reply)["nextOffset"]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  cli::HubConnectionOptions where;
  CLI::App app{"read_back: read every retained telemetry message back through the read API"};
  app.add_option("--dir", where.dir, "a `coffre up` stack directory")->required();
  CLI11_PARSE(app, argc, argv);
  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "read_back: " << s << "\n";
    return 1;
  }
  Result<cli::HubConnection> connection = cli::ResolveHubConnection(where);
  if (!connection.has_value()) {
    std::cerr << "read_back: " << connection.error() << "\n";
    return 2;
  }
  auto hub = cli::HubClient::Create(std::move(*connection));
  if (!hub.has_value()) {
    std::cerr << "read_back: " << hub.error() << "\n";
    return 1;
  }
  auto partitions = (*hub)->Call("GET", "/telemetry/partitions");
  if (!partitions.has_value()) {
    std::cerr << "read_back: " << partitions.error() << "\n";
    return 1;
  }
  Totals totals;
  std::vector<std::thread> readers;
  auto start = Clock::now();
  for (const json& p : (*partitions)["partitions"]) {
    readers.emplace_back(ReadPartition, std::cref(where), p.value("id", std::string()),
                         Number(p["beginSequence"]), Number(p["endSequence"]), std::ref(totals));
  }
  for (auto& t : readers) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double rate = seconds > 0 ? static_cast<double>(totals.messages) / seconds : 0;
  std::printf("{\"messages\":%llu,\"body_bytes\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,"
              "\"mb_per_s\":%.2f,\"error\":\"%s\"}\n",
              static_cast<unsigned long long>(totals.messages.load()),
              static_cast<unsigned long long>(totals.body_bytes.load()), seconds, rate,
              seconds > 0 ? static_cast<double>(totals.body_bytes) / seconds / 1e6 : 0,
              totals.error.c_str());
  return totals.error.empty() ? 0 : 1;
}
