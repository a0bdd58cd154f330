// Document operations over the raw REST surface: CRUD, upsert, patch, preconditions, batch and
// bulk, and 410/1002 when a request names a range that is gone or does not own the key.

import test from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../lib/server.mjs';
import { effectivePartitionKey } from '../lib/hash.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';

test('documents', async (t) => {
  const sim = await startSimulator({ partitions: 3, tls: false });
  t.after(() => sim.stop());
  const { coll } = await makeCollection(sim);
  const owner = (pk) => {
    const epk = effectivePartitionKey([pk], coll.partitionKey);
    return sim.ranges('db1', 'c1').find((r) => r.min <= epk && (r.max === 'FF' || epk < r.max)).id;
  };

  await t.test('create, read, replace, upsert, delete', async () => {
    const c = await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p1', n: 1 }, headers: pkHeader('p1') });
    assert.equal(c.status, 201);
    assert.equal(c.headers.etag, c.json._etag);
    assert.equal(typeof c.json._ts, 'number');
    assert.equal((await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p1' }, headers: pkHeader('p1') })).status, 409);
    const mismatch = await call(sim, { method: 'POST', path: DOCS, body: { id: 'x', pk: 'p1' }, headers: pkHeader('p2') });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.json.message, /PartitionKey extracted from document doesn't match/);
    const r = await call(sim, { path: `${DOCS}/a`, headers: pkHeader('p1') });
    assert.equal(r.json.n, 1);
    assert.equal((await call(sim, { path: `${DOCS}/a`, headers: pkHeader('p2') })).status, 404);
    assert.equal((await call(sim, { path: `${DOCS}/a` })).status, 400, 'a point read needs the partition key');
    assert.equal((await call(sim, { path: `${DOCS}/a`, headers: { ...pkHeader('p1'), 'if-none-match': r.json._etag } })).status, 304);
    const stale = await call(sim, { method: 'PUT', path: `${DOCS}/a`, body: { id: 'a', pk: 'p1', n: 2 }, headers: { ...pkHeader('p1'), 'if-match': '"nope"' } });
    assert.equal(stale.status, 412);
    const rep = await call(sim, { method: 'PUT', path: `${DOCS}/a`, body: { id: 'a', pk: 'p1', n: 2 }, headers: { ...pkHeader('p1'), 'if-match': r.json._etag } });
    assert.equal(rep.status, 200);
    assert.equal(rep.json._rid, r.json._rid, 'a replace keeps the RID');
    assert.notEqual(rep.json._etag, r.json._etag);
    const up1 = await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p1', n: 3 }, headers: { ...pkHeader('p1'), 'x-ms-documentdb-is-upsert': 'true' } });
    assert.equal(up1.status, 200);
    const up2 = await call(sim, { method: 'POST', path: DOCS, body: { id: 'b', pk: 'p1' }, headers: { ...pkHeader('p1'), 'x-ms-documentdb-is-upsert': 'true' } });
    assert.equal(up2.status, 201);
    const min = await call(sim, { method: 'POST', path: DOCS, body: { id: 'm', pk: 'p1' }, headers: { ...pkHeader('p1'), prefer: 'return=minimal' } });
    assert.equal(min.status, 201);
    assert.equal(min.text, '');
    assert.equal((await call(sim, { method: 'DELETE', path: `${DOCS}/b`, headers: pkHeader('p1') })).status, 204);
    assert.equal((await call(sim, { method: 'DELETE', path: `${DOCS}/b`, headers: pkHeader('p1') })).status, 404);
  });

  await t.test('patch: array body and {operations, condition}', async () => {
    const p = await call(sim, {
      method: 'PATCH',
      path: `${DOCS}/a`,
      headers: pkHeader('p1'),
      body: [
        { op: 'set', path: '/s', value: 'x' },
        { op: 'incr', path: '/n', value: 5 },
        { op: 'add', path: '/tags', value: ['t1'] },
        { op: 'add', path: '/tags/-', value: 't2' },
        { op: 'replace', path: '/s', value: 'y' },
        { op: 'move', from: '/s', path: '/moved' },
      ],
    });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.n, 8);
    assert.deepEqual(p.json.tags, ['t1', 't2']);
    assert.equal(p.json.moved, 'y');
    assert.equal(p.json.s, undefined);
    const r = await call(sim, { method: 'PATCH', path: `${DOCS}/a`, headers: pkHeader('p1'), body: { operations: [{ op: 'remove', path: '/moved' }], condition: 'FROM c WHERE c.n = 8' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.moved, undefined);
    const no = await call(sim, { method: 'PATCH', path: `${DOCS}/a`, headers: pkHeader('p1'), body: { operations: [{ op: 'set', path: '/z', value: 1 }], condition: 'FROM c WHERE c.n = 9' } });
    assert.equal(no.status, 412);
    assert.equal((await call(sim, { method: 'PATCH', path: `${DOCS}/a`, headers: pkHeader('p1'), body: [{ op: 'set', path: '/pk', value: 'p2' }] })).status, 400);
    assert.equal((await call(sim, { method: 'PATCH', path: `${DOCS}/a`, headers: pkHeader('p1'), body: [{ op: 'remove', path: '/absent' }] })).status, 400);
  });

  await t.test('410/1002 when the named range is gone or does not own the key', async () => {
    const own = owner('p1');
    const other = ['0', '1', '2'].find((x) => x !== own);
    const ok = await call(sim, { path: `${DOCS}/a`, headers: { ...pkHeader('p1'), 'x-ms-documentdb-partitionkeyrangeid': own } });
    assert.equal(ok.status, 200);
    const wrong = await call(sim, { path: `${DOCS}/a`, headers: { ...pkHeader('p1'), 'x-ms-documentdb-partitionkeyrangeid': other } });
    assert.equal(wrong.status, 410);
    assert.equal(wrong.headers['x-ms-substatus'], '1002');
    assert.equal(wrong.json.code, 'Gone');
    const missing = await call(sim, { path: DOCS, headers: { 'x-ms-documentdb-partitionkeyrangeid': '99' } });
    assert.equal(missing.status, 410);
    assert.equal(missing.headers['x-ms-substatus'], '1002');
    const withRid = await call(sim, { path: DOCS, headers: { 'x-ms-documentdb-partitionkeyrangeid': `${coll._rid},${own}` } });
    assert.equal(withRid.status, 200, 'the "<collRid>,<id>" header form');
  });

  await t.test('a split retires the parent range id (410/1002) and keeps every document reachable', async () => {
    const { coll: sc } = await makeCollection(sim, { coll: 'split' });
    for (let i = 0; i < 30; i++) await call(sim, { method: 'POST', path: '/dbs/db1/colls/split/docs', body: { id: `s${i}`, pk: `k${i}` }, headers: pkHeader(`k${i}`) });
    const children = sim.splitRange('db1', 'split', '1');
    assert.deepEqual(children, ['3', '4']);
    const gone = await call(sim, { path: '/dbs/db1/colls/split/docs', headers: { 'x-ms-documentdb-partitionkeyrangeid': '1' } });
    assert.equal(gone.status, 410);
    assert.equal(gone.headers['x-ms-substatus'], '1002');
    const pk = await call(sim, { path: '/dbs/db1/colls/split/pkranges' });
    assert.deepEqual(pk.json.PartitionKeyRanges.map((r) => r.id), ['0', '3', '4', '2']);
    assert.deepEqual(pk.json.PartitionKeyRanges[1].parents, ['1']);
    let total = 0;
    for (const id of ['0', '3', '4', '2']) {
      const f = await call(sim, { path: '/dbs/db1/colls/split/docs', headers: { 'x-ms-documentdb-partitionkeyrangeid': id } });
      total += f.json._count;
    }
    assert.equal(total, 30);
    assert.ok(sc._rid);
  });

  await t.test('transactional batch: all or nothing, 424 for the rest', async () => {
    const ops = [
      { operationType: 'Create', resourceBody: { id: 't1', pk: 'b1' } },
      { operationType: 'Upsert', resourceBody: { id: 't2', pk: 'b1' } },
      { operationType: 'Read', id: 't1' },
      { operationType: 'Patch', id: 't2', resourceBody: { operations: [{ op: 'set', path: '/v', value: 1 }] } },
    ];
    const hdr = { ...pkHeader('b1'), 'x-ms-cosmos-is-batch-request': 'true', 'x-ms-cosmos-batch-atomic': 'true' };
    const ok = await call(sim, { method: 'POST', path: DOCS, body: ops, headers: hdr });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json.map((r) => r.statusCode), [201, 201, 200, 200]);
    assert.equal(ok.json[3].resourceBody.v, 1);
    const bad = await call(sim, {
      method: 'POST',
      path: DOCS,
      headers: hdr,
      body: [{ operationType: 'Create', resourceBody: { id: 't3', pk: 'b1' } }, { operationType: 'Create', resourceBody: { id: 't1', pk: 'b1' } }, { operationType: 'Delete', id: 't2' }],
    });
    assert.equal(bad.status, 409);
    assert.deepEqual(bad.json.map((r) => r.statusCode), [424, 409, 424]);
    assert.equal((await call(sim, { path: `${DOCS}/t3`, headers: pkHeader('b1') })).status, 404, 'rolled back');
    assert.equal((await call(sim, { path: `${DOCS}/t2`, headers: pkHeader('b1') })).status, 200);
  });

  await t.test('bulk: per-op partition keys, minimalReturnPreference, continue on error', async () => {
    const pks = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const byRange = new Map();
    for (const pk of pks) byRange.set(owner(pk), [...(byRange.get(owner(pk)) || []), pk]);
    const [rangeId, group] = [...byRange.entries()][0];
    const body = group.map((pk) => ({ operationType: 'Create', partitionKey: JSON.stringify([pk]), resourceBody: { id: `bulk-${pk}`, pk }, minimalReturnPreference: true }));
    body.push({ operationType: 'Create', partitionKey: JSON.stringify([group[0]]), resourceBody: { id: `bulk-${group[0]}`, pk: group[0] } });
    const hdr = { 'x-ms-cosmos-is-batch-request': 'true', 'x-ms-cosmos-batch-atomic': 'false', 'x-ms-cosmos-batch-continue-on-error': 'true', 'x-ms-documentdb-partitionkeyrangeid': rangeId };
    const r = await call(sim, { method: 'POST', path: DOCS, body, headers: hdr });
    assert.equal(r.status, 207, r.text);
    assert.deepEqual(r.json.map((x) => x.statusCode), [...group.map(() => 201), 409]);
    assert.equal(r.json[0].resourceBody, undefined, 'minimal return preference');
    const otherPk = pks.find((pk) => owner(pk) !== rangeId);
    const wrong = await call(sim, { method: 'POST', path: DOCS, body: [{ operationType: 'Create', partitionKey: JSON.stringify([otherPk]), resourceBody: { id: 'w', pk: otherPk } }], headers: hdr });
    assert.equal(wrong.status, 410);
    assert.equal(wrong.headers['x-ms-substatus'], '1002');
  });
});
