#!/usr/bin/env bash
# Runs FailoverDrill.java for tests/sdk/lib/failover-drill.mjs: the classpath from the pinned pom
# (Maven offline), a PKCS#12 trust store holding COSMOSEAL_DRILL_CA_FILE, then the single-file
# program. Usage (from the repository root):
#   node tests/sdk/lib/failover-drill.mjs --sdk java -- bash tests/sdk/java/drill/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$here/.." && mvn -o -B -q dependency:build-classpath -Dmdep.outputFile="$work/cp" -Dmdep.includeScope=runtime >&2)
keytool -importcert -noprompt -alias drill-ca -file "$COSMOSEAL_DRILL_CA_FILE" -keystore "$work/trust.p12" \
  -storetype PKCS12 -storepass changeit >/dev/null 2>&1
java -Djavax.net.ssl.trustStore="$work/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit \
  -Djavax.net.ssl.trustStoreType=PKCS12 -cp "$(cat "$work/cp")" "$here/FailoverDrill.java"
