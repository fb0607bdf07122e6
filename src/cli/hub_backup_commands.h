#pragma once
// `coffre hub backup --file F` and `coffre hub restore --file F --dir DIR`. The backup is made
// by the running hub (POST /$coffre/backups, hubapi/backup_api.h) while it serves; the command
// shows its progress, downloads it into F (mode 0600) and deletes it from the hub. A restore
// needs the hub stopped: for the local stack the command stops and restarts it
// (cli/stack_restore.h); elsewhere, start coffre-hub with --restore-from F.

#include <string>
#include <vector>

#include "cli/hub_command.h"
#include "cli/stack_restore.h"

namespace coffre::cli {

struct BackupCommandOptions : CommonOptions {
  std::string file;
};

void AddBackupCommand(CLI::App& hub, std::vector<Command>& commands, BackupCommandOptions& o);

// The restore command, which runs without a hub connection: RunRestore once it is parsed.
CLI::App* AddRestoreCommand(CLI::App& hub, RestoreOptions& o);
int RunRestore(const RestoreOptions& o);

}  // namespace coffre::cli
