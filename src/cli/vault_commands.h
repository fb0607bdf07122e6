#pragma once
// `coffre vault key ...`, `coffre vault access ...`, `coffre vault audit ...` and
// `coffre vault events ...`: an operator's commands against a vault speaking the Azure Key Vault
// keys API plus Coffre's admin API (/coffre/principals, /coffre/audit, /coffre/eventsubscriptions).
// VaultCommands registers the subcommands on the tool's CLI11 app; after the app has parsed
// argv, Run() executes the one selected. Thread-compatible.

#include <memory>

namespace CLI {
class App;
}

namespace coffre::cli {

class VaultCommands {
 public:
  // app must outlive this object.
  explicit VaultCommands(CLI::App& app);
  ~VaultCommands();

  // Whether argv selected a `coffre vault` command.
  bool Selected() const;

  // 0 on success; 1 if the vault refused or could not be reached (the Status on stderr);
  // 2 if the options name no vault or no token.
  int Run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace coffre::cli
