// coffre: the operator's command-line tool. Wiring only; the commands live in src/cli.
#include "cli/cli.h"

int main(int argc, char** argv) { return coffre::cli::RunCli(argc, argv); }
