// cosmoseal: the dispatcher in cli/ does everything; this file stays thin.
#include "cli/dispatcher.h"

int main(int argc, char** argv) { return cosmoseal::cli::runCli(argc, argv); }
