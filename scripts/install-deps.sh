#!/usr/bin/env bash
# Installs what cosmoseal needs to build, test and run the demo on Debian 12. Idempotent: apt-get
# runs only when a package is missing, npm only when the lock file changed.
#   scripts/install-deps.sh            build + test + demo dependencies
#   scripts/install-deps.sh --bench    also the comparison tools (nginx, gnuplot, perf)
#   scripts/install-deps.sh --fuzz     also clang-14's libFuzzer runtime
#   scripts/install-deps.sh --tidy     also clang-tidy-14 and clang-query-14 (scripts/tidy)
#   scripts/install-deps.sh --sdks     also the Java, Python and Go SDK suites (tests/sdk): a JDK and
#                                      Maven from Debian, then azure-cosmos (Maven Central, pom.xml),
#                                      azure-cosmos for Python (PyPI, hashed requirements, into
#                                      tests/sdk/python/.venv), azcosmos (Go module proxy, go.sum) and
#                                      @azure/cosmos (npm, tests/sdk/js/package-lock.json).
#                                      Go itself (>= the version in tests/sdk/go/go.mod) must be on PATH.
#   (always: PyKMIP, the KMIP server of the kmip KEK tests, from PyPI with hashed requirements into
#    tests/kmip/.venv; python3 and python3-venv from Debian)
#   scripts/install-deps.sh --k8s      also what the Kubernetes tests need (tests/k8s): buildah for
#                                      scripts/build-image, iptables for capture-init and the pod
#                                      rehearsal. kubectl is not among them: Debian 12's is too old
#                                      for kustomize components; without one the tests that render
#                                      k8s/ report themselves skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js >= 20 is needed by the e2e tests and the demo (@vercel/cosmosdb-server, @azure/cosmos).
NODE_MIN_MAJOR=20
NODE_FALLBACK_VERSION=20.20.2  # from the npm registry (node-linux-<arch>) if Debian's is older

SDKS=0
PKGS=(build-essential cmake ninja-build pkg-config git ca-certificates openssl curl
      libuv1-dev libssl-dev libsimdjson-dev libyaml-cpp-dev node-llhttp
      libgtest-dev libgmock-dev libbenchmark-dev iproute2 procps prometheus
      gdb   # gdb: gcore for the core-dump check (tests/security/coredump.test.mjs)
      libp11-kit-dev softhsm2  # the PKCS#11 header; SoftHSM2 for the pkcs11 KEK tests
      python3 python3-venv)    # the venv of PyKMIP (tests/kmip), the kmip KEK tests' server
for arg in "$@"; do
  case "$arg" in
    --bench) PKGS+=(nginx-light gnuplot-nox linux-perf) ;;
    --fuzz) PKGS+=(clang-14 libclang-rt-14-dev) ;;
    --tidy) PKGS+=(clang-tidy-14 clang-tools-14) ;;
    --k8s) PKGS+=(buildah iptables util-linux coreutils) ;;
    --sdks) SDKS=1; PKGS+=(maven default-jdk-headless python3 python3-venv) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "install-deps: Node.js >= $NODE_MIN_MAJOR is required; install it for $(uname -m)" >&2; exit 1 ;;
  esac
  dest=/usr/local/lib/cosmoseal-node-$NODE_FALLBACK_VERSION
  echo "install-deps: Node.js $(node_major) is too old; installing Node.js $NODE_FALLBACK_VERSION into $dest"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE_FALLBACK_VERSION" >/dev/null && tar xzf ./*.tgz)
  $SUDO rm -rf "$dest"
  $SUDO mkdir -p "$dest"
  $SUDO cp -a "$tmp/package/." "$dest/"
  rm -rf "$tmp"
  $SUDO ln -sf "$dest/bin/node" /usr/local/bin/node
  hash -r
  if [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
    echo "install-deps: /usr/local/bin/node is not first in PATH; put /usr/local/bin before /usr/bin" >&2
    exit 1
  fi
fi

# The e2e test project: the real @azure/cosmos SDK and the real @vercel/cosmosdb-server, pinned.
if [ -f tests/e2e/package-lock.json ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/e2e"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# The Cosmos simulator (tests/simulator): @zeit/cosmosdb-query for expressions, @azure/cosmos
# (dev) to prove the simulator speaks what the SDK expects; pinned by its lock file.
if [ -f tests/simulator/package-lock.json ]; then
  if [ ! -d tests/simulator/node_modules ] || [ tests/simulator/package-lock.json -nt tests/simulator/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/simulator"
    (cd tests/simulator && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# PyKMIP for the kmip KEK provider tests (tests/kmip/README.md): a venv from hashed requirements.
if [ ! -x tests/kmip/.venv/bin/python ] || [ tests/kmip/requirements.txt -nt tests/kmip/.venv/.installed ]; then
  echo "install-deps: PyKMIP into tests/kmip/.venv"
  rm -rf tests/kmip/.venv
  "$(command -v python3)" -m venv tests/kmip/.venv
  tests/kmip/.venv/bin/pip install -q --disable-pip-version-check --require-hashes -r tests/kmip/requirements.txt
  touch tests/kmip/.venv/.installed
fi

# The Kubernetes test project (tests/k8s): kubernetes-models (schemas) and yaml, pinned.
if [ -f tests/k8s/package-lock.json ]; then
  if [ ! -d tests/k8s/node_modules ] || [ tests/k8s/package-lock.json -nt tests/k8s/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/k8s"
    (cd tests/k8s && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# The SDK conformance suites (tests/sdk/README.md), each pinned by its own lock file.
if [ "$SDKS" = 1 ]; then
  if [ ! -d tests/sdk/js/node_modules ] || [ tests/sdk/js/package-lock.json -nt tests/sdk/js/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/sdk/js (@azure/cosmos for the JavaScript SDK suite)"
    (cd tests/sdk/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
  py=$(command -v python3)
  if [ ! -x tests/sdk/python/.venv/bin/python ] || [ tests/sdk/python/requirements.txt -nt tests/sdk/python/.venv/.installed ]; then
    echo "install-deps: azure-cosmos (Python) into tests/sdk/python/.venv"
    rm -rf tests/sdk/python/.venv
    "$py" -m venv tests/sdk/python/.venv
    tests/sdk/python/.venv/bin/pip install -q --disable-pip-version-check --require-hashes -r tests/sdk/python/requirements.txt
    touch tests/sdk/python/.venv/.installed
  fi
  if command -v go >/dev/null 2>&1; then
    echo "install-deps: azcosmos (Go) modules for tests/sdk/go"
    (cd tests/sdk/go && go mod download && go test -count=1 -run '^$' ./... >/dev/null)
  else
    echo "install-deps: go is not on PATH; the Go SDK suite (tests/sdk/go) needs the version its go.mod names" >&2
    exit 1
  fi
  echo "install-deps: azure-cosmos (Java) and its plugins into the local Maven repository"
  # go-offline misses what plugins load at run time (resource filtering, the JUnit provider):
  # one online build that runs no test, and the provider by name, complete the offline set.
  (cd tests/sdk/java && mvn -B -q dependency:go-offline &&
     mvn -B -q test -Dtest=NoSuchTest -Dsurefire.failIfNoSpecifiedTests=false &&
     mvn -B -q dependency:get -Dartifact=org.apache.maven.surefire:surefire-junit-platform:3.5.4)
fi
