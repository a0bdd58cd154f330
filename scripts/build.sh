#!/usr/bin/env bash
# Configures and builds cosmoseal into build/ (RelWithDebInfo). Extra args go to cmake.
#   BUILD_DIR=build-asan scripts/build.sh -DCOSMOSEAL_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
ninja -C "$BUILD_DIR" -j "$JOBS"
