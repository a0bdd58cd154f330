// Per-client access rules (proxy/rules.h, docs/OPERATIONS.md "Access rules") with the real SDK:
// a read-only client, a client limited to one container, containers ["*"], database and
// container creation by a client with a read-write rule, filtered listings, discovery and
// partition-key ranges always allowed, and per-client attribution in the audit log.
//
// Every refusal must be 403 `rules.denied` with a message naming client, database, container and
// operation, and nothing of the refused request may reach the upstream (front.since(mark)).

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { request } from './lib/raw.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { readAudit, sdkStatus, waitFor } from './lib/ops.mjs';
import { cosmos } from './lib/deps.mjs';

const { BulkOperationType, ChangeFeedStartFrom } = cosmos;

const CLIENTS = [
  { name: 'reader', allow: [{ database: 'shop', containers: ['*'], access: 'read' }] },
  { name: 'orders-only', allow: [{ database: 'shop', containers: ['orders'], access: 'read-write' }] },
  { name: 'star', allow: [{ database: 'shop', containers: ['*'], access: 'read-write' }] },
  { name: 'team-admin', allow: [{ database: 'teamdb', containers: ['c1', 'c2'], access: 'read-write' }] },
];

describe('access rules (SDK through cosmoseal)', () => {
  let s;
  let auditFile;
  const c = {};

  before(async () => {
    s = await startStack({ name: 'rules', clients: CLIENTS, extra: { workers: 1, audit: { path: 'audit.log' } } });
    auditFile = path.join(s.dir, 'audit.log');
    // Setup straight at the account (real key), so the rules under test play no part in it.
    const d = s.direct();
    for (const [db, colls] of [['shop', ['orders', 'customers']], ['other', ['misc']]]) {
      const { database } = await d.databases.createIfNotExists({ id: db });
      for (const id of colls) await database.containers.createIfNotExists({ id, partitionKey: { paths: ['/pk'] } });
    }
    const shop = d.database('shop');
    for (const coll of ['orders', 'customers']) {
      for (const id of ['d1', 'd2', 'd3']) await shop.container(coll).items.create({ id, pk: 'p', coll, n: 1 });
    }
    for (const cl of CLIENTS) c[cl.name] = s.client(cl.name);
  });

  after(async () => {
    s?.front.assertClean();
    s?.front.assertNoBypass();
    await s?.stop();
  });

  /** Runs `fn` (which must be refused) and asserts 403 rules.denied and 0 upstream requests. */
  async function refused(what, fn, mustName = []) {
    const m = await s.front.quiesce();
    const r = await sdkStatus(fn());
    const up = s.front.since(m);
    assert.equal(r.status, 403, `${what}: expected 403, got ${r.status} ${r.message.slice(0, 300)}`);
    assert.equal(r.detail, 'rules.denied', `${what}: x-cosmoseal-detail`);
    for (const word of mustName) assert.ok(r.message.includes(word), `${what}: message should name ${JSON.stringify(word)}: ${r.message}`);
    assert.equal(up.requests.length, 0, `${what}: reached the upstream: ${up.requests.map((q) => `${q.method} ${q.url}`).join(', ')}`);
    return r;
  }

  async function ok(what, fn) {
    const r = await sdkStatus(fn());
    assert.ok(r.status >= 200 && r.status < 300, `${what}: expected success, got ${r.status} ${r.message?.slice(0, 300)}`);
    return r.res;
  }

  test('read-only client: point read, query, read feed and change feed work', async () => {
    const orders = c.reader.database('shop').container('orders');
    const { resource } = await ok('read', () => orders.item('d1', 'p').read());
    assert.equal(resource.id, 'd1');
    const q = await ok('query', () => orders.items.query('SELECT * FROM c WHERE c.n = 1').fetchAll());
    assert.equal(q.resources.length, 3);
    const feed = await ok('read feed', () => orders.items.readAll().fetchAll());
    assert.equal(feed.resources.length, 3);
    const it = orders.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
    const cf = await ok('change feed', () => it.readNext());
    assert.ok(cf.statusCode === 200 || cf.statusCode === 304, `change feed status ${cf.statusCode}`);
    await ok('read container', () => orders.read());
    await ok('read database', () => c.reader.database('shop').read());
  });

  test('read-only client: create/upsert/replace/patch/delete/batch/bulk get 403 rules.denied and nothing reaches the server', async () => {
    const orders = c.reader.database('shop').container('orders');
    await ok('warm the SDK caches', () => orders.items.query('SELECT * FROM c').fetchAll());
    const who = ["'reader'", "'shop'", "'orders'"];
    await refused('create', () => orders.items.create({ id: 'new1', pk: 'p' }), [...who, 'create']);
    await refused('upsert', () => orders.items.upsert({ id: 'd1', pk: 'p', n: 2 }), [...who, 'upsert']);
    await refused('replace', () => orders.item('d1', 'p').replace({ id: 'd1', pk: 'p', n: 3 }), [...who, 'replace']);
    await refused('patch', () => orders.item('d1', 'p').patch([{ op: 'set', path: '/n', value: 4 }]), [...who, 'patch']);
    await refused('delete', () => orders.item('d1', 'p').delete(), [...who, 'delete']);
    await refused('batch', () => orders.items.batch([{ operationType: BulkOperationType.Create, resourceBody: { id: 'b1', pk: 'p' } }], 'p'), who);
    // Bulk: the SDK may report per-operation statuses instead of throwing.
    const m = await s.front.quiesce();
    let bulkStatuses;
    try {
      const res = await orders.items.bulk([
        { operationType: BulkOperationType.Create, resourceBody: { id: 'k1', pk: 'p' } },
        { operationType: BulkOperationType.Delete, id: 'd2', partitionKey: 'p' },
      ]);
      bulkStatuses = res.map((x) => x.statusCode);
    } catch (e) {
      const err = e.cause ?? e;
      bulkStatuses = [err.code];
      assert.match(String(e.message), /rules\.denied/);
    }
    assert.ok(bulkStatuses.every((st) => st === 403), `bulk: ${JSON.stringify(bulkStatuses)}`);
    assert.equal(s.front.since(m).requests.length, 0, 'bulk reached the upstream');
    // And the container is untouched.
    const { resources } = await s.direct().database('shop').container('orders').items.readAll().fetchAll();
    assert.deepEqual(resources.map((r) => [r.id, r.n]).sort(), [['d1', 1], ['d2', 1], ['d3', 1]]);
  });

  test('raw refusal body: 403, x-cosmoseal-detail rules.denied, JSON {code, message, detail}', async () => {
    const m = await s.front.quiesce();
    const r = await request({
      url: `${s.proxy.url}dbs/shop/colls/orders/docs`,
      method: 'POST',
      key: s.clientKeys.reader,
      ca: s.pki.ca,
      headers: { 'x-ms-documentdb-partitionkey': '["p"]' },
      body: { id: 'raw1', pk: 'p' },
    });
    const j = assertLocalError(r, 403, 'rules.denied', 'raw create by reader');
    assert.match(j.message, /'reader'/);
    assert.match(j.message, /'shop'/);
    assert.match(j.message, /'orders'/);
    assert.equal(s.front.since(m).bytes, 0, 'the upstream received bytes');
  });

  test('client allowed on container A cannot read, write or query container B of the same database', async () => {
    const shop = c['orders-only'].database('shop');
    await ok('read A', () => shop.container('orders').item('d1', 'p').read());
    await ok('create in A', () => shop.container('orders').items.create({ id: 'oo1', pk: 'p' }));
    await ok('query A', () => shop.container('orders').items.query('SELECT * FROM c').fetchAll());
    const b = shop.container('customers');
    const who = ["'orders-only'", "'shop'", "'customers'"];
    await refused('read B', () => b.item('d1', 'p').read(), [...who, 'read']);
    // The SDK reads the container's metadata before some operations: that first request is the
    // one refused (and named), and the operation itself is never sent.
    await refused('create in B', () => b.items.create({ id: 'oo2', pk: 'p' }), who);
    await refused('query B', () => b.items.query('SELECT * FROM c').fetchAll(), who);
    await refused('read feed B', () => b.items.readAll().fetchAll(), who);
    await refused('read container B', () => b.read(), [...who, 'metadata_read']);
    await refused('delete in B', () => b.item('d2', 'p').delete(), [...who, 'delete']);
    await refused('replace in B', () => b.item('d2', 'p').replace({ id: 'd2', pk: 'p' }), who);
    // Raw requests name the operation class and the operation.
    for (const [method, p, op, body] of [
      ['POST', 'dbs/shop/colls/customers/docs', 'write (create', { id: 'oo3', pk: 'p' }],
      ['GET', 'dbs/shop/colls/customers/docs/d1', 'read (read', undefined],
      ['DELETE', 'dbs/shop/colls/customers/docs/d1', 'delete (delete', undefined],
    ]) {
      const m = await s.front.quiesce();
      const r = await request({ url: `${s.proxy.url}${p}`, method, key: s.clientKeys['orders-only'], ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p"]' }, body });
      const j = assertLocalError(r, 403, 'rules.denied', `${method} ${p}`);
      assert.ok(j.message.includes(op) && j.message.includes("'orders-only'") && j.message.includes("'customers'"), j.message);
      assert.equal(s.front.since(m).bytes, 0);
    }
    const qr = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs`, method: 'POST', key: s.clientKeys['orders-only'], ca: s.pki.ca,
      headers: { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', 'x-ms-documentdb-query-enablecrosspartition': 'true' },
      body: JSON.stringify({ query: 'SELECT * FROM c', parameters: [] }) });
    assert.match(assertLocalError(qr, 403, 'rules.denied', 'raw query').message, /query \(query/);
    await refused('other database', () => c['orders-only'].database('other').container('misc').item('x', 'p').read(), ["'other'", "'misc'"]);
  });

  test('containers ["*"] with read-write: every container of the database, reads and writes', async () => {
    for (const coll of ['orders', 'customers']) {
      const k = c.star.database('shop').container(coll);
      await ok(`create ${coll}`, () => k.items.create({ id: `s-${coll}`, pk: 'p' }));
      await ok(`read ${coll}`, () => k.item(`s-${coll}`, 'p').read());
      await ok(`patch ${coll}`, () => k.item(`s-${coll}`, 'p').patch([{ op: 'set', path: '/n', value: 9 }]));
      await ok(`query ${coll}`, () => k.items.query('SELECT * FROM c').fetchAll());
      await ok(`delete ${coll}`, () => k.item(`s-${coll}`, 'p').delete());
    }
    await refused('a database it has no rule for', () => c.star.database('other').container('misc').items.readAll().fetchAll(), ["'star'", "'other'"]);
  });

  test('read-write rule for database D: create/delete D and its listed containers, not other containers', async () => {
    const t = c['team-admin'];
    await ok('create database teamdb', () => t.databases.create({ id: 'teamdb' }));
    const db = t.database('teamdb');
    await ok('create listed container c1', () => db.containers.create({ id: 'c1', partitionKey: { paths: ['/pk'] } }));
    await ok('create listed container c2', () => db.containers.create({ id: 'c2', partitionKey: { paths: ['/pk'] } }));
    await ok('write into c1', () => db.container('c1').items.create({ id: 'x', pk: 'p' }));
    await refused('create unlisted container c3', () => db.containers.create({ id: 'c3', partitionKey: { paths: ['/pk'] } }), ["'team-admin'", "'teamdb'", "'c3'"]);
    await refused('create another database', () => t.databases.create({ id: 'not-mine' }), ["'team-admin'", "'not-mine'"]);
    await refused('delete a database it has no rule for', () => t.database('shop').delete(), ["'team-admin'", "'shop'"]);
    await refused('reader creates a container in shop', () => c.reader.database('shop').containers.create({ id: 'orders2', partitionKey: { paths: ['/pk'] } }), ["'reader'", "'orders2'"]);
    await refused('reader deletes a container', () => c.reader.database('shop').container('orders').delete(), ["'reader'", "'orders'"]);
    await refused('reader deletes the database', () => c.reader.database('shop').delete(), ["'reader'", "'shop'"]);
    const { resources } = await s.direct().database('teamdb').containers.readAll().fetchAll();
    assert.deepEqual(resources.map((r) => r.id).sort(), ['c1', 'c2'], 'c3 was not created');
    await ok('delete listed container c2', () => db.container('c2').delete());
    await ok('delete listed container c1', () => db.container('c1').delete());
    await ok('delete database teamdb', () => db.delete());
    const { resources: dbs } = await s.direct().databases.readAll().fetchAll();
    assert.ok(!dbs.some((d) => d.id === 'teamdb' || d.id === 'not-mine'), `databases now: ${dbs.map((d) => d.id)}`);
  });

  test('listings show only what the client may see: databases.readAll(), containers.readAll(), database query', async () => {
    const all = (await s.direct().databases.readAll().fetchAll()).resources.map((d) => d.id).sort();
    assert.ok(all.includes('shop') && all.includes('other'), `direct view: ${all}`);
    const ids = async (p) => (await p).resources.map((r) => r.id).sort();
    assert.deepEqual(await ids(c['orders-only'].databases.readAll().fetchAll()), ['shop']);
    assert.deepEqual(await ids(c.reader.databases.readAll().fetchAll()), ['shop']);
    assert.deepEqual(await ids(c['team-admin'].databases.readAll().fetchAll()), []);
    assert.deepEqual(await ids(c['orders-only'].databases.query('SELECT * FROM root r').fetchAll()), ['shop']);
    assert.deepEqual(await ids(c['orders-only'].database('shop').containers.readAll().fetchAll()), ['orders']);
    assert.deepEqual(await ids(c.reader.database('shop').containers.readAll().fetchAll()), ['customers', 'orders']);
    assert.deepEqual(await ids(c['orders-only'].database('shop').containers.query('SELECT * FROM root r').fetchAll()), ['orders']);
    await refused('list containers of a database without a rule', () => c['orders-only'].database('other').containers.readAll().fetchAll(), ["'orders-only'", "'other'"]);
  });

  test('account discovery and partition-key ranges always work (even for containers the client may not use)', async () => {
    for (const name of ['team-admin', 'orders-only']) {
      const acct = await request({ url: s.proxy.url, key: s.clientKeys[name], ca: s.pki.ca });
      assert.equal(acct.status, 200, `GET / as ${name}: ${acct.status} ${acct.text.slice(0, 200)}`);
      assert.ok(acct.json?.writableLocations, 'an account document');
    }
    const pk = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/pkranges`, key: s.clientKeys['orders-only'], ca: s.pki.ca });
    assert.equal(pk.status, 200, `pkranges of customers as orders-only: ${pk.status} ${pk.text.slice(0, 200)}`);
    assert.ok(Array.isArray(pk.json?.PartitionKeyRanges), 'a pkranges feed');
  });

  test('each request is attributed to the client that signed it (audit "client")', async () => {
    const tag = `attr-${Date.now()}`;
    const cust = (n) => c[n].database('shop').container('customers');
    const ord = (n) => c[n].database('shop').container('orders');
    await ok('star create', () => cust('star').items.create({ id: `${tag}-star`, pk: 'p' }));
    await ok('star read', () => cust('star').item(`${tag}-star`, 'p').read());
    await ok('orders-only create', () => ord('orders-only').items.create({ id: `${tag}-oo`, pk: 'p' }));
    await ok('orders-only read', () => ord('orders-only').item(`${tag}-oo`, 'p').read());
    await ok('reader read', () => ord('reader').item(`${tag}-oo`, 'p').read());
    await refused('reader delete', () => ord('reader').item(`${tag}-oo`, 'p').delete());
    await refused('orders-only read of customers', () => cust('orders-only').item(`${tag}-star`, 'p').read());
    const want = 5;
    const mine = await waitFor(() => {
      const recs = readAudit(auditFile).filter((r) => String(r.id).startsWith(tag));
      return recs.length >= want ? recs : null;
    });
    assert.ok(mine, `audit records for ${tag}: ${JSON.stringify(readAudit(auditFile).filter((r) => String(r.id).startsWith(tag)))}`);
    const find = (id, op, client) => mine.filter((r) => r.id === id && r.operation === op && (!client || r.client === client));
    assert.equal(find(`${tag}-star`, 'read', 'star').length, 1);
    assert.equal(find(`${tag}-star`, 'read', 'star')[0].status, 200);
    assert.deepEqual(find(`${tag}-oo`, 'read').map((r) => r.client).sort(), ['orders-only', 'reader']);
    const del = find(`${tag}-oo`, 'delete');
    assert.equal(del.length, 1);
    assert.equal(del[0].client, 'reader');
    assert.equal(del[0].status, 403);
    assert.equal(del[0].upstream_status, 0);
    assert.equal(del[0].detail, 'rules.denied');
    const cross = find(`${tag}-star`, 'read', 'orders-only');
    assert.equal(cross.length, 1);
    assert.equal(cross[0].status, 403);
    // Creates are attributed too (their id is in the body, so the record's id is empty).
    const creates = readAudit(auditFile).filter((r) => r.operation === 'create' && r.container === 'customers' && r.client === 'star' && r.status === 201);
    assert.ok(creates.length >= 1);
  });
});
