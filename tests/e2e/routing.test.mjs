// Routing on a protected partition key over several physical partitions (issue 15, items 2 and 4;
// docs/ROUTING.md): the real @azure/cosmos SDK through the built cosmoseal to the simulator
// (tests/simulator, 4 ranges) on a container whose partition key /cust is a deterministic field.
// The SDK hashes the plaintext key to route (range ids, bulk grouping, session tokens); the
// simulator places documents at the hash of the ciphertext. Everything must still work, and no
// canary nor any EPK of a canary may reach the simulator.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cosmos } from './lib/deps.mjs';
import { createPki } from './lib/pki.mjs';
import { startCosmoseal } from './lib/cosmoseal.mjs';
import { randomKey } from './lib/keys.mjs';
import { makeKeyring } from './lib/enc.mjs';
import { startSimulator } from '../simulator/lib/server.mjs';
import { effectivePartitionKey } from '../simulator/lib/hash.mjs';

const { CosmosClient, ChangeFeedStartFrom, BulkOperationType } = cosmos;

describe('routing: protected partition key on 4 ranges (JS SDK -> cosmoseal -> simulator)', () => {
  let dir;
  let sim;
  let proxy;
  let agent;
  let client;
  let c;
  const canaries = [];
  const cust = (i) => {
    const v = `CUST-CANARY-${1000 + i}`;
    if (!canaries.includes(v)) canaries.push(v);
    return v;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-routing-'));
    const pki = createPki(dir);
    sim = await startSimulator({ partitions: 4, pki });
    const appKey = randomKey();
    proxy = await startCosmoseal({
      dir,
      front: { url: sim.endpoint },
      accountKey: sim.key,
      pki,
      clients: [{ name: 'app', key: appKey }],
      keys: await makeKeyring(dir, ['pii']),
      policies: [{ database: 'shop', container: 'orders', fields: [{ path: '/cust', mode: 'deterministic', key: 'pii' }] }],
    });
    agent = new https.Agent({ ca: pki.ca, keepAlive: true });
    client = new CosmosClient({ endpoint: proxy.url, key: appKey, agent });
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    ({ container: c } = await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/cust'], version: 2 } }));
  });

  after(async () => {
    client?.dispose();
    agent?.destroy();
    await proxy?.stop();
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('CRUD and point reads on keys in every range', async () => {
    for (let i = 0; i < 24; i++) await c.items.create({ id: `d${i}`, cust: cust(i), n: i });
    const ranges = sim.ranges('shop', 'orders');
    assert.equal(ranges.length, 4);
    // The sealed keys spread over every range.
    const stored = sim.stored('shop', 'orders');
    assert.equal(stored.length, 24);
    for (let i = 0; i < 24; i++) {
      const { resource } = await c.item(`d${i}`, cust(i)).read();
      assert.equal(resource.n, i);
      assert.equal(resource.cust, cust(i));
    }
    const { resource } = await c.item('d3', cust(3)).replace({ id: 'd3', cust: cust(3), n: 33 });
    assert.equal(resource.n, 33);
    await c.item('d23', cust(23)).delete();
    const gone = await c.item('d23', cust(23)).read();
    assert.equal(gone.statusCode, 404);
  });

  test('items.bulk over keys in every range: answers in order', async () => {
    const ops = [];
    for (let i = 100; i < 140; i++) {
      ops.push({ operationType: BulkOperationType.Create, partitionKey: cust(i), resourceBody: { id: `b${i}`, cust: cust(i), n: i } });
    }
    const res = await c.items.bulk(ops);
    assert.equal(res.length, ops.length);
    res.forEach((r, k) => {
      assert.equal(r.statusCode, 201, `op ${k}: ${JSON.stringify(r)}`);
      assert.equal(r.resourceBody?.id, `b${100 + k}`);
      assert.equal(r.resourceBody?.cust, cust(100 + k));
    });
  });

  test('executeBulkOperations over keys in every range: answers in order', async () => {
    const ops = [];
    for (let i = 200; i < 230; i++) {
      ops.push({ operationType: BulkOperationType.Upsert, partitionKey: cust(i), resourceBody: { id: `u${i}`, cust: cust(i), n: i } });
    }
    const res = await c.items.executeBulkOperations(ops);
    assert.equal(res.length, ops.length);
    res.forEach((r, k) => {
      assert.equal(r.response?.statusCode, 201, `op ${k}: ${JSON.stringify(r.response ?? r.error?.message)}`);
      assert.equal(r.response?.resourceBody?.id, `u${200 + k}`);
    });
  });

  test('change feed for one partition key is made right (or refused with routing.plaintext_epk)', async () => {
    const it = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning(cust(5)) });
    try {
      const ids = [];
      for (let k = 0; k < 5; k++) {
        const r = await it.readNext();
        ids.push(...r.result.map((d) => d.id));
        if (r.statusCode === 304 || !it.hasMoreResults) break;
      }
      assert.deepEqual(ids, ['d5']);
    } catch (e) {
      assert.match(String(e.message), /routing\.plaintext_epk|query_items_change_feed/);
    }
  });

  test('a split during the run: more bulk and reads work', async () => {
    const before = sim.ranges('shop', 'orders');
    const [a, b] = sim.splitRange('shop', 'orders', before[1].id);
    assert.ok(a && b);
    assert.equal(sim.ranges('shop', 'orders').length, 5);
    const ops = [];
    for (let i = 300; i < 340; i++) {
      ops.push({ operationType: BulkOperationType.Create, partitionKey: cust(i), resourceBody: { id: `s${i}`, cust: cust(i), n: i } });
    }
    const res = await c.items.bulk(ops);
    res.forEach((r, k) => assert.equal(r.statusCode, 201, `op ${k}: ${JSON.stringify(r)}`));
    for (let i = 0; i < 23; i++) {
      const { resource } = await c.item(`d${i}`, cust(i)).read();
      assert.equal(resource.cust, cust(i));
    }
    for (let i = 300; i < 340; i += 7) {
      const { resource } = await c.item(`s${i}`, cust(i)).read();
      assert.equal(resource.n, i);
    }
  });

  test('no canary and no EPK of a canary reached the simulator', () => {
    assert.ok(canaries.length > 100);
    const hits = [];
    for (const v of canaries) {
      hits.push(...sim.scan(v).map((h) => ({ v, ...h })));
      for (const def of [{ version: 2, kind: 'Hash' }, { version: 1, kind: 'Hash' }]) {
        const epk = effectivePartitionKey([v], def);
        for (const form of [epk, epk.toLowerCase()]) hits.push(...sim.scan(form).map((h) => ({ v, epk: form, ...h })));
      }
    }
    assert.deepEqual(hits.slice(0, 5), []);
    const stored = sim.stored('shop', 'orders');
    assert.ok(stored.every((d) => typeof d.cust === 'string' && d.cust.startsWith('csx1:')));
  });
});
