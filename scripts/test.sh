#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, fuzz corpus replay, security, e2e, k8s, sdk) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --k8s --sdks
./scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "${CTEST_JOBS:-2}" "$@"
