#!/usr/bin/env bash
# Fails (never skips) with a clear message when an SDK suite cannot run because its toolchain or
# its pinned dependencies are not installed, then runs the rest of the command line.
#   check-deps.sh SDK COMMAND...
set -euo pipefail
sdk=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
fix="run ./scripts/install-deps.sh --sdks from the repository root"
fail() {
  echo "[sdk-$sdk] FAIL: $1: $fix" >&2
  exit 1
}
command -v node >/dev/null || fail "node is not installed"
[ -d "$here/../e2e/node_modules/@azure/cosmos" ] || fail "tests/e2e/node_modules is missing (the launcher uses the e2e stack)"
if [ "${COSMOSEAL_SDK_UPSTREAM:-standin}" = simulator ] || [ -n "${COSMOSEAL_SDK_AAD_DIRECT:-}${COSMOSEAL_SDK_AAD_APPS:-}" ]; then
  [ -d "$here/../simulator/node_modules/@zeit/cosmosdb-query" ] || fail "tests/simulator/node_modules is missing"
fi
case "$sdk" in
  python)
    [ -x "$here/python/.venv/bin/python" ] || fail "tests/sdk/python/.venv is missing"
    "$here/python/.venv/bin/python" -c 'import azure.cosmos' 2>/dev/null || fail "azure-cosmos is not installed in tests/sdk/python/.venv"
    "$here/python/.venv/bin/python" -c 'import azure.identity' 2>/dev/null || fail "azure-identity is not installed in tests/sdk/python/.venv"
    ;;
  go)
    command -v go >/dev/null || fail "go is not installed"
    (cd "$here/go" && GOPROXY=off go list -deps -test ./... >/dev/null 2>&1) || fail "the Go modules of tests/sdk/go are not downloaded"
    ;;
  java)
    command -v java >/dev/null || fail "java is not installed"
    command -v mvn >/dev/null || fail "mvn is not installed"
    command -v keytool >/dev/null || fail "keytool (JDK) is not installed"
    [ -d "${HOME}/.m2/repository/com/azure/azure-cosmos/4.81.0" ] || fail "azure-cosmos 4.81.0 is not in the local Maven repository"
    [ -d "${HOME}/.m2/repository/com/azure/azure-identity/1.18.4" ] || fail "azure-identity 1.18.4 is not in the local Maven repository"
    ;;
  js)
    [ "$(node -p 'require(process.argv[1]).version' "$here/js/node_modules/@azure/cosmos/package.json" 2>/dev/null)" = 4.10.1 ] ||
      fail "@azure/cosmos 4.10.1 is not installed in tests/sdk/js/node_modules"
    ;;
  *) fail "unknown SDK $sdk" ;;
esac
exec "$@"
