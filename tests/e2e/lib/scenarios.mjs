// The data-plane scenario shared by harness.test.mjs (SDK straight to the front, real key) and
// foundation.test.mjs (SDK through cosmoseal, client key): if it passes directly, a failure through
// cosmoseal is cosmoseal's. Each step is its own node:test test, run in order inside a describe().

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosmos } from './deps.mjs';
import { request } from './raw.mjs';
import { withoutSystemProperties as strip } from './cosmos-json.mjs';

const { ChangeFeedStartFrom, BulkOperationType } = cosmos;

/** Sample documents: two partitions, a nested object and an array, unicode, numbers. */
export function sampleCustomers() {
  return [
    { id: 'c1', pk: 'eu', kind: 'customer', name: 'Ada', city: 'Paris', tier: 1, tags: ['a', 'b'], address: { street: '1 rue X', zip: '75001' } },
    { id: 'c2', pk: 'eu', kind: 'customer', name: 'Zoë Ünïcode', city: 'Berlin', tier: 2, tags: [], address: { street: 'Straße 2', zip: '10115' } },
    { id: 'c3', pk: 'us', kind: 'customer', name: 'Bob', city: 'Boston', tier: 1, tags: ['c'], address: null },
    { id: 'c4', pk: 'us', kind: 'customer', name: 'Cy', city: 'Austin', tier: 3, score: 12345678901234567, address: { street: '4 Elm', zip: '73301' } },
  ];
}


// The JS SDK resolves point reads that get 404 (statusCode 404, resource undefined) but throws
// for most other failures (err.code = status): accept both.
async function expectStatus(p, status, what) {
  let got;
  try {
    const r = await p;
    got = r.statusCode;
  } catch (err) {
    assert.equal(err.code, status, `${what}: expected ${status}, got ${err.code} (${err.message})`);
    return err;
  }
  assert.equal(got, status, `${what}: expected status ${status}, got ${got}`);
  return null;
}

/**
 * Registers the data-plane tests. Call inside a describe().
 * @param {() => {client: import('@azure/cosmos').CosmosClient, endpoint: string, key: string,
 *   ca?: Buffer, after?: () => void}} getCtx called when each test runs;
 *   endpoint/key/ca are used for the raw read-feed request (GET .../docs), which the SDK cannot make.
 *   `after` (optional) runs at the end of every step (e.g. front.assertClean()).
 * @param {{database?: string, container?: string}} [names]
 */
