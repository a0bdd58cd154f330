// The real @azure/cosmos SDK (4.10.1, pinned in package.json) straight against the simulator over
// TLS with discovery on: CRUD, cross-partition ORDER BY / aggregates / DISTINCT / OFFSET LIMIT
// (query plans merged by the SDK), change feed per feed range and incremental, batch, bulk, and a
// 429 the SDK retries. Proves the simulator speaks what an SDK expects.

import test from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { CosmosClient, ChangeFeedStartFrom, BulkOperationType } from '@azure/cosmos';
import { startSimulator } from '../lib/server.mjs';

test('@azure/cosmos against the simulator', async (t) => {
  const sim = await startSimulator({ partitions: 3, regions: ['West US', 'East US'] });
  const agent = new https.Agent({ ca: sim.ca, keepAlive: true });
  const client = new CosmosClient({ endpoint: sim.endpoint, key: sim.key, agent, connectionPolicy: { preferredLocations: ['East US'] } });
  t.after(async () => {
    client.dispose();
    agent.destroy();
    await sim.stop();
  });
  const { database } = await client.databases.createIfNotExists({ id: 'sdkdb' });
  const { container } = await database.containers.createIfNotExists({ id: 'items', partitionKey: { paths: ['/pk'] } });
  const N = 40;
  for (let i = 0; i < N; i++) await container.items.create({ id: `d${i}`, pk: `p${i % 9}`, n: i, g: `g${i % 4}` });

  await t.test('discovery: reads follow the preferred region, writes the write region', async () => {
    await container.item('d1', 'p1').read();
    const log = sim.requests();
    const reads = log.filter((r) => r.op === 'read');
    const creates = log.filter((r) => r.op === 'create');
    assert.ok(reads.length > 0 && reads.every((r) => r.region === 'East US'), 'reads in East US');
    assert.ok(creates.every((r) => r.region === 'West US'), 'writes in West US');
  });

  await t.test('CRUD, upsert, patch', async () => {
    const { resource: d3 } = await container.item('d3', 'p3').read();
    assert.equal(d3.n, 3);
    await container.item('d3', 'p3').replace({ ...d3, n: 300 });
    assert.equal((await container.item('d3', 'p3').read()).resource.n, 300);
    await container.items.upsert({ id: 'd3', pk: 'p3', n: 3, g: 'g3' });
    const { resource: p } = await container.item('d4', 'p4').patch([{ op: 'incr', path: '/n', value: 100 }, { op: 'set', path: '/x', value: 'y' }]);
    assert.equal(p.n, 104);
    await container.item('d4', 'p4').patch([{ op: 'incr', path: '/n', value: -100 }, { op: 'remove', path: '/x' }]);
    await container.items.create({ id: 'tmp', pk: 'p0' });
    await container.item('tmp', 'p0').delete();
    const gone = await container.item('tmp', 'p0').read();
    assert.equal(gone.statusCode, 404);
  });

  await t.test('cross-partition queries through query plans', async () => {
    const ordered = await container.items.query('SELECT c.id, c.n FROM c ORDER BY c.n DESC', { maxItemCount: 7 }).fetchAll();
    assert.deepEqual(ordered.resources.map((d) => d.n), Array.from({ length: N }, (_, i) => N - 1 - i));
    const count = await container.items.query('SELECT VALUE COUNT(1) FROM c').fetchAll();
    assert.deepEqual(count.resources, [N]);
    const sum = await container.items.query({ query: 'SELECT VALUE SUM(c.n) FROM c WHERE c.n < @m', parameters: [{ name: '@m', value: 10 }] }).fetchAll();
    assert.deepEqual(sum.resources, [45]);
    assert.deepEqual((await container.items.query('SELECT VALUE MAX(c.n) FROM c').fetchAll()).resources, [N - 1]);
    assert.deepEqual((await container.items.query('SELECT VALUE AVG(c.n) FROM c').fetchAll()).resources, [(N - 1) / 2]);
    const distinct = await container.items.query('SELECT DISTINCT VALUE c.g FROM c').fetchAll();
    assert.deepEqual(distinct.resources.sort(), ['g0', 'g1', 'g2', 'g3']);
    const page = await container.items.query('SELECT c.n FROM c ORDER BY c.n OFFSET 5 LIMIT 3').fetchAll();
    assert.deepEqual(page.resources.map((d) => d.n), [5, 6, 7]);
    const inq = await container.items.query('SELECT VALUE c.id FROM c WHERE c.id IN ("d1", "d2", "d30")').fetchAll();
    assert.deepEqual(inq.resources.sort(), ['d1', 'd2', 'd30']);
    const pk = await container.items.query('SELECT * FROM c', { partitionKey: 'p2' }).fetchAll();
    assert.deepEqual(pk.resources.map((d) => d.id).sort(), ['d11', 'd2', 'd20', 'd29', 'd38']);
    const it = container.items.query('SELECT * FROM c', { maxItemCount: 6 });
    let seen = 0;
    while (it.hasMoreResults()) seen += (await it.fetchNext()).resources.length;
    assert.equal(seen, N, 'continuation across pages and ranges');
    assert.ok(sim.requests().some((r) => r.op === 'queryPlan'));
  });

  await t.test('change feed: from the beginning, incremental, per feed range', async () => {
    const it = container.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning(), maxItemCount: 10 });
    const ids = new Set();
    for (let i = 0; i < 30; i++) {
      const r = await it.readNext();
      for (const d of r.result) ids.add(d.id);
      if (r.statusCode === 304) break;
    }
    assert.equal(ids.size, N);
    await container.items.create({ id: 'late', pk: 'p5' });
    let late = [];
    for (let i = 0; i < 5 && late.length === 0; i++) late = (await it.readNext()).result;
    assert.deepEqual(late.map((d) => d.id), ['late']);
    const ranges = await container.getFeedRanges();
    assert.equal(ranges.length, 3);
    let total = 0;
    for (const fr of ranges) {
      const rit = container.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning(fr) });
      for (let i = 0; i < 10; i++) {
        const r = await rit.readNext();
        total += r.result.length;
        if (r.statusCode === 304) break;
      }
    }
    assert.equal(total, N + 1);
  });

  await t.test('transactional batch and bulk', async () => {
    const b = await container.items.batch(
      [
        { operationType: BulkOperationType.Create, resourceBody: { id: 'b1', pk: 'pb' } },
        { operationType: BulkOperationType.Upsert, resourceBody: { id: 'b2', pk: 'pb' } },
        { operationType: BulkOperationType.Read, id: 'b1' },
      ],
      'pb',
    );
    assert.deepEqual(b.result.map((r) => r.statusCode), [201, 201, 200]);
    const bulk = await container.items.executeBulkOperations(
      Array.from({ length: 12 }, (_, i) => ({ operationType: BulkOperationType.Create, partitionKey: `q${i}`, resourceBody: { id: `k${i}`, pk: `q${i}` } })),
    );
    assert.deepEqual(bulk.map((r) => r.response?.statusCode), Array(12).fill(201));
    assert.ok(sim.requests().some((r) => r.op === 'bulk' && r.headers['x-ms-documentdb-partitionkeyrangeid'] !== undefined));
  });

  await t.test('a 429 with x-ms-retry-after-ms is retried by the SDK', async () => {
    const before = sim.requests().length;
    sim.addFault({ status: 429, retryAfterMs: 50, count: 2, match: { op: 'read' } });
    const { resource } = await container.item('d7', 'p7').read();
    assert.equal(resource.id, 'd7');
    const reads = sim.requests().slice(before).filter((r) => r.op === 'read');
    assert.deepEqual(reads.map((r) => r.status), [429, 429, 200]);
    assert.equal(reads[0].response.headers['x-ms-retry-after-ms'], '50');
    assert.equal(reads[0].response.headers['x-ms-substatus'], '3200');
  });

  await t.test('every SDK request was signed correctly', () => {
    assert.deepEqual(sim.requests().filter((r) => r.verified === false), []);
  });
});
