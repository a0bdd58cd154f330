// More test certificates for the TLS fault tests (openssl CLI, made at test time): RSA leaves,
// self-signed leaves, and leaves with explicit validity dates (expired / not yet valid), signed
// by the CA of lib/pki.mjs or by another one.

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

function sanOf(dns, ips) {
  return [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
}

function newKey(file, keyType) {
  if (keyType === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
  else openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
  fs.chmodSync(file, 0o600);
}

/**
 * A leaf certificate signed by `pki`'s CA, with options the basic issueCert lacks.
 * @param {{dir: string, caCert: string, caKey: string}} pki
 * @param {string} name file prefix
 * @param {{dns?: string[], ips?: string[], cn?: string, keyType?: 'ec'|'rsa',
 *          notBefore?: string, notAfter?: string}} [o] dates as YYYYMMDDHHMMSSZ (openssl ca)
 * @returns {{cert: string, key: string}}
 */
export function issueLeaf(pki, name, { dns = ['localhost'], ips = ['127.0.0.1', '::1'], cn = 'localhost', keyType = 'ec', notBefore, notAfter } = {}) {
  const { dir } = pki;
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  newKey(key, keyType);
  fs.writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n` +
      `extendedKeyUsage=serverAuth\nsubjectAltName=${sanOf(dns, ips)}\n`,
  );
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
  if (notBefore || notAfter) {
    // `openssl ca` is the 3.0 way to set explicit dates.
    const caDir = path.join(dir, `${name}-ca`);
    fs.mkdirSync(caDir, { recursive: true });
    fs.writeFileSync(path.join(caDir, 'index.txt'), '');
    fs.writeFileSync(path.join(caDir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
    const cnf = path.join(caDir, 'ca.cnf');
    fs.writeFileSync(
      cnf,
      `[ ca ]\ndefault_ca = d\n[ d ]\ndir = ${caDir}\ndatabase = ${caDir}/index.txt\nnew_certs_dir = ${caDir}\n` +
        `serial = ${caDir}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[ p ]\ncommonName = supplied\n`,
    );
    openssl([
      'ca', '-batch', '-config', cnf, '-cert', pki.caCert, '-keyfile', pki.caKey, '-in', csr, '-out', cert, '-notext',
      '-startdate', notBefore ?? '20200101000000Z', '-enddate', notAfter ?? '20200201000000Z', '-extfile', ext,
    ]);
  } else {
    openssl([
      'x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial',
      '-days', '2', '-sha256', '-extfile', ext, '-out', cert,
    ]);
  }
  fs.rmSync(csr);
  fs.rmSync(ext);
  return { cert, key };
}

/** A self-signed leaf (its own issuer, not in any CA bundle) for localhost / 127.0.0.1. */
export function selfSigned(dir, name, { dns = ['localhost'], ips = ['127.0.0.1', '::1'] } = {}) {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  newKey(key, 'ec');
  openssl([
    'req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-subj', '/CN=localhost',
    '-addext', `subjectAltName=${sanOf(dns, ips)}`, '-addext', 'extendedKeyUsage=serverAuth', '-out', cert,
  ]);
  return { cert, key };
}

/** SHA-256 fingerprint (AA:BB:...) of a PEM certificate file, as node's getPeerCertificate() shows it. */
export function fingerprint256(certFile) {
  return openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256']).toString().trim().split('=')[1];
}
