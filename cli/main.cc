// pgpitr's entry point: everything else is in cli/commands.cc, which the tests link.
#include "cli/commands.h"

int main(int argc, char** argv) { return pgpitr::cli::RunCli(argc, argv); }
