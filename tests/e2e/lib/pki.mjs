// Test PKI made with the openssl CLI at test time (nothing is committed): a CA, and leaf
// certificates for localhost + 127.0.0.1 (+ ::1) signed by it: one for the upstream front, one for
// cosmoseal's own listener. EC P-256 keys (fast to make), 2-day validity.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(args, cwd) {
  try {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = err.stderr ? err.stderr.toString() : '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || err.message}`);
  }
}

/**
 * Issues a leaf certificate signed by the CA in `pki`.
 * @param {{dir: string, caCert: string, caKey: string}} pki
 * @param {string} name file prefix, e.g. 'upstream'
 * @param {{dns?: string[], ips?: string[], cn?: string}} [o]
 * @returns {{cert: string, key: string}} file paths (key 0600)
 */
export function issueCert(pki, name, { dns = ['localhost'], ips = ['127.0.0.1', '::1'], cn = 'localhost' } = {}) {
  const { dir } = pki;
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  fs.writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n` +
      `extendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  fs.chmodSync(key, 0o600);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
  openssl([
    'x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', ext, '-out', cert,
  ]);
  fs.rmSync(csr);
  fs.rmSync(ext);
  return { cert, key };
}

/**
 * Creates <dir>/pki with ca.crt/ca.key, upstream.{crt,key} and proxy.{crt,key}.
 * @returns {{dir: string, caCert: string, caKey: string, ca: Buffer,
 *            upstream: {cert: string, key: string}, proxy: {cert: string, key: string}}}
 */
export function createPki(parentDir) {
  const dir = path.join(parentDir, 'pki');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  fs.chmodSync(caKey, 0o600);
  openssl([
    'req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '2', '-subj', '/CN=cosmoseal e2e test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', caCert,
  ]);
  const pki = { dir, caCert, caKey };
  pki.upstream = issueCert(pki, 'upstream');
  pki.proxy = issueCert(pki, 'proxy');
  pki.ca = fs.readFileSync(caCert);
  return pki;
}
