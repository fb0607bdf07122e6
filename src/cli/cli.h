#pragma once
// The `coffre` command line: parses argv and runs one command. Returns the process exit code.

namespace coffre::cli {

int RunCli(int argc, char** argv);

}  // namespace coffre::cli
