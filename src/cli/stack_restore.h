#pragma once
// `coffre hub restore --file F --dir DIR`: restores a hub backup (`coffre hub backup`) into the
// local stack in DIR. The stack's hub is stopped, then started again with the backup to restore
// first (coffre-hub --restore-from; hubservice/hub_restore.h), while its progress lines are
// shown (its "N of M records restored" counts as one updating line on a terminal, the others as
// lines that stay, then a final line); the vault keeps running, since the restore unwraps the
// backup's key through it. If the restore fails, the hub starts again on its data as it was, and
// the error is returned.

#include <filesystem>

#include "cli/progress.h"
#include "common/result.h"

namespace coffre::cli {

struct RestoreOptions {
  std::filesystem::path dir;
  std::filesystem::path file;
  bool discard_current_data = false;  // coffre-hub --discard-current-data
};

Status StackRestore(const RestoreOptions& options, ProgressLine& progress);

}  // namespace coffre::cli
