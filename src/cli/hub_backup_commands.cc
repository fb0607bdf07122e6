#include "cli/hub_backup_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <iostream>
#include <thread>

#include "cli/progress.h"
#include "common/files.h"
#include "common/unique_fd.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr auto kPollInterval = std::chrono::milliseconds(250);

std::string Mib(uint64_t bytes) {
  return std::to_string(bytes >> 20) + "." + std::to_string(((bytes & 0xFFFFF) * 10) >> 20) + " MiB";
}

uint64_t Number(const json& j, const char* name) {
  const json& v = Member(j, name);
  return v.is_number_unsigned() ? v.get<uint64_t>() : 0;
}

std::string ProgressText(const json& b) {
  return "backup " + Cell(b, "id") + ": " + std::to_string(Number(b, "rows")) + " rows, " +
         std::to_string(Number(b, "records")) + " of " + std::to_string(Number(b, "recordsTotal")) +
         " records, " + Mib(Number(b, "bytes"));
}

// Waits until the hub has made backup `path`'s file, showing its progress.
Result<json> AwaitBackup(HubClient& hub, const std::string& path, ProgressLine& progress) {
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(json b, hub.Call("GET", path));
    std::string state = Cell(b, "state");
    if (state == "succeeded") return b;
    if (state != "running") return Internal("the hub's backup failed: " + Cell(b, "error"));
    if (progress.Due()) progress.Show(ProgressText(b));
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Downloads the file piece by piece into `file` (through file.partial, renamed when whole).
Status Download(HubClient& hub, const std::string& path, uint64_t size,
                const std::filesystem::path& file, ProgressLine& progress) {
  std::filesystem::path partial = file;
  partial += ".partial";
  UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus("creating " + partial.string(), errno);
  uint64_t offset = 0;
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(net::HttpResponse piece,
                            hub.CallRaw("GET", path + "/content", "",
                                        "offset=" + std::to_string(offset)));
    if (piece.body.empty()) break;
    COFFRE_RETURN_IF_ERROR(WriteAll(fd.get(), AsBytes(piece.body), partial.string()));
    offset += piece.body.size();
    if (progress.Due()) progress.Show("downloaded " + Mib(offset) + " of " + Mib(size));
  }
  if (offset != size) {
    return DataLoss("downloaded " + std::to_string(offset) + " bytes of a " +
                    std::to_string(size) + "-byte backup");
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus("syncing " + partial.string(), errno);
  std::error_code ec;
  std::filesystem::rename(partial, file, ec);
  if (ec) return Internal("naming " + file.string() + ": " + ec.message());
  return Status::Ok();
}

Table BackupDetails(const json& b) {
  Table t;
  t.AddRow({"BACKUP", Cell(b, "id")});
  t.AddRow({"FILE", Cell(b, "file")});
  t.AddRow({"STARTED", Cell(b, "startedAt")});
  t.AddRow({"FINISHED", Cell(b, "finishedAt")});
  t.AddRow({"ROWS", Cell(b, "rows")});
  t.AddRow({"RECORDS", Cell(b, "records")});
  t.AddRow({"BYTES", Cell(b, "bytes")});
  return t;
}

}  // namespace

void AddBackupCommand(CLI::App& hub, std::vector<Command>& commands, BackupCommandOptions& o) {
  CLI::App* backup = AddCommand(
      hub, "coffre hub ", commands, o, "backup",
      "back the running hub up into a file, sealed under its customer-managed key: registry, "
      "twins, C2D, checkpoints, key state and telemetry, as of one moment",
      [&o](Context& c) -> Status {
        std::filesystem::path file = std::filesystem::absolute(o.file);
        if (std::filesystem::exists(file)) {
          return AlreadyExists(file.string() + " exists; name a new file");
        }
        COFFRE_ASSIGN_OR_RETURN(json started, c.hub.Call("POST", "/$coffre/backups"));
        std::string path = "/$coffre/backups/" + Cell(started, "id");
        ProgressLine progress(std::cerr, StderrIsTerminal());
        auto began = std::chrono::steady_clock::now();
        Result<json> made = AwaitBackup(c.hub, path, progress);
        Status downloaded = made.has_value()
                                ? Download(c.hub, path, Number(*made, "bytes"), file, progress)
                                : made.error();
        if (downloaded.ok()) {
          progress.Print(ProgressText(*made) + ", written to " + file.string() + " in " +
                         Seconds(std::chrono::steady_clock::now() - began));
        }
        // The hub keeps no copy once it is here (nor of a failed one).
        Result<json> deleted = c.hub.Call("DELETE", path);
        COFFRE_RETURN_IF_ERROR(downloaded);
        if (!deleted.has_value()) {
          std::cerr << "warning: the backup stays on the hub: " << deleted.error().message() << "\n";
        }
        json out = *made;
        out["file"] = file.string();
        return Print(c, out, BackupDetails);
      });
  backup->add_option("--file", o.file, "where to write the backup (a new file)")->required();
}

CLI::App* AddRestoreCommand(CLI::App& hub, RestoreOptions& o) {
  CLI::App* restore = hub.add_subcommand(
      "restore",
      "restore a backup into the local stack in DIR: its hub is stopped, the backup restored "
      "(erasures made since are kept), and the hub started again");
  restore->add_option("--file", o.file, "the backup (coffre hub backup)")
      ->required()
      ->check(CLI::ExistingFile);
  restore->add_option("--dir", o.dir, "the stack directory (coffre up --dir)")->required();
  restore->add_flag("--discard-current-data", o.discard_current_data,
                    "replace the hub's data even if it is another hub's or cannot be opened "
                    "(erasures made in it are then not carried over)");
  return restore;
}

int RunRestore(const RestoreOptions& o) {
  Status restored = [&o] {
    // Ended before the error or the result below is printed.
    ProgressLine progress(std::cerr, StderrIsTerminal());
    return StackRestore(o, progress);
  }();
  if (!restored.ok()) {
    std::cerr << "coffre hub restore: " << restored.message() << "\n";
    return restored.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "restored " << o.file.string() << " into " << o.dir.string()
            << "; the hub serves again (check it with `coffre hub verify --dir "
            << o.dir.string() << "`)\n";
  return 0;
}

}  // namespace coffre::cli
