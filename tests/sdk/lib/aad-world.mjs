// What the Entra ID launchers share (tests/sdk/README.md "Entra ID, direct" and "Entra ID, through
// cosmoseal"): their command line, the test world (a PKI, the identity provider tests/idp with one
// app registration holding a secret, a certificate and a federated credential, a projected
// service-account token, the simulator checking `type=aad` tokens), the identity environment the
// SDK suites read (AZURE_*, COSMOSEAL_AAD_*), the JVM's truststore, running the suite with a
// deadline, and the check that the provider issued a token of each kind a suite says it used.
// aad-direct.mjs points the suite at the simulator; aad-apps.mjs puts cosmoseal in between.

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../../idp/lib/idp.mjs';
import { makeClientCertificate } from '../../idp/lib/certs.mjs';
import { startSimulator } from '../../simulator/lib/server.mjs';
import { makeCollection } from '../../simulator/test/helpers.mjs';

/**
 * `NAME.mjs --sdk SDK [--cwd DIR] [--timeout S] [more options] -- COMMAND...`: {values, command,
 * log, tag}. `options` adds parseArgs options. Exits 2 with the usage line when `--` is missing.
 */
export function launcherArgs(name, options = {}) {
  const dash = process.argv.indexOf('--');
  if (dash < 0) {
    process.stderr.write(`usage: ${name}.mjs --sdk NAME [--cwd DIR] [--timeout S] -- COMMAND...\n`);
    process.exit(2);
  }
  const { values } = parseArgs({
    args: process.argv.slice(2, dash),
    options: { sdk: { type: 'string' }, cwd: { type: 'string' }, timeout: { type: 'string', default: '300' }, ...options },
  });
  const tag = `[${name}-${values.sdk}]`;
  return { values, command: process.argv.slice(dash + 1), tag, log: (m) => process.stdout.write(`${tag} ${m}\n`) };
}

/**
 * A fresh world in a temporary folder: PKI, identity provider, the SDK's app registration (secret
 * `<sdk>-secret`, a certificate, a federated credential for system:serviceaccount:apps:<sdk>), the
 * service-account token file, and the simulator (3 ranges, `type=aad` checked against the provider)
 * with database `shop` and container `orders` (partition key /pk), made with the key.
 * @param {object} o
 * @param {string} o.sdk
 * @param {boolean} o.localAuth whether the simulator keeps accepting the account key afterwards
 * @param {string[]} [o.resources] resources the provider knows (others: AADSTS500011); all if absent
 * @returns {Promise<{dir, pki, cert, idp, app, secret, tokenFile, sim, stop}>}
 */
