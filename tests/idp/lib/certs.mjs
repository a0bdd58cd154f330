// Client certificates for the certificate credential (an app proves itself with a JWT signed by a
// certificate registered on it): RSA 2048, self-signed, made with the openssl CLI at test time.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * @param {string} dir where the files go
 * @param {string} [name='client']
 * @returns {{cert: string, key: string, pem: string, certPem: string, keyPem: string}} `cert`/`key`
 *   are file paths; `pem` is key + certificate in one file (as ClientCertificateCredential takes it)
 */
export function makeClientCertificate(dir, name = 'client') {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const pem = path.join(dir, `${name}.pem`);
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl req -x509 failed: ${err.stderr?.toString() || err.message}`);
  }
  fs.chmodSync(key, 0o600);
  const keyPem = fs.readFileSync(key, 'utf8');
  const certPem = fs.readFileSync(cert, 'utf8');
  fs.writeFileSync(pem, keyPem + certPem, { mode: 0o600 });
  return { cert, key, pem, certPem, keyPem };
}
