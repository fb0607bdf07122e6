#pragma once
// Whole-file reads and crash-safe writes. WriteFileDurably makes the new content durable before
// it replaces the old one (temp file, fsync, rename, fsync of the directory), so after a crash
// or power loss a reader sees either the old or the new file, never a torn one.
// Stateless, thread-safe for distinct paths.

#include <filesystem>
#include <string>
#include <sys/types.h>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre {

Result<Bytes> ReadFile(const std::filesystem::path& path);
Result<std::string> ReadTextFile(const std::filesystem::path& path);

Status WriteFileDurably(const std::filesystem::path& path, ByteSpan content, mode_t mode = 0600);

// All of `data` to `fd` (write(2) until done, EINTR retried); `what` names the file in errors.
Status WriteAll(int fd, ByteSpan data, std::string_view what);

// fsync of a directory, so that a rename or create inside it survives power loss.
Status SyncDirectory(const std::filesystem::path& dir);

// Creates the directory (and parents) if missing and sets its mode.
Status EnsurePrivateDirectory(const std::filesystem::path& dir, mode_t mode = 0700);

}  // namespace coffre
