#!/usr/bin/env bash
# Configures and builds cosmoseal into build/ (RelWithDebInfo), warnings as errors
# (COSMOSEAL_WERROR=ON: the project's own builds stay warning-free). Extra args go to cmake.
#   BUILD_DIR=build-asan scripts/build.sh -DCOSMOSEAL_SANITIZE=ON -DCOSMOSEAL_BENCH=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
LAUNCHER=()
if command -v ccache >/dev/null; then  # optional: rebuilds and CI reruns get faster
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCOSMOSEAL_WERROR=ON "${LAUNCHER[@]}" "$@" >/dev/null
ninja -C "$BUILD_DIR" -j "$JOBS"
