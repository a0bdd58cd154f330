#!/usr/bin/env bash
# Installs what cosmoseal needs to build, test and demo on Debian 12. Idempotent: packages that are
# already present are not touched, and apt-get runs only when something is missing.
#   scripts/install-deps.sh            build + test + demo dependencies
#   scripts/install-deps.sh --bench    also the comparison tools (nginx, gnuplot)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config git ca-certificates openssl curl
      libuv1-dev libssl-dev libsimdjson-dev libyaml-cpp-dev node-llhttp
      libgtest-dev libgmock-dev libbenchmark-dev nodejs npm iproute2 procps)
for arg in "$@"; do
  case "$arg" in
    --bench) PKGS+=(nginx-light gnuplot-nox linux-perf) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Debian's own nodejs is older than what the real SDK wants; a newer node from elsewhere is fine.
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]:-}"

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js >= 20 is required by @vercel/cosmosdb-server and @azure/cosmos (found $node_major)" >&2
  exit 1
fi

# The e2e test project: the real @azure/cosmos SDK and the real @vercel/cosmosdb-server, pinned.
if [ -f tests/e2e/package-lock.json ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/e2e"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
