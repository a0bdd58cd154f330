#!/usr/bin/env node
// Starts the test IdP and a Key Vault (and a Managed HSM) for tools outside node (bench/kek-startup):
//   node tests/keyvault/bin/keyvault.mjs --dir DIR [--key NAME:KTY[:SIZE]]... [--hsm-key NAME]...
// Prints one JSON line: vaultUrl, hsmUrl, tenantId, authorityHost, clientId, secretFile, caFile,
// kids {name: kid}. An app with a client secret (in secretFile) may use every key. Runs until
// stdin closes.
import fs from 'node:fs';
import path from 'node:path';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../../idp/lib/idp.mjs';
import { startKeyVault } from '../lib/keyvault.mjs';

const args = process.argv.slice(2);
let dir = null;
const keys = [];
const hsmKeys = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--dir') dir = args[++i];
  else if (args[i] === '--key') keys.push(args[++i]);
  else if (args[i] === '--hsm-key') hsmKeys.push(args[++i]);
  else {
    console.error(`keyvault: unknown argument ${args[i]}`);
    process.exit(2);
  }
}
if (!dir) {
  console.error('keyvault: --dir DIR is required');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const pki = createPki(dir);
const idp = await startIdp({ pki });
const secret = 'keyvault-bench-secret';
const app = idp.addApp({ name: 'cosmoseal', secret });
const secretFile = path.join(dir, 'client.secret');
fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
const common = { pki, jwksUri: idp.jwksUri, issuer: idp.issuer, tenantId: idp.tenantId };
const vault = await startKeyVault(common);
const hsm = await startKeyVault({ ...common, kind: 'managedhsm' });
const kids = {};
for (const k of keys) {
  const [name, kty = 'RSA', size] = k.split(':');
  kids[name] = vault.createKey(name, { kty, size: size ? Number(size) : undefined }).kid;
}
for (const name of hsmKeys) kids[name] = hsm.createKey(name, { kty: 'oct-HSM' }).kid;
console.log(JSON.stringify({
  vaultUrl: vault.url, hsmUrl: hsm.url, tenantId: idp.tenantId, authorityHost: idp.authorityHost,
  clientId: app.clientId, secretFile, caFile: pki.caCert, kids, pid: process.pid,
}));
process.stdin.resume();
process.stdin.on('end', async () => {
  await vault.stop();
  await hsm.stop();
  await idp.stop();
  process.exit(0);
});
