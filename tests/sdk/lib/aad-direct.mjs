#!/usr/bin/env node
// Direct Entra ID check of one SDK (tests/sdk/README.md "Entra ID, direct"): the SDK with its own
// language's identity library, authority host = the test identity provider (tests/idp), straight
// against the simulator with local auth disabled (no cosmoseal). Proves the test world is what
// the real identity libraries and SDKs expect, before cosmoseal stands between them.
//
//   node tests/sdk/lib/aad-direct.mjs --sdk python --cwd tests/sdk/python -- .venv/bin/python aad_direct.py
//
// The SDK command gets (environment):
//   COSMOSEAL_AAD_ENDPOINT      the simulator (https, test CA), local auth disabled
//   COSMOSEAL_AAD_CA_FILE       the test CA (IdP and simulator)
//   COSMOSEAL_AAD_KEY           the account key (must be refused: 401)
//   COSMOSEAL_AAD_DATABASE / COSMOSEAL_AAD_CONTAINER   made beforehand (partition key /pk)
//   AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
//   AZURE_CLIENT_CERTIFICATE_PATH (key + certificate PEM), AZURE_FEDERATED_TOKEN_FILE (a projected
//   service-account token the app's federated credential trusts)
//   COSMOSEAL_AAD_IDENTITY_ENDPOINT / COSMOSEAL_AAD_IDENTITY_HEADER   the managed identity endpoint
//   (App Service style; not exported as IDENTITY_* so that other credentials do not pick it up)
// Afterwards the launcher checks the simulator's log: requests arrived, every one after set-up
// carried a verified AAD token (none was key-signed and accepted), and the provider issued tokens
// of each kind the suite reported using. Exit code: the suite's, or 1 when a check failed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../../idp/lib/idp.mjs';
import { makeClientCertificate } from '../../idp/lib/certs.mjs';
import { startSimulator } from '../../simulator/lib/server.mjs';
import { call, makeCollection } from '../../simulator/test/helpers.mjs';

const dash = process.argv.indexOf('--');
if (dash < 0) {
  process.stderr.write('usage: aad-direct.mjs --sdk NAME [--cwd DIR] [--timeout S] -- COMMAND...\n');
  process.exit(2);
}
const { values } = parseArgs({
  args: process.argv.slice(2, dash),
  options: { sdk: { type: 'string' }, cwd: { type: 'string' }, timeout: { type: 'string', default: '300' } },
});
const command = process.argv.slice(dash + 1);
const tag = `[aad-direct-${values.sdk}]`;
const log = (m) => process.stdout.write(`${tag} ${m}\n`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aad-direct-'));
const pki = createPki(dir);
const cert = makeClientCertificate(dir, 'app');
const idp = await startIdp({ pki });
const app = idp.addApp({
  name: `${values.sdk}-app`,
  secret: `${values.sdk}-secret`,
  certificates: [cert.certPem],
  federatedCredentials: [{ issuer: idp.k8sIssuer, subject: `system:serviceaccount:apps:${values.sdk}` }],
});
const tokenFile = path.join(dir, 'sa-token');
idp.writeServiceAccountToken(tokenFile, { namespace: 'apps', serviceAccount: values.sdk, lifetimeSec: 3600 });
const sim = await startSimulator({ pki, partitions: 3, aad: { authorityHost: idp.authorityHost, tenantId: idp.tenantId, ca: pki.ca }, disableLocalAuth: true });
// Databases and containers come from the control plane on such accounts: here the key, briefly.
sim.setLocalAuth(true);
await makeCollection(sim, { db: 'shop', coll: 'orders' });
sim.setLocalAuth(false);
const setup = sim.requests().length;

let failed = false;
const child = spawn(command[0], command.slice(1), {
  cwd: values.cwd ?? process.cwd(),
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    COSMOSEAL_AAD_ENDPOINT: sim.endpoint,
    COSMOSEAL_AAD_CA_FILE: pki.caCert,
    COSMOSEAL_AAD_KEY: sim.key,
    COSMOSEAL_AAD_DATABASE: 'shop',
    COSMOSEAL_AAD_CONTAINER: 'orders',
    COSMOSEAL_AAD_REPORT: path.join(dir, 'report.json'),
    AZURE_AUTHORITY_HOST: idp.authorityHost,
    AZURE_TENANT_ID: idp.tenantId,
    AZURE_CLIENT_ID: app.clientId,
    AZURE_CLIENT_SECRET: `${values.sdk}-secret`,
    AZURE_CLIENT_CERTIFICATE_PATH: cert.pem,
    AZURE_FEDERATED_TOKEN_FILE: tokenFile,
    COSMOSEAL_AAD_IDENTITY_ENDPOINT: idp.identityEndpoint,
    COSMOSEAL_AAD_IDENTITY_HEADER: idp.identityHeader,
  },
});
const timer = setTimeout(() => {
  log(`FAIL: timed out after ${values.timeout} s`);
  failed = true;
  child.kill('SIGKILL');
}, Number(values.timeout) * 1000);
const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
clearTimeout(timer);

try {
  const reqs = sim.requests().slice(setup);
  const acceptedKeys = reqs.filter((r) => r.authType === 'master' && r.verified);
  const aad = reqs.filter((r) => r.authType === 'aad' && r.verified);
  const stats = idp.stats();
  log(`simulator: ${reqs.length} requests, ${aad.length} with a verified AAD token, ${acceptedKeys.length} key-signed accepted`);
  log(`provider: ${stats.tokens} tokens (${Object.entries(stats.byKind).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  if (reqs.length === 0 || aad.length === 0) {
    log('FAIL: no AAD-authenticated request reached the simulator');
    failed = true;
  }
  if (acceptedKeys.length) {
    log('FAIL: a key-signed request was accepted with local auth disabled');
    failed = true;
  }
  const reportFile = path.join(dir, 'report.json');
  if (fs.existsSync(reportFile)) {
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
    for (const kind of report.credentials ?? []) {
      const k = { secret: 'secret', certificate: 'certificate', workload: 'federated', managed: 'mi-appservice' }[kind];
      if (!stats.byKind[k]) {
        log(`FAIL: the suite used the ${kind} credential but the provider issued no such token`);
        failed = true;
      }
    }
  }
  // The simulator must not serve a key any more.
  const k = await call(sim, { path: '/dbs/shop' });
  if (k.status !== 401) {
    log(`FAIL: key-signed request answered ${k.status}`);
    failed = true;
  }
} finally {
  await sim.stop();
  await idp.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
if (code !== 0) log(`FAIL: the suite exited ${code}`);
const ok = code === 0 && !failed;
log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
