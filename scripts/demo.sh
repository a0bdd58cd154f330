#!/usr/bin/env bash
# The cosmoseal demo: installs what is missing, builds, then runs an unmodified Cosmos DB sample app
# through cosmoseal against a local Cosmos stand-in and shows both sides (tests/e2e/demo/demo.mjs).
#   scripts/demo.sh               with the sample field policy (ssn, address, card numbers)
#   scripts/demo.sh --no-policy   the same app with no field policy (plain pass-through)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec node tests/e2e/demo/demo.mjs "$@"