export async function startAadWorld({ sdk, localAuth, resources }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aad-'));
  const pki = createPki(dir);
  const cert = makeClientCertificate(dir, 'app');
  const idp = await startIdp({ pki, ...(resources ? { resources } : {}) });
  const secret = `${sdk}-secret`;
  const app = idp.addApp({
    name: `${sdk}-app`,
    secret,
    certificates: [cert.certPem],
    federatedCredentials: [{ issuer: idp.k8sIssuer, subject: `system:serviceaccount:apps:${sdk}` }],
  });
  const tokenFile = path.join(dir, 'sa-token');
  idp.writeServiceAccountToken(tokenFile, { namespace: 'apps', serviceAccount: sdk, lifetimeSec: 3600 });
  const sim = await startSimulator({
    pki,
    partitions: 3,
    aad: { authorityHost: idp.authorityHost, tenantId: idp.tenantId, ca: pki.ca },
    disableLocalAuth: !localAuth,
  });
  // Databases and containers come from the control plane on accounts without local auth: here
  // the key, briefly.
  sim.setLocalAuth(true);
  await makeCollection(sim, { db: 'shop', coll: 'orders' });
  sim.setLocalAuth(localAuth);
  return {
    dir, pki, cert, idp, app, secret, tokenFile, sim,
    async stop() {
      await sim.stop();
      await idp.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The environment every Entra suite reads: COSMOSEAL_AAD_* (CA, database, container, report file,
 * token file, managed identity endpoint) and AZURE_* for the world's app. For Java, which cannot
 * set its own environment, also the truststore (COSMOSEAL_SDK_TRUSTSTORE(_PASSWORD), a PKCS#12
 * holding the test CA) and IDENTITY_ENDPOINT / IDENTITY_HEADER; AZURE_FEDERATED_TOKEN_FILE is then
 * left out, since with it Java's ManagedIdentityCredential would use workload identity (as on AKS)
 * instead of the endpoint (the suite reads COSMOSEAL_AAD_TOKEN_FILE). Undefined values are removed.
 */
export function aadEnv(sdk, w, extra = {}) {
  let java = {};
  if (sdk === 'java') {
    const file = path.join(w.dir, 'truststore.p12');
    const password = crypto.randomBytes(12).toString('hex');
    execFileSync('keytool', ['-importcert', '-noprompt', '-alias', 'cosmoseal-test-ca', '-file', w.pki.caCert, '-keystore', file, '-storetype', 'PKCS12', '-storepass', password], { stdio: 'ignore' });
    java = { COSMOSEAL_SDK_TRUSTSTORE: file, COSMOSEAL_SDK_TRUSTSTORE_PASSWORD: password, IDENTITY_ENDPOINT: w.idp.identityEndpoint, IDENTITY_HEADER: w.idp.identityHeader, AZURE_FEDERATED_TOKEN_FILE: undefined };
  }
  const env = {
    ...process.env,
    COSMOSEAL_AAD_CA_FILE: w.pki.caCert,
    COSMOSEAL_AAD_DATABASE: 'shop',
    COSMOSEAL_AAD_CONTAINER: 'orders',
    COSMOSEAL_AAD_REPORT: path.join(w.dir, 'report.json'),
    AZURE_AUTHORITY_HOST: w.idp.authorityHost,
    AZURE_TENANT_ID: w.idp.tenantId,
    AZURE_CLIENT_ID: w.app.clientId,
    AZURE_CLIENT_SECRET: w.secret,
    AZURE_CLIENT_CERTIFICATE_PATH: w.cert.pem,
    AZURE_FEDERATED_TOKEN_FILE: w.tokenFile,
    COSMOSEAL_AAD_TOKEN_FILE: w.tokenFile,
    COSMOSEAL_AAD_IDENTITY_ENDPOINT: w.idp.identityEndpoint,
    COSMOSEAL_AAD_IDENTITY_HEADER: w.idp.identityHeader,
    ...extra,
    ...java,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
}

/** Runs the suite (stdout/stderr inherited) with a deadline: its exit code, or null on timeout. */
export async function runSuite(command, { cwd, env, timeoutS, log }) {
  const child = spawn(command[0], command.slice(1), { cwd: cwd ?? process.cwd(), stdio: ['ignore', 'inherit', 'inherit'], env });
  let timedOut = false;
  const timer = setTimeout(() => {
    log(`FAIL: timed out after ${timeoutS} s`);
    timedOut = true;
    child.kill('SIGKILL');
  }, Number(timeoutS) * 1000);
  const code = await new Promise((resolve) => {
    child.on('error', (e) => {
      log(`FAIL: could not start ${command[0]}: ${e.message}`);
      resolve(127);
    });
    child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1)));
  });
  clearTimeout(timer);
  return timedOut ? null : code;
}

/** The suite's report (COSMOSEAL_AAD_REPORT), or null when it wrote none. */
export function readReport(w) {
  const file = path.join(w.dir, 'report.json');
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
}

/** The provider's token kind for each credential a suite reports (report.credentials). */
export const ISSUED_KIND = { secret: 'secret', certificate: 'certificate', workload: 'federated', managed: 'mi-appservice' };

/**
 * Logs the provider's statistics and FAILs (returns false) when a credential the suite reports
 * having used got no token of its kind from the provider.
 */
export function checkIssued(w, report, log) {
  const stats = w.idp.stats();
  log(`provider: ${stats.tokens} tokens (${Object.entries(stats.byKind).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  let ok = true;
  for (const kind of report?.credentials ?? []) {
    if (!stats.byKind[ISSUED_KIND[kind]]) {
      log(`FAIL: the suite used the ${kind} credential but the provider issued no such token`);
      ok = false;
    }
  }
  return ok;
}
