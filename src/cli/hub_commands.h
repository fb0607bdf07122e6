#pragma once
// `coffre hub device ...`, `coffre hub generate-sas-token` and `coffre hub monitor-events`:
// an operator's commands against a hub's service API and read API, in the spirit of
// `az iot hub`. HubCommands registers the subcommands on the tool's CLI11 app; after the app
// has parsed argv, Run() executes the one selected. Thread-compatible.

#include <memory>

namespace CLI {
class App;
}

namespace coffre::cli {

class HubCommands {
 public:
  // app must outlive this object.
  explicit HubCommands(CLI::App& app);
  ~HubCommands();

  // Whether argv selected a `coffre hub` command.
  bool Selected() const;

  // 0 on success; 1 if the hub refused or could not be reached (its error on stderr);
  // 2 if the options name no hub or no policy.
  int Run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace coffre::cli
