#!/usr/bin/env node
// Migration benchmark (issue 17 item 6; docs/MIGRATION.md, docs/LOAD_TESTING.md "Migration benchmark"):
// documents/s and request units per document of `cosmoseal migrate encrypt`, `rotate`, `copy` (into
// a container whose policy also seals the partition key) and `verify --against` (of that copy)
// against the fake upstream (bench/harness cosmoseal-fake-upstream: one range, plain HTTP,
// signatures verified) and the simulator (tests/simulator: 4 ranges, TLS, signatures verified).
//
//   node bench/migrate/run.mjs [--docs 5000] [--threads 1,4] [--only fake|sim] [--json FILE]
//
// Needs build/proxy/cosmoseal (or $COSMOSEAL_BIN), build/bench/harness/cosmoseal-fake-upstream
// (or $FAKE_UPSTREAM_BIN) and the node_modules of tests/e2e and tests/simulator. Prints a table
// and one JSON line per row.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const e2e = (m) => import(path.join(root, 'tests', 'e2e', 'lib', m));
const { buildConfig, writeConfig, runCosmoseal } = await e2e('cosmoseal.mjs');
const { signedHeaders } = await e2e('auth.mjs');
const { randomKey, writeKeyFile } = await e2e('keys.mjs');
const { makeKeyring } = await e2e('enc.mjs');
const { createPki } = await e2e('pki.mjs');
const { startSimulator } = await import(path.join(root, 'tests', 'simulator', 'lib', 'server.mjs'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const DOCS = Number(opt('--docs', '5000'));
const THREADS = opt('--threads', '1,4').split(',').map(Number);
const ONLY = opt('--only', '');
const JSON_OUT = opt('--json', '');
const BIN = process.env.COSMOSEAL_BIN || path.join(root, 'build', 'proxy', 'cosmoseal');
const FAKE = process.env.FAKE_UPSTREAM_BIN || path.join(root, 'build', 'bench', 'harness', 'cosmoseal-fake-upstream');

const doc = (i) => ({
  id: `d${i}`,
  tenant: `t${i % 50}`,
  ssn: `${100000000 + i}`,
  note: `note ${i} `.repeat(8),
  n: i,
  profile: { email: `user${i}@example.com`, age: i % 90 },
  tags: ['x', 'y', { z: i % 7 }],
});

function request(base, agent, method, p, key, body, extra = {}) {
  const u = new URL(p, base);
  const mod = u.protocol === 'https:' ? https : http;
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = mod.request(u, {
      method,
      agent,
      headers: {
        ...signedHeaders({ method, path: u.pathname, key }),
        ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        ...extra,
      },
    }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function seed(base, agent, key) {
  await request(base, agent, 'POST', '/dbs', key, { id: 'bench' });
  await request(base, agent, 'POST', '/dbs/bench/colls', key, { id: 'items', partitionKey: { paths: ['/tenant'], kind: 'Hash', version: 2 } });
  // The copy's target (the migrator does not create containers).
  await request(base, agent, 'POST', '/dbs/bench/colls', key, { id: 'items_sealed', partitionKey: { paths: ['/tenant'], kind: 'Hash', version: 2 } });
  let next = 0;
  const worker = async () => {
    while (next < DOCS) {
      const d = doc(next++);
      const r = await request(base, agent, 'POST', '/dbs/bench/colls/items/docs', key, d, { 'x-ms-documentdb-partitionkey': JSON.stringify([d.tenant]) });
      if (r.status !== 201) throw new Error(`seed ${d.id}: ${r.status} ${r.body}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

function migrate(config, op, extra, container = 'items') {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['migrate', op, '--config', config, '--database', 'bench', '--container', container, '--progress', 'json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => {
      const summary = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.event === 'summary');
      if (code !== 0 || !summary) reject(new Error(`migrate ${op} exit ${code}: ${err}`));
      else resolve(summary);
    });
  });
}

// The config needs an app client; the migrator never uses it (it signs with the account key).
const clientKeyFile = (dir) => writeKeyFile(path.join(dir, 'client.key'), randomKey());

const rows = [];
function row(target, op, threads, s) {
  const r = {
    target,
    operation: op,
    threads,
    documents: s.scanned,
    written: s.written,
    seconds: s.seconds,
    docs_per_second: Math.round(s.scanned / s.seconds),
    ru_per_document: Number((s.request_units / s.scanned).toFixed(3)),
    requests_per_document: Number((s.requests / s.scanned).toFixed(3)),
    throttled_429: s.throttled_429,
  };
  rows.push(r);
  console.log(JSON.stringify(r));
}

async function runMatrix(target, configOf, keys, reseed) {
  for (const threads of THREADS) {
    await reseed();
    const enc = await migrate(configOf(), 'encrypt', ['--job', `enc-${threads}-${Date.now()}`, '--threads', String(threads)]);
    row(target, 'encrypt', threads, enc);
    const kg = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', 'pii']);
    if (kg.code !== 0) throw new Error(kg.stderr);
    const rot = await migrate(configOf(), 'rotate', ['--job', `rot-${threads}-${Date.now()}`, '--threads', String(threads)]);
    row(target, 'rotate', threads, rot);
    const copy = await migrate(configOf(), 'copy', ['--to-container', 'items_sealed', '--job', `copy-${threads}-${Date.now()}`, '--threads', String(threads)]);
    row(target, 'copy', threads, copy);
    const ver = await migrate(configOf(), 'verify', ['--against', 'items', '--threads', String(threads)], 'items_sealed');
    row(target, 'verify-copy', threads, ver);
  }
}

const fields = [{ path: '/ssn', mode: 'deterministic', key: 'pii' }, { path: '/note', mode: 'randomized', key: 'pii' }, { path: '/profile/email', mode: 'deterministic', key: 'pii' }];
const policies = [
  { database: 'bench', container: 'items', fields },
  { database: 'bench', container: 'items_sealed', fields: [{ path: '/tenant', mode: 'deterministic', key: 'pii' }, ...fields] },
];

if (ONLY !== 'sim') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-migrate-fake-'));
  const accountKey = randomKey();
  const keyFile = writeKeyFile(path.join(dir, 'account.key'), accountKey);
  const portFile = path.join(dir, 'port');
  let fake;
  let base;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const start = async () => {
    fake?.kill('SIGTERM');
    if (fake) await new Promise((r) => fake.once('close', r));
    fs.rmSync(portFile, { force: true });
    fake = spawn(FAKE, ['--port', '0', '--port-file', portFile, '--verify-key', keyFile, '--quiet'], { stdio: 'ignore' });
    while (!fs.existsSync(portFile) || !fs.readFileSync(portFile, 'utf8').trim()) await sleep(50);
    base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
    await seed(base, agent, accountKey);
  };
  const keys = await makeKeyring(dir, ['pii']);
  await start();
  const config = writeConfig(path.join(dir, 'cosmoseal.yaml'), buildConfig({
    port: 1, adminPort: 2, tls: null, upstreamEndpoint: `${base}/`, accountKeyFile: keyFile,
    clients: [{ name: 'app', key_file: clientKeyFile(dir), allow: [{ database: 'bench', containers: ['*'], access: 'read-write' }] }],
    keys, policies, upstreamExtra: { allow_insecure_http: true },
  }));
  let first = true;
  await runMatrix('fake-upstream', () => config, keys, async () => {
    if (!first) {
      await start();
      const text = fs.readFileSync(config, 'utf8').replace(/endpoint: .*/, `endpoint: ${base}/`);
      fs.writeFileSync(config, text);
    }
    first = false;
  });
  fake.kill('SIGTERM');
  agent.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

if (ONLY !== 'fake') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-migrate-sim-'));
  const pki = createPki(dir);
  const keys = await makeKeyring(dir, ['pii']);
  let sim;
  const agent = new https.Agent({ ca: pki.ca, keepAlive: true, maxSockets: 32 });
  let config;
  await runMatrix('simulator', () => config, keys, async () => {
    await sim?.stop();
    sim = await startSimulator({ partitions: 4, pki });
    await seed(sim.endpoint, agent, sim.key);
    const keyFile = writeKeyFile(path.join(dir, 'account.key'), sim.key);
    config = writeConfig(path.join(dir, 'cosmoseal.yaml'), buildConfig({
      port: 1, adminPort: 2, tls: null, upstreamEndpoint: sim.endpoint, accountKeyFile: keyFile, caFile: pki.caCert,
      clients: [{ name: 'app', key_file: clientKeyFile(dir), allow: [{ database: 'bench', containers: ['*'], access: 'read-write' }] }],
      keys, policies,
    }));
  });
  await sim?.stop();
  agent.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

console.log('');
console.log(`cosmoseal migrate, ${DOCS} documents (~400 B, 3 protected fields), ${os.cpus().length} CPUs`);
console.log('target          operation  threads  docs/s   RU/doc  req/doc  seconds');
for (const r of rows) {
  console.log(`${r.target.padEnd(15)} ${r.operation.padEnd(10)} ${String(r.threads).padStart(7)} ${String(r.docs_per_second).padStart(7)} ${r.ru_per_document.toFixed(2).padStart(8)} ${r.requests_per_document.toFixed(2).padStart(8)} ${r.seconds.toFixed(2).padStart(8)}`);
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(rows, null, 2));
process.exit(0);
