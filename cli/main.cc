// cosmoseal: flags -> config -> Server -> uv_run -> exit code. Everything lives in
// cosmoseal_proxy (proxy/cli.cc); this file stays thin.
#include "cli/dispatcher.h"

int main(int argc, char** argv) { return cosmoseal::proxy::runCli(argc, argv); }
