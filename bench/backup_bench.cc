// How long `coffre hub backup` and `coffre hub restore` take (docs/BENCHMARKS.md, "Backup and
// restore"): an in-process hub is filled with --records records of --payload bytes from
// --devices devices, backed up while it runs (HubBackups, as POST /$coffre/backups), and
// restored into a new directory (HubService with restore_from, as coffre-hub --restore-from).
// Beside it, the reference: tar of the same data directory into a file, and its extraction.
// Loopback only: the hub's ports are bound to 127.0.0.1 and not used.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "crypto/secure_heap.h"
#include "hubservice/hub_service.h"
#include "net/certificates.h"

using namespace coffre;
namespace fs = std::filesystem;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Runs a shell command; its wall time in seconds.
double Timed(const std::string& command) {
  auto start = std::chrono::steady_clock::now();
  int rc = std::system(command.c_str());
  if (rc != 0) {
    std::cerr << command << " failed (" << rc << ")\n";
    std::exit(1);
  }
  return Seconds(start);
}

hubservice::HubOptions Options(const fs::path& dir, const net::StackCertificates& certs) {
  hubservice::HubOptions o;
  o.dir = dir;
  o.service_key_file = dir.string() + ".service-key";
  o.tls_cert = certs.cert_file;
  o.tls_key = certs.key_file;
  o.mqtt.port = o.https.port = o.amqp.port = 0;
  o.mqtt.threads = o.https.threads = 1;
  o.key_monitor_thread = false;
  // Small segments: preallocated zeros would weigh on tar (the reference) and not on a backup.
  o.telemetry.log.segment_bytes = 4 << 20;
  return o;
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.has_value()) {
    std::cerr << what << ": " << r.error().message() << "\n";
    std::exit(1);
  }
  return std::move(*r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("backup and restore of an in-process hub, beside tar of its data directory");
  uint64_t records = 200'000;
  size_t payload = 256;
  int devices = 100;
  std::string where = "/tmp";
  app.add_option("--records", records, "telemetry records to back up")->check(CLI::Range(1, 10'000'000));
  app.add_option("--payload", payload, "bytes of each message's body")->check(CLI::Range(1, 65536));
  app.add_option("--devices", devices, "devices sending them")->check(CLI::Range(1, 100000));
  app.add_option("--dir", where, "where the temporary directory goes");
  CLI11_PARSE(app, argc, argv);
  if (!crypto::InitSecureHeap().ok()) return 1;

  std::string pattern = (fs::path(where) / "coffre-backup-bench-XXXXXX").string();
  fs::path root = ::mkdtemp(pattern.data());
  auto certs = Check(net::EnsureStackCertificates(root / "tls", {}), "certificates");
  fs::path file = root / "hub.cbak";
  double fill_s, backup_s, restore_s;
  uint64_t data_bytes, file_bytes;
  {
    auto hub = Check(hubservice::HubService::Start(Options(root / "a", certs)), "start");
    // Through the ingest, whose writers own the partitions (as the front ends send).
    auto start = std::chrono::steady_clock::now();
    std::mutex mu;
    std::condition_variable stored;
    uint64_t acked = 0, failed = 0;
    for (uint64_t n = 0; n < records; ++n) {
      hub::TelemetryMessage m;
      m.device_id = "device-" + std::to_string(n % static_cast<uint64_t>(devices));
      m.enqueued_ms = 1'800'000'000'000 + static_cast<int64_t>(n);
      m.body = Bytes(payload, std::byte{'x'});
      while (true) {
        Status submitted = hub->ingest().Submit(m, [&](const Status& s) {
          std::lock_guard<std::mutex> guard(mu);
          if (!s.ok()) ++failed;
          if (++acked == records) stored.notify_all();
        });
        if (submitted.ok()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the queue is full
      }
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      stored.wait(lock, [&] { return acked == records; });
    }
    if (failed != 0) {
      std::cerr << failed << " messages were not stored\n";
      return 1;
    }
    fill_s = Seconds(start);
    data_bytes = DirBytes(root / "a");

    start = std::chrono::steady_clock::now();
    auto started = Check(hub->backups().Start("bench"), "backup");
    while (hub->backups().Get(started.id)->state == "running") {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    backup_s = Seconds(start);
    auto done = Check(hub->backups().Get(started.id), "backup");
    if (done.state != "succeeded") {
      std::cerr << "backup " << done.state << ": " << done.error << "\n";
      return 1;
    }
    fs::copy_file(hub->backups().PathOf(started.id), file);
    file_bytes = fs::file_size(file);
  }
  // The reference: the same directory into a tar file, synced as the backup is.
  double tar_s = Timed("tar -cf " + (root / "a.tar").string() + " -C " + (root / "a").string() +
                       " . && sync " + (root / "a.tar").string());
  {
    auto start = std::chrono::steady_clock::now();
    hubservice::HubOptions b = Options(root / "b", certs);
    b.service_key_file = (root / "a").string() + ".service-key";  // a service-managed hub's root key
    b.restore_from = file;
    auto hub = Check(hubservice::HubService::Start(b), "restore");
    restore_s = Seconds(start);
    uint64_t end = 0;
    for (int p = 0; p < hub->store().partitions(); ++p) end += hub->store().end_sequence(p);
    if (end != records) {
      std::cerr << "restored " << end << " records of " << records << "\n";
      return 1;
    }
  }
  fs::create_directories(root / "c");
  double untar_s = Timed("tar -xf " + (root / "a.tar").string() + " -C " + (root / "c").string() +
                         " && sync -f " + (root / "c").string());

  auto rate = [&](double s) { return static_cast<double>(records) / s; };
  std::printf("records %llu x %zu B from %d devices; data directory %.1f MiB (filled in %.2f s)\n",
              static_cast<unsigned long long>(records), payload, devices,
              static_cast<double>(data_bytes) / (1 << 20), fill_s);
  std::printf("%-28s %9s %12s %10s\n", "", "seconds", "records/s", "vs tar");
  std::printf("%-28s %9.2f %12.0f %9.2fx\n", "coffre hub backup", backup_s, rate(backup_s), backup_s / tar_s);
  std::printf("%-28s %9.2f %12.0f %10s\n", "tar -cf (reference)", tar_s, rate(tar_s), "1.00x");
  std::printf("%-28s %9.2f %12.0f %9.2fx\n", "restore (incl. hub start)", restore_s, rate(restore_s),
              restore_s / untar_s);
  std::printf("%-28s %9.2f %12.0f %10s\n", "tar -xf (reference)", untar_s, rate(untar_s), "1.00x");
  std::printf("backup file %.1f MiB (%.2fx the data directory)\n",
              static_cast<double>(file_bytes) / (1 << 20),
              static_cast<double>(file_bytes) / static_cast<double>(data_bytes));
  fs::remove_all(root);
  fs::remove(root.string() + ".service-key");
  for (const char* d : {"a", "b"}) fs::remove((root / d).string() + ".service-key");
  return 0;
}