export function dataPlaneTests(getCtx, names = {}) {
  const dbId = names.database ?? 'shop';
  const collId = names.container ?? 'customers';
  const docs = sampleCustomers();
  const step = (title, fn) =>
    test(title, async () => {
      const ctx = getCtx();
      await fn(ctx);
      ctx.after?.();
    });
  const container = (ctx) => ctx.client.database(dbId).container(collId);

  step('create database and container (createIfNotExists: a 404 read, then a create)', async (ctx) => {
    const { database } = await ctx.client.databases.createIfNotExists({ id: dbId });
    assert.equal(database.id, dbId);
    const { resource } = await database.containers.createIfNotExists({ id: collId, partitionKey: { paths: ['/pk'] } });
    assert.equal(resource.id, collId);
    assert.deepEqual(resource.partitionKey.paths, ['/pk']);
    const { resource: read } = await database.container(collId).read();
    assert.equal(read.id, collId);
  });

  step('create, read, replace, upsert, patch (array form), delete a document', async (ctx) => {
    const c = container(ctx);
    for (const d of docs) {
      const { resource, statusCode } = await c.items.create(d);
      assert.equal(statusCode, 201);
      assert.deepEqual(strip(resource), d);
      assert.ok(resource._etag && resource._rid && resource._ts, 'system properties present');
    }
    const { resource: read, statusCode: rs } = await c.item('c1', 'eu').read();
    assert.equal(rs, 200);
    assert.deepEqual(strip(read), docs[0]);

    const replaced = { ...docs[0], city: 'Lyon', tier: 5 };
    const { resource: rep } = await c.item('c1', 'eu').replace(replaced);
    assert.deepEqual(strip(rep), replaced);

    const { resource: up1, statusCode: us1 } = await c.items.upsert({ id: 'c5', pk: 'eu', kind: 'customer', name: 'New', city: 'Rome', tier: 1 });
    assert.ok(us1 === 201 || us1 === 200, `upsert (insert) status ${us1}`);
    assert.equal(up1.city, 'Rome');
    const { resource: up2 } = await c.items.upsert({ id: 'c5', pk: 'eu', kind: 'customer', name: 'New', city: 'Milan', tier: 1 });
    assert.equal(up2.city, 'Milan');

    const { resource: patched } = await c.item('c5', 'eu').patch([
      { op: 'set', path: '/city', value: 'Turin' },
      { op: 'add', path: '/vip', value: true },
      { op: 'incr', path: '/tier', value: 2 },
      { op: 'remove', path: '/name' },
    ]);
    assert.equal(patched.city, 'Turin');
    assert.equal(patched.vip, true);
    assert.equal(patched.tier, 3);
    assert.equal('name' in patched, false);

    const { statusCode: ds } = await c.item('c5', 'eu').delete();
    assert.equal(ds, 204);
    await expectStatus(c.item('c5', 'eu').read(), 404, 'read after delete');
    // Restore c1 for the queries below.
    await c.item('c1', 'eu').replace(docs[0]);
  });

  step('query with parameters (single partition)', async (ctx) => {
    const { resources } = await container(ctx)
      .items.query(
        { query: 'SELECT * FROM c WHERE c.city = @city AND c.tier >= @tier', parameters: [{ name: '@city', value: 'Paris' }, { name: '@tier', value: 1 }] },
        { partitionKey: 'eu' },
      )
      .fetchAll();
    assert.deepEqual(resources.map(strip), [docs[0]]);
  });

  step('cross-partition query (no partition key), ORDER BY and VALUE projection', async (ctx) => {
    const c = container(ctx);
    const { resources } = await c.items
      .query({ query: 'SELECT * FROM c WHERE c.kind = @k', parameters: [{ name: '@k', value: 'customer' }] })
      .fetchAll();
    assert.deepEqual(resources.map((d) => d.id).sort(), ['c1', 'c2', 'c3', 'c4']);
    const { resources: names } = await c.items.query('SELECT VALUE c.name FROM c WHERE c.tier = 1').fetchAll();
    assert.deepEqual(names.sort(), ['Ada', 'Bob']);
    const { resources: top } = await c.items.query('SELECT TOP 2 c.id FROM c ORDER BY c.id DESC').fetchAll();
    assert.equal(top.length, 2);
  });

  step('readAll (the JS SDK sends it as a query)', async (ctx) => {
    const { resources } = await container(ctx).items.readAll().fetchAll();
    assert.deepEqual(resources.map(strip).sort((a, b) => a.id.localeCompare(b.id)), docs);
  });

  step('read feed via GET .../docs with x-ms-max-item-count pagination (raw signed request)', async (ctx) => {
    const url = new URL(`dbs/${dbId}/colls/${collId}/docs`, ctx.endpoint).href;
    const seen = [];
    let continuation;
    let pages = 0;
    do {
      const headers = { 'x-ms-max-item-count': '2', 'x-ms-documentdb-query-enablecrosspartition': 'true' };
      if (continuation) headers['x-ms-continuation'] = continuation;
      const r = await request({ url, key: ctx.key, ca: ctx.ca, headers, method: 'GET' });
      assert.equal(r.status, 200, `read feed page ${pages}: ${r.text}`);
      assert.ok(Array.isArray(r.json.Documents), 'Documents array');
      assert.ok(r.json.Documents.length <= 2, 'page size honoured');
      seen.push(...r.json.Documents.map((d) => d.id));
      continuation = r.headers['x-ms-continuation'];
      pages++;
    } while (continuation && pages < 10);
    assert.ok(pages >= 2, `expected pagination, got ${pages} page(s)`);
    assert.deepEqual(seen.sort(), ['c1', 'c2', 'c3', 'c4']);
  });

  step('change feed from the beginning (per partition key and for the whole container)', async (ctx) => {
    const c = container(ctx);
    const it = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning('us') });
    const page = await it.readNext();
    // cosmosdb-server ignores the partition scope of a change feed request and returns the whole
    // container, so only "contains the partition's documents" can be asserted here.
    const pkIds = page.result.map((d) => d.id);
    assert.ok(pkIds.includes('c3') && pkIds.includes('c4'), `change feed for pk 'us': ${pkIds}`);
    const all = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
    const ids = new Set();
    for (let i = 0; i < 5 && all.hasMoreResults; i++) {
      const p = await all.readNext();
      for (const d of p.result) ids.add(d.id);
      if (p.statusCode === 304) break;
    }
    assert.deepEqual([...ids].sort(), ['c1', 'c2', 'c3', 'c4']);
  });

  // executeBulkOperations (4.10) needs `partitionKey` on every operation, even when the body has
  // it. cosmosdb-server answers a bulk request containing a Patch op with 400 for every op, so
  // there is no Patch here.
  step('bulk (executeBulkOperations): create, upsert, read, replace, delete', async (ctx) => {
    const c = container(ctx);
    const ops = [
      { operationType: BulkOperationType.Create, partitionKey: 'eu', resourceBody: { id: 'b1', pk: 'eu', kind: 'bulk', n: 1 } },
      { operationType: BulkOperationType.Create, partitionKey: 'us', resourceBody: { id: 'b2', pk: 'us', kind: 'bulk', n: 2 } },
      { operationType: BulkOperationType.Upsert, partitionKey: 'eu', resourceBody: { id: 'b3', pk: 'eu', kind: 'bulk', n: 3 } },
      { operationType: BulkOperationType.Read, id: 'c3', partitionKey: 'us' },
      { operationType: BulkOperationType.Replace, id: 'c4', partitionKey: 'us', resourceBody: { ...docs[3], tier: 4 } },
    ];
    const results = await c.items.executeBulkOperations(ops);
    assert.equal(results.length, ops.length);
    const codes = results.map((r) => r.response?.statusCode ?? r.error?.code);
    assert.deepEqual(codes, [201, 201, 201, 200, 200], `bulk status codes ${JSON.stringify(codes)} ${results.map((r) => r.error?.message ?? '').join(' ')}`);
    assert.equal(results[3].response.resourceBody.name, 'Bob');
    const { resource: b2 } = await c.item('b2', 'us').read();
    assert.equal(b2.n, 2);
    const { resource: c4 } = await c.item('c4', 'us').read();
    assert.equal(c4.tier, 4);
    const del = await c.items.executeBulkOperations([
      { operationType: BulkOperationType.Delete, id: 'b1', partitionKey: 'eu' },
      { operationType: BulkOperationType.Delete, id: 'b2', partitionKey: 'us' },
      { operationType: BulkOperationType.Delete, id: 'b3', partitionKey: 'eu' },
    ]);
    assert.deepEqual(del.map((r) => r.response?.statusCode ?? r.error?.code), [204, 204, 204]);
  });

  step('delete container and database', async (ctx) => {
    const db = ctx.client.database(dbId);
    const { statusCode: cs } = await db.container(collId).delete();
    assert.equal(cs, 204);
    await expectStatus(db.container(collId).read(), 404, 'read deleted container');
    const { statusCode: ds } = await db.delete();
    assert.equal(ds, 204);
    await expectStatus(db.read(), 404, 'read deleted database');
  });
}
