#!/usr/bin/env node
// Entra ID, through cosmoseal (tests/sdk/README.md): one SDK with its own language's identity
// library, authority host = the test identity provider (tests/idp), through the built cosmoseal,
// which verifies the apps' tokens itself (top-level `entra:`, clients mapped by object id) and
// seals the protected fields before the simulator sees them. Each run is a cell of the client ×
// upstream matrix; `--upstream both` (the default) runs the suite twice:
//   key    cosmoseal signs upstream with the account key (simulator with local auth enabled)
//   entra  cosmoseal signs upstream with an Entra token of its own (`upstream.auth` client_secret
//          at the same provider; simulator with local auth disabled)
//
//   node tests/sdk/lib/aad-apps.mjs --sdk python --cwd tests/sdk/python -- .venv/bin/python aad_apps.py
//
// The provider knows one resource, https://cosmos.azure.com, as Entra does: the SDKs ask first
// for <endpoint host>/.default (cosmoseal's host), get AADSTS500011 and fall back to
// https://cosmos.azure.com/.default, the audience cosmoseal accepts by default.
//
// The SDK command gets what aad-direct.mjs gives (aad-world.mjs: AZURE_*, COSMOSEAL_AAD_CA_FILE,
// _DATABASE, _CONTAINER, _REPORT, _TOKEN_FILE, _IDENTITY_*; Java: truststore and IDENTITY_*), with
//   COSMOSEAL_AAD_ENDPOINT        cosmoseal (https, test CA)
//   COSMOSEAL_AAD_APPS            1 (the Java suite runs only then)
//   COSMOSEAL_AAD_UPSTREAM        key | entra
//   COSMOSEAL_AAD_RUN             a run id, part of every canary
//   COSMOSEAL_AAD_CLIENT_KEY      the key of client "keyed" (a client-key app beside the Entra ones)
//   COSMOSEAL_AAD_STRANGER_ID / _SECRET   an app the provider knows but no client names
//   COSMOSEAL_AAD_CONTROL         http://127.0.0.1:<port>/ : GET /stored?id=ID (the document as the
//                                 simulator stores it), POST /canaries [..], GET /canary-hits
// The policy of shop/orders: /ssn deterministic, /address randomized (key pii); /pk, /n plain.
// Clients: "app" (the app registration: secret, certificate, workload identity), "mi" (the
// managed identity), both by object id, and "keyed" (client key).
//
// Afterwards the launcher checks, per cell: no canary reached the simulator; the audit log has
// lines of "app" and "mi" carrying `oid:<object id>`, lines of "keyed" without one, and the
// stranger's 403 auth.unknown_identity with nothing sent upstream; the simulator saw only
// cosmoseal's credential (the account key, or cosmoseal's own object id, never an app's token);
// the provider issued a token of each kind the suite reports. Exit code 0 only when every cell passed.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startCosmoseal } from '../../e2e/lib/cosmoseal.mjs';
import { makeKeyring } from '../../e2e/lib/enc.mjs';
import { randomKey, writeKeyFile } from '../../e2e/lib/keys.mjs';
import { readAudit } from '../../e2e/lib/ops.mjs';
import { aadEnv, checkIssued, launcherArgs, readReport, runSuite, startAadWorld } from './aad-world.mjs';
import { SimulatorUpstream } from './simulator-upstream.mjs';

const { values, command, log } = launcherArgs('aad-apps', { upstream: { type: 'string', default: 'both' } });
const sdk = values.sdk;
const cells = values.upstream === 'both' ? ['key', 'entra'] : [values.upstream];
if (!cells.every((c) => c === 'key' || c === 'entra')) {
  log(`FAIL: --upstream must be key, entra or both, not ${values.upstream}`);
  process.exit(2);
}
const FIELDS = [
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
  { path: '/address', mode: 'randomized', key: 'pii' },
];
const COSMOS = 'https://cosmos.azure.com';

function strip(doc) {
  return doc ? Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_'))) : null;
}

