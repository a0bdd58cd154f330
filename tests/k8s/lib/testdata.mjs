// Real test material for the Secrets the manifests name, made the way docs/KUBERNETES.md tells an
// operator to: a random account key, `openssl rand -base64 64` client keys, `cosmoseal keygen`
// for the keyring and the KEK, k8s/capture/make-intercept-ca.sh for the interception CA.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { K8S_DIR } from './kube.mjs';
import { must } from './sys.mjs';

export const randomKey = () => crypto.randomBytes(64).toString('base64');

/**
 * @param {string} dir scratch directory (root-only)
 * @param {string} bin the cosmoseal binary (for keygen)
 * @param {{clients?: string[], hosts?: string[]}} o
 */
export function makeTestSecrets(dir, bin, { clients = ['orders-api'], hosts = ['myaccount.documents.azure.com'] } = {}) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyring = path.join(dir, 'keyring.yaml');
  const kek = path.join(dir, 'kek');
  must(bin, ['keygen', '--keyring', keyring, '--kek-file', kek, '--key', 'pii']);
  must(path.join(K8S_DIR, 'capture', 'make-intercept-ca.sh'), [path.join(dir, 'ca'), ...hosts]);
  return {
    accountKey: randomKey(),
    clientKeys: Object.fromEntries(clients.map((c) => [c, randomKey()])),
    keyring: fs.readFileSync(keyring),
    kek: fs.readFileSync(kek),
    caCert: fs.readFileSync(path.join(dir, 'ca', 'tls.crt')),
    caKey: fs.readFileSync(path.join(dir, 'ca', 'tls.key')),
  };
}

/** The content of key `key` of the Secret `name` (as the manifests name them), or undefined. */
export function secretData(s, name, key) {
  switch (name) {
    case 'cosmoseal-account-key':
      return key === 'account-key' ? s.accountKey : undefined;
    case 'cosmoseal-clients':
      return s.clientKeys[key];
    case 'cosmoseal-keys':
      return { 'keyring.yaml': s.keyring, kek: s.kek }[key];
    case 'cosmoseal-intercept-ca':
      return { 'tls.crt': s.caCert, 'tls.key': s.caKey }[key];
    default:
      return undefined;
  }
}
