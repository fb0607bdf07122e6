#pragma once
// `coffre completion bash`: a bash completion script made from the tool's CLI11 command tree, so
// it always knows every subcommand and option, at every level. `source <(coffre completion
// bash)` (or the script saved in /etc/bash_completion.d) completes subcommand names, the options
// of the command typed so far, and the values of options that take one of a set (--output:
// table json tsv); other values fall back to file names. Stateless.

#include <string>

namespace CLI {
class App;
}

namespace coffre::cli {

// The script: one function, _coffre, registered for `program`.
std::string BashCompletion(const CLI::App& app, const std::string& program);

}  // namespace coffre::cli