/** The suite's window on the simulator: stored documents and canaries (plain HTTP, loopback). */
function startControl(up) {
  const routes = {
    'GET /stored': (q) => ({ doc: strip(up.readAllStored('shop', 'orders').find((d) => d.id === q.get('id')) ?? null) }),
    'POST /canaries': (_q, body) => {
      const list = JSON.parse(body || '[]');
      for (const s of list) up.addCanary(String(s));
      return { registered: list.length, total: up.canaries.length };
    },
    'GET /canary-hits': () => up.canaryHits,
  };
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const u = new URL(req.url, 'http://control');
      const fn = routes[`${req.method} ${u.pathname}`];
      let status = 200;
      let out;
      try {
        out = fn ? fn(u.searchParams, Buffer.concat(parts).toString('utf8')) : ((status = 404), { error: `no route ${req.method} ${u.pathname}` });
      } catch (e) {
        status = 500;
        out = { error: String(e?.stack || e) };
      }
      const b = Buffer.from(JSON.stringify(out));
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': b.length });
      res.end(b);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** One cell: a fresh world and cosmoseal, the suite, the checks. {ok, report}. */
async function runCell(upstream) {
  const clog = (m) => log(`[upstream ${upstream}] ${m}`);
  const w = await startAadWorld({ sdk, localAuth: upstream === 'key', resources: [COSMOS] });
  const { idp, sim, pki } = w;
  let proxy = null;
  let control = null;
  let ok = true;
  let report = null;
  const fail = (m) => {
    clog(`FAIL: ${m}`);
    ok = false;
  };
  try {
    const stranger = idp.addApp({ name: 'stranger', secret: 'stranger-secret' });
    const mi = idp.systemIdentity;
    const cdir = path.join(w.dir, 'cosmoseal');
    fs.mkdirSync(cdir, { mode: 0o700 });
    const keyedKey = randomKey();
    const keyedFile = writeKeyFile(path.join(cdir, 'client-keyed-own.key'), keyedKey);
    let upstreamExtra = {};
    let own = null;
    if (upstream === 'entra') {
      // cosmoseal's own identity at the account: an app registration with a client secret.
      own = idp.addApp({ name: 'cosmoseal', secret: 'cosmoseal-secret' });
      const secretFile = path.join(cdir, 'upstream-secret');
      fs.writeFileSync(secretFile, 'cosmoseal-secret\n', { mode: 0o600 });
      upstreamExtra = {
        auth: {
          type: 'client_secret', tenant_id: idp.tenantId, client_id: own.clientId, authority_host: idp.authorityHost,
          secret_file: secretFile, scope: `${COSMOS}/.default`, ca_file: pki.caCert,
        },
      };
    }
    const rw = [{ database: 'shop', containers: ['orders'], access: 'read-write' }];
    proxy = await startCosmoseal({
      dir: cdir,
      front: { url: sim.endpoint },
      // key: the real account key; entra: written but unused (upstream.auth replaces key_file).
      accountKey: upstream === 'key' ? sim.key : randomKey(),
      pki,
      clients: [],
      tls: true,
      keys: await makeKeyring(cdir, ['pii']),
      policies: [{ database: 'shop', container: 'orders', partition_key: '/pk', fields: FIELDS }],
      upstreamExtra,
      extra: {
        workers: 1,
        audit: { path: 'audit.log' },
        entra: { tenant_id: idp.tenantId, authority_host: `${idp.authorityHost}/`, ca_file: pki.caCert },
        clients: [
          { name: 'app', entra: { object_id: w.app.objectId }, allow: rw },
          { name: 'mi', entra: { object_id: mi.objectId }, allow: rw },
          { name: 'keyed', key_file: keyedFile, allow: rw },
        ],
      },
      readyTimeoutMs: 20000,
    });
    const up = new SimulatorUpstream(sim);
    control = await startControl(up);
    const setup = sim.requests().length;
    clog(`cosmoseal ${proxy.url} -> simulator ${sim.endpoint} (local auth ${upstream === 'key' ? 'enabled' : 'disabled'})`);

    const code = await runSuite(command, {
      cwd: values.cwd,
      timeoutS: values.timeout,
      log: clog,
      env: aadEnv(sdk, w, {
        COSMOSEAL_AAD_ENDPOINT: proxy.url,
        COSMOSEAL_AAD_APPS: '1',
        COSMOSEAL_AAD_UPSTREAM: upstream,
        COSMOSEAL_AAD_RUN: crypto.randomBytes(4).toString('hex'),
        COSMOSEAL_AAD_CLIENT_KEY: keyedKey,
        COSMOSEAL_AAD_STRANGER_ID: stranger.clientId,
        COSMOSEAL_AAD_STRANGER_SECRET: 'stranger-secret',
        COSMOSEAL_AAD_CONTROL: `http://127.0.0.1:${control.address().port}/`,
      }),
    });
    if (code !== 0) fail(code === null ? 'the suite timed out' : `the suite exited ${code}`);
    report = readReport(w);
    if (!report) fail('the suite wrote no report');

    // The simulator: nothing but cosmoseal's credential, no canary.
    const reqs = sim.requests().slice(setup);
    const keyed = reqs.filter((r) => r.authType === 'master' && r.verified);
    const aad = reqs.filter((r) => r.authType === 'aad' && r.verified);
    clog(`simulator: ${reqs.length} requests, ${keyed.length} key-signed accepted, ${aad.length} with a verified Entra token`);
    if (upstream === 'key' && (keyed.length === 0 || aad.length)) fail('the simulator did not see only the account key');
    if (upstream === 'entra') {
      if (aad.length === 0 || keyed.length) fail('the simulator did not see only Entra tokens');
      const foreign = aad.filter((r) => r.principal !== own.objectId);
      if (foreign.length) fail(`${foreign.length} upstream request(s) carried another identity than cosmoseal's (${foreign[0].principal})`);
    }
    const hits = up.canaryHits;
    clog(`canaries: ${up.canaries.length} registered, ${hits.length} hits`);
    if (up.canaries.length === 0) fail('the suite registered no canary');
    for (const h of hits.slice(0, 10)) fail(`canary ${h.canary} reached the simulator in ${h.where} (${h.form}) of request #${h.seq}`);

    // The audit log: identities, the stranger's refusal, the client-key app.
    const audit = readAudit(path.join(cdir, 'audit.log'));
    const of = (c) => audit.filter((l) => l.client === c);
    const used = new Set(report?.credentials ?? []);
    for (const [client, oid, needed] of [['app', w.app.objectId, ['secret', 'certificate', 'workload', 'default'].some((k) => used.has(k))], ['mi', mi.objectId, used.has('managed')]]) {
      const lines = of(client);
      if (needed && lines.length === 0) fail(`no audit line for client ${client}`);
      const wrong = lines.filter((l) => l.identity !== `oid:${oid}`);
      if (wrong.length) fail(`audit lines of ${client} without identity oid:${oid}: ${JSON.stringify(wrong[0])}`);
    }
    if (of('keyed').length === 0) fail('no audit line for client keyed');
    if (of('keyed').some((l) => l.identity)) fail('an audit line of the client-key app carries an identity');
    const refused = audit.filter((l) => l.detail === 'auth.unknown_identity');
    if (refused.length === 0) fail('no audit line with auth.unknown_identity (the stranger)');
    if (refused.some((l) => l.status !== 403 || l.upstream_status !== 0 || l.client !== '')) fail(`unknown identity audited as ${JSON.stringify(refused[0])}`);
    clog(`audit: ${audit.length} lines (app ${of('app').length}, mi ${of('mi').length}, keyed ${of('keyed').length}, unknown identity ${refused.length})`);
    if (!checkIssued(w, report, clog)) ok = false;
  } catch (e) {
    fail(e?.stack || String(e));
  } finally {
    if (control) await new Promise((r) => control.close(() => r()));
    if (proxy) {
      try {
        await proxy.stop();
      } catch (e) {
        fail(e.message);
        await proxy.kill();
      }
    }
    if (!ok && proxy) clog(`cosmoseal log tail:\n${proxy.logTail(30)}`);
    await w.stop();
  }
  return { ok, report };
}

let ok = true;
const results = {};
for (const upstream of cells) {
  const r = await runCell(upstream);
  ok &&= r.ok;
  for (const x of r.report?.results ?? []) (results[x.name] ??= {})[upstream] = x.outcome;
}
log(`client × upstream matrix (${sdk}):`);
log(`  ${'scenario'.padEnd(44)} ${cells.map((c) => `upstream ${c}`.padEnd(16)).join('')}`);
for (const [name, by] of Object.entries(results)) log(`  ${name.padEnd(44)} ${cells.map((c) => (by[c] ?? '-').padEnd(16)).join('')}`);
log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
