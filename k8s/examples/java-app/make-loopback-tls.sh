#!/usr/bin/env bash
# Makes the TLS material of cosmoseal's loopback listener for a Java app (the Java SDK speaks
# HTTPS only): a pod-local EC P-256 CA whose name constraints permit only localhost and
# 127.0.0.1, a server certificate for exactly those names, and a PKCS#12 truststore holding the
# CA certificate for the JVM (javax.net.ssl.trustStore). Needs openssl; keytool (any JDK) for the
# truststore.
#
#   k8s/examples/java-app/make-loopback-tls.sh OUTDIR
#   kubectl -n NAMESPACE create secret tls cosmoseal-listen-tls --cert=OUTDIR/tls.crt --key=OUTDIR/tls.key
#   kubectl -n NAMESPACE create configmap cosmoseal-listen-truststore --from-file=OUTDIR/truststore.p12
#
# Writes OUTDIR/ca.crt, ca.key, tls.crt, tls.key (keys 0600) and truststore.p12 (password
# STOREPASS, default changeit: it guards public certificates only). When OUTDIR/ca.key exists it
# is reused: only the server certificate is renewed, and the JVM's truststore stays valid.
# Validity: CA 3650 days (CA_DAYS), server certificate 825 days (DAYS). Keep ca.key offline.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out=$1
mkdir -p "$out"
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cosmoseal loopback CA
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
nameConstraints = critical,permitted;DNS:localhost,permitted;IP:127.0.0.1/255.255.255.255
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
umask 077
if [ ! -f "$out/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
  openssl req -x509 -new -config "$cfg" -extensions ca -key "$out/ca.key" -sha256 \
    -days "${CA_DAYS:-3650}" -out "$out/ca.crt"
  rm -f "$out/truststore.p12"
fi
openssl ecparam -name prime256v1 -genkey -noout -out "$out/tls.key.new"
openssl req -new -key "$out/tls.key.new" -subj "/CN=localhost" -out "$out/tls.csr"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -extfile "$cfg" -extensions server -sha256 -days "${DAYS:-825}" -out "$out/tls.crt" 2>/dev/null
mv "$out/tls.key.new" "$out/tls.key"
rm -f "$out/tls.csr" "$out/ca.srl"
chmod 0600 "$out/ca.key" "$out/tls.key"
chmod 0644 "$out/ca.crt" "$out/tls.crt"
if [ ! -f "$out/truststore.p12" ]; then
  if command -v keytool >/dev/null; then
    keytool -importcert -noprompt -alias cosmoseal-loopback-ca -file "$out/ca.crt" \
      -keystore "$out/truststore.p12" -storetype PKCS12 -storepass "${STOREPASS:-changeit}" >/dev/null 2>&1 \
      || { echo "make-loopback-tls: keytool failed" >&2; exit 1; }
    chmod 0644 "$out/truststore.p12"
  else
    echo "make-loopback-tls: keytool not found: make $out/truststore.p12 from $out/ca.crt with a JDK" >&2
  fi
fi
echo "make-loopback-tls: $out/tls.crt (localhost, 127.0.0.1), key $out/tls.key, CA $out/ca.crt, truststore $out/truststore.p12"
