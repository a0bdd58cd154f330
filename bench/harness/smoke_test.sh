#!/usr/bin/env bash
# Smoke test of the load-testing harness (ctest label "bench"), a few seconds:
#   cosmoseal-fake-upstream (signature verification ON, with the account key)
#   <- cosmoseal (pass-through config bench/policies/passthrough.yaml, plain-HTTP upstream)
#   <- cosmoseal-bench --setup, ~1 s of a mix of every workload, then 20 idle connections.
# Asserts: the bench exits 0, > 0 requests, 0 errors, valid JSON with the expected fields, 0
# signature failures at the upstream (cosmoseal re-signed every request correctly), every
# request seen upstream was verified, and the idle run opened all its connections.
# Never skips: a missing tool or binary is a failure.
#
# Usage: smoke_test.sh COSMOSEAL_BIN BENCH_BIN FAKE_BIN SOURCE_DIR
set -euo pipefail

COSMOSEAL=${1:?cosmoseal binary}
BENCH=${2:?cosmoseal-bench binary}
FAKE=${3:?cosmoseal-fake-upstream binary}
SRC=${4:?source dir}

fail() { echo "SMOKE FAIL: $*" >&2; exit 1; }
for b in "$COSMOSEAL" "$BENCH" "$FAKE"; do [[ -x $b ]] || fail "missing binary $b"; done
command -v curl >/dev/null || fail "curl is required"
if command -v jq >/dev/null; then
  jget() { jq -er ".$(sed -E 's/\.([0-9]+)/[\1]/g' <<<"$2")" "$1"; }
elif command -v python3 >/dev/null && python3 -c 'import json' 2>/dev/null; then
  jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); exec("for k in sys.argv[2].split(\".\"): d = d[int(k)] if isinstance(d, list) else d[k]"); print(d)' "$1" "$2"; }
else
  fail "jq or python3 is required to check the JSON output"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cosmoseal-bench-smoke.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    echo "--- logs ($WORK) ---" >&2
    tail -n 30 "$WORK"/*.log >&2 || true
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  fail "no free port found"
}

umask 077
head -c 64 /dev/urandom | base64 -w0 > "$WORK/account.key"
head -c 64 /dev/urandom | base64 -w0 > "$WORK/client.key"

# 1. Fake upstream, verifying signatures with the ACCOUNT key.
"$FAKE" --port 0 --port-file "$WORK/fake.port" --verify-key "$WORK/account.key" \
  --stats-json "$WORK/fake-stats-exit.json" > "$WORK/fake.log" 2>&1 &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
for _ in $(seq 100); do [[ -s $WORK/fake.port ]] && break; sleep 0.05; done
[[ -s $WORK/fake.port ]] || fail "the fake upstream did not start"
UP_PORT=$(cat "$WORK/fake.port")

# 2. cosmoseal, pass-through, plain HTTP to the fake.
LISTEN=$(free_port)
ADMIN=$(free_port)
while [[ $ADMIN == "$LISTEN" ]]; do ADMIN=$(free_port); done
sed -e "s#@LISTEN_PORT@#$LISTEN#; s#@ADMIN_PORT@#$ADMIN#" \
    -e "s#@UPSTREAM_URL@#http://127.0.0.1:$UP_PORT/#" \
    -e "s#@ACCOUNT_KEY_FILE@#$WORK/account.key#; s#@CLIENT_KEY_FILE@#$WORK/client.key#" \
    "$SRC/bench/policies/passthrough.yaml" > "$WORK/cosmoseal.yaml"
"$COSMOSEAL" --config "$WORK/cosmoseal.yaml" > "$WORK/cosmoseal.log" 2>&1 &
CS_PID=$!
PIDS+=("$CS_PID")
ready=0
for _ in $(seq 100); do
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/readyz" || true) == 200 ]]; then
    ready=1
    break
  fi
  kill -0 "$CS_PID" 2>/dev/null || fail "cosmoseal exited at startup"
  sleep 0.05
done
[[ $ready == 1 ]] || fail "cosmoseal did not become ready"

# 3. Setup + ~1 s of every workload, bounded by time and count.
set +e
timeout 60 "$BENCH" "http://127.0.0.1:$LISTEN" --key-file "$WORK/client.key" --setup --docs 100 \
  --mix read=40,upsert=15,create=10,replace=15,query=10,readfeed=10 --page-size 20 \
  --connections 4 --duration 1s --requests 200000 --json "$WORK/run.json" --label smoke \
  --measure proxy="$CS_PID" --measure upstream="$FAKE_PID" > "$WORK/bench.log" 2>&1
rc=$?
set -e
cat "$WORK/bench.log"
[[ $rc -eq 0 ]] || fail "cosmoseal-bench exited with $rc"

requests=$(jget "$WORK/run.json" results.requests)
errors=$(jget "$WORK/run.json" results.errors)
[[ $requests -gt 0 ]] || fail "no requests completed"
[[ $errors -eq 0 ]] || fail "$errors errors"
for op in read create upsert replace query readfeed; do
  n=$(jget "$WORK/run.json" "results.ops.$op.ok")
  [[ $n -gt 0 ]] || fail "no successful $op"
done
jget "$WORK/run.json" results.latency_ms.p99 >/dev/null || fail "no p99 in the JSON"
[[ $(jget "$WORK/run.json" processes.0.name) == proxy ]] || fail "no proxy CPU sample"

curl -sf "http://127.0.0.1:$UP_PORT/_fake/stats" > "$WORK/fake-stats.json" ||
  fail "cannot read /_fake/stats"
checked=$(jget "$WORK/fake-stats.json" signatures.checked)
failed=$(jget "$WORK/fake-stats.json" signatures.failed)
upstream_requests=$(jget "$WORK/fake-stats.json" requests)
[[ $failed -eq 0 ]] || fail "$failed signature failures at the upstream (cosmoseal re-signing is broken)"
[[ $checked -ge $requests ]] || fail "the upstream verified only $checked signatures for $requests requests"
[[ $checked -eq $upstream_requests ]] || fail "$upstream_requests upstream requests but $checked verified"

# 4. Idle connections (memory probe), briefly.
timeout 30 "$BENCH" "http://127.0.0.1:$LISTEN" --key-file "$WORK/client.key" \
  --idle-connections 20 --hold 0.5s --measure proxy="$CS_PID" --json "$WORK/idle.json" \
  > "$WORK/idle.log" 2>&1 || fail "idle run failed: $(cat "$WORK/idle.log")"
[[ $(jget "$WORK/idle.json" idle.established) -eq 20 ]] || fail "idle run did not open 20 connections"
[[ $(jget "$WORK/idle.json" processes.0.rss_kb_held) -gt 0 ]] || fail "no RSS sample"

failed=$(curl -sf "http://127.0.0.1:$UP_PORT/_fake/stats" | tee "$WORK/fake-stats2.json" >/dev/null &&
  jget "$WORK/fake-stats2.json" signatures.failed)
[[ $failed -eq 0 ]] || fail "signature failures after the idle run"

echo "SMOKE OK: $requests requests, 0 errors, $checked signatures verified upstream, 0 failed"
