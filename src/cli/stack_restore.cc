#include "cli/stack_restore.h"


#include <atomic>
#include <fstream>
#include <thread>

#include "cli/daemon.h"
#include "cli/local_stack.h"
#include "cli/stack_hub.h"

namespace coffre::cli {
namespace {

namespace fs = std::filesystem;

constexpr auto kStopGrace = std::chrono::seconds(30);
constexpr auto kRestoreTimeout = std::chrono::hours(4);

Status StopHub(StackState& state) {
  auto it = state.pids.find("hub");
  if (it == state.pids.end()) return Status::Ok();
  StopProcesses({it->second}, kStopGrace);
  state.pids.erase(it);
  return WriteStackFile(state);
}

// Shows the hub log's restore lines written from now on, until destroyed.
class RestoreLines {
 public:
  RestoreLines(fs::path log, ProgressLine& out) : log_(std::move(log)), out_(out) {
    std::error_code ec;
    offset_ = fs::exists(log_, ec) ? fs::file_size(log_, ec) : 0;
    thread_ = std::thread([this] {
      while (!done_) {
        Show();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      Show();
    });
  }
  ~RestoreLines() {
    done_ = true;
    thread_.join();
  }

 private:
  void Show() {
    std::ifstream in(log_);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a line still being written: next time
      offset_ += line.size() + 1;
      if (line.find(" restore: ") == std::string::npos) continue;
      // "N of M records restored" is progress; the others (what was restored, erasures carried
      // over, warnings) stay.
      if (line.find(" of ") != std::string::npos && line.ends_with(" records restored")) {
        out_.Show(line);
      } else {
        out_.Print(line);
      }
    }
  }

  fs::path log_;
  ProgressLine& out_;
  uint64_t offset_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The hub's own last error line ("coffre-hub: DATA_LOSS: restoring ...: why") out of the log
// tail a failed start reports, else the whole report.
Status Reason(const Status& failed) {
  const std::string& m = failed.message();
  size_t at = m.rfind("\ncoffre-hub: ");
  if (at == std::string::npos) return failed;
  std::string line = m.substr(at + 1, m.find('\n', at + 1) - at - 1);
  return Status(failed.code(), line);
}

}  // namespace

Status StackRestore(const RestoreOptions& options, ProgressLine& progress) {
  auto began = std::chrono::steady_clock::now();
  if (options.dir.empty()) return InvalidArgument("--dir is required");
  fs::path dir = fs::absolute(options.dir);
  fs::path file = fs::absolute(options.file);
  if (!fs::is_regular_file(file)) return InvalidArgument(file.string() + " is not a file");
  COFFRE_ASSIGN_OR_RETURN(StackState state, ReadStackFile(dir));
  COFFRE_RETURN_IF_ERROR(StopHub(state));
  // The start waits for these to be written again: by the restored hub, not the stopped one.
  fs::path bootstrap = dir / "hub" / "data" / "bootstrap";
  std::error_code ec;
  fs::remove(bootstrap / (std::string(kDemoDevice) + ".connection-string"), ec);
  fs::remove(bootstrap / "eventhub.connection-string", ec);

  UpOptions up;
  up.dir = dir;
  up.hub_args = {"--restore-from", file.string()};
  if (options.discard_current_data) up.hub_args.push_back("--discard-current-data");
  up.hub_start_timeout = std::chrono::duration_cast<std::chrono::seconds>(kRestoreTimeout);
  Result<StackState> restored = [&] {
    RestoreLines lines(dir / "hub" / "hub.log", progress);
    return StackUp(up);
  }();
  if (restored.has_value()) {
    progress.Print("restore: done in " + Seconds(std::chrono::steady_clock::now() - began));
    return Status::Ok();
  }
  Status why = Reason(restored.error());
  // A restore past its time may still run: stopped before the hub starts again. What the hub
  // then serves is its data as it was, unless the restore had reached its swap (its log says).
  if (Result<StackState> now = ReadStackFile(dir); now.has_value()) (void)StopHub(*now);
  progress.Print("the restore failed; starting the hub again");
  UpOptions again;
  again.dir = dir;
  Result<StackState> back = StackUp(again);
  if (!back.has_value()) {
    return why.WithContext("restoring (and the hub did not start again: " +
                           back.error().message() + ")");
  }
  return why;
}

}  // namespace coffre::cli
