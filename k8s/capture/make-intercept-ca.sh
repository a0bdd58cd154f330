#!/usr/bin/env bash
# Makes the pod-local interception CA for transparent mode: an EC P-256 CA whose name constraints
# permit only the given host names, so even a leaked CA key cannot vouch for anything but the
# Cosmos DB account(s). cosmoseal issues the per-host certificates from it (listen.transparent);
# the app trusts tls.crt.
#
#   k8s/capture/make-intercept-ca.sh OUTDIR HOST [HOST...]
#     e.g. k8s/capture/make-intercept-ca.sh ./ca myaccount.documents.azure.com
#   kubectl -n NAMESPACE create secret tls cosmoseal-intercept-ca --cert=./ca/tls.crt --key=./ca/tls.key
#
# Writes OUTDIR/tls.crt and OUTDIR/tls.key (0600). Validity: 825 days (DAYS=N to change); replace it
# before then like any CA (docs/KUBERNETES.md, "Transparent mode").
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out=$1
shift
mkdir -p "$out"
constraints=""
for h in "$@"; do
  case "$h" in
    *[!A-Za-z0-9.-]*|"") echo "make-intercept-ca: not a host name: $h" >&2; exit 2 ;;
  esac
  constraints="${constraints:+$constraints,}permitted;DNS:$h"
done
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<EOF
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = cosmoseal interception CA
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
nameConstraints = critical,$constraints
EOF
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out "$out/tls.key"
openssl req -x509 -new -config "$cfg" -key "$out/tls.key" -sha256 -days "${DAYS:-825}" -out "$out/tls.crt"
chmod 0600 "$out/tls.key"
chmod 0644 "$out/tls.crt"
echo "make-intercept-ca: $out/tls.crt (for: $*), key $out/tls.key"
