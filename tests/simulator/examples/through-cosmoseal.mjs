#!/usr/bin/env node
// Example (not a ctest): the real @azure/cosmos SDK through cosmoseal to the simulator, with a
// field policy (deterministic /ssn, randomized /note), then checks that only ciphertext was
// stored and that no canary reached the simulator. Shows how the pieces wire together: the
// simulator reuses the e2e PKI (its `upstream` certificate) so cosmoseal trusts it, and
// cosmoseal is started with tests/e2e/lib/cosmoseal.mjs. Exit 0 when every step passed.
//   COSMOSEAL_BIN=build/proxy/cosmoseal node tests/simulator/examples/through-cosmoseal.mjs

import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CosmosClient, ChangeFeedStartFrom, BulkOperationType } from '@azure/cosmos';
import { startSimulator } from '../lib/server.mjs';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startCosmoseal } from '../../e2e/lib/cosmoseal.mjs';
import { randomKey } from '../../e2e/lib/keys.mjs';
import { makeKeyring } from '../../e2e/lib/enc.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-through-cosmoseal-'));
const pki = createPki(dir);
const sim = await startSimulator({ partitions: 3, pki });
const appKey = randomKey();
const proxy = await startCosmoseal({
  dir,
  front: { url: sim.endpoint },
  accountKey: sim.key,
  pki,
  clients: [{ name: 'app', key: appKey }],
  keys: await makeKeyring(dir, ['pii']),
  policies: [{ database: 'shop', container: 'orders', fields: [{ path: '/ssn', mode: 'deterministic', key: 'pii' }, { path: '/note', mode: 'randomized', key: 'pii' }] }],
});
const agent = new https.Agent({ ca: pki.ca, keepAlive: true });
const client = new CosmosClient({ endpoint: proxy.url, key: appKey, agent });
const canaries = [];
const canary = (s) => (canaries.push(s), s);
let failed = 0;
async function step(name, fn) {
  try {
    console.log(`ok    ${name} ${(await fn()) ?? ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${e.code ?? ''} ${String(e.message).split('\n')[0]}`);
  }
}

let c;
await step('create database and container', async () => {
  const { database } = await client.databases.createIfNotExists({ id: 'shop' });
  ({ container: c } = await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/pk'] } }));
});
await step('create 12 documents', async () => {
  for (let i = 0; i < 12; i++) await c.items.create({ id: `d${i}`, pk: `p${i % 4}`, n: i, ssn: canary(`SSN-${1000 + i}`), note: canary(`NOTE-${i}-secret`) });
});
await step('point read decrypts', async () => (await c.item('d1', 'p1').read()).resource.ssn);
await step('equality on a deterministic field, cross-partition', async () => {
  const r = await c.items.query({ query: 'SELECT VALUE c.id FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: 'SSN-1005' }] }).fetchAll();
  if (JSON.stringify(r.resources) !== '["d5"]') throw new Error(JSON.stringify(r.resources));
  return r.resources;
});
await step('cross-partition ORDER BY', async () => (await c.items.query('SELECT c.n FROM c ORDER BY c.n DESC', { maxItemCount: 5 }).fetchAll()).resources.map((d) => d.n).join(','));
await step('cross-partition COUNT', async () => (await c.items.query('SELECT VALUE COUNT(1) FROM c').fetchAll()).resources);
await step('change feed from the beginning', async () => {
  const it = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
  let n = 0;
  for (let i = 0; i < 10; i++) {
    const r = await it.readNext();
    n += r.result.length;
    if (r.statusCode === 304) break;
  }
  return n;
});
await step('bulk', async () =>
  (await c.items.executeBulkOperations([0, 1, 2, 3].map((i) => ({ operationType: BulkOperationType.Create, partitionKey: `q${i}`, resourceBody: { id: `k${i}`, pk: `q${i}`, ssn: canary(`SSN-BULK-${i}`) } }))))
    .map((r) => r.response?.statusCode)
    .join(','),
);
await step('transactional batch', async () =>
  (await c.items.batch([{ operationType: 'Create', resourceBody: { id: 'b1', pk: 'pb', ssn: canary('SSN-BATCH-1') } }, { operationType: 'Read', id: 'b1' }], 'pb')).result.map((r) => r.statusCode).join(','),
);
await step('a 429 from the service is retried by the SDK through cosmoseal', async () => {
  sim.addFault({ count: 1, retryAfterMs: 20, match: { op: 'read' } });
  return (await c.item('d3', 'p3').read()).statusCode;
});
await step('only ciphertext stored at protected paths', () => {
  const bad = sim.stored('shop', 'orders').filter((d) => (d.ssn !== undefined && !d.ssn.startsWith('csx1:')) || (d.note !== undefined && !d.note.startsWith('csx1:')));
  if (bad.length) throw new Error(`plaintext stored in ${bad.map((d) => d.id)}`);
});
await step('no canary reached the simulator', () => {
  const hits = canaries.flatMap((s) => sim.scan(s).map((h) => ({ s, ...h })));
  if (hits.length) throw new Error(JSON.stringify(hits.slice(0, 3)));
  return `${canaries.length} canaries, ${sim.requests().length} upstream requests`;
});
await step('every upstream request signed with the account key', () => {
  const bad = sim.requests().filter((r) => !r.verified);
  if (bad.length) throw new Error(bad.map((r) => `${r.method} ${r.url}`).join(', '));
});

client.dispose();
agent.destroy();
await proxy.stop();
await sim.stop();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
