// Physical ranges and RID addressing: documents land in the range that owns their EPK, every
// resource has a RID in the service's layout, and requests by RID path work.

import test from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../lib/server.mjs';
import { parseRid } from '../lib/rid.mjs';
import { effectivePartitionKey } from '../lib/hash.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

test('placement and RIDs', async (t) => {
  const sim = await startSimulator({ partitions: 4, tls: false });
  t.after(() => sim.stop());
  const { db, coll } = await makeCollection(sim);
  const { coll: v1 } = await makeCollection(sim, { coll: 'v1', partitionKey: { paths: ['/pk'], kind: 'Hash', version: 1 } });

  await t.test('RID layout: db 4 bytes, collection 8 (its db first), documents and ranges 16', async () => {
    assert.equal(parseRid(db._rid).length, 4);
    const c = parseRid(coll._rid);
    assert.equal(c.length, 8);
    assert.deepEqual(c.subarray(0, 4), parseRid(db._rid));
    assert.ok(c[4] & 0x80, 'collection marker bit');
    assert.equal(coll._self, `dbs/${db._rid}/colls/${coll._rid}/`);
    const r = await call(sim, { path: '/dbs/db1/colls/c1/pkranges' });
    assert.equal(r.json.PartitionKeyRanges.length, 4);
    for (const pr of r.json.PartitionKeyRanges) {
      const b = parseRid(pr._rid);
      assert.equal(b.length, 16);
      assert.deepEqual(b.subarray(0, 8), c);
      assert.equal(b[15] >> 4, 5, 'partition-key-range type nibble');
    }
    assert.equal(coll.partitionKey.version, 2);
    assert.equal(v1.partitionKey.version, 1);
  });

  await t.test('documents are placed by EPK (V2 and V1)', async () => {
    for (const [name, def] of [['c1', coll.partitionKey], ['v1', v1.partitionKey]]) {
      const ranges = sim.ranges('db1', name);
      const seen = new Set();
      for (let i = 0; i < 40; i++) {
        const pk = `pk-${i}`;
        const r = await call(sim, { method: 'POST', path: `/dbs/db1/colls/${name}/docs`, body: { id: `d${i}`, pk }, headers: pkHeader(pk) });
        assert.equal(r.status, 201, r.text);
        const epk = effectivePartitionKey([pk], def);
        const owner = ranges.find((x) => x.min <= epk && (x.max === 'FF' || epk < x.max));
        assert.equal(r.headers['x-ms-documentdb-partitionkeyrangeid'], owner.id, `${name} ${pk}`);
        assert.match(r.headers['x-ms-session-token'], new RegExp(`^${owner.id}:-1#\\d+$`));
        const b = parseRid(r.json._rid);
        assert.equal(b.length, 16);
        assert.equal(b[15] >> 4, 0, 'document type nibble');
        seen.add(owner.id);
      }
      assert.equal(seen.size, 4, `${name}: documents in every range`);
    }
  });

  await t.test('requests by RID path work for db, collection, pkranges and documents', async () => {
    const base = `/dbs/${db._rid}/colls/${coll._rid}`;
    const c = await call(sim, { path: base, ridBased: true });
    assert.equal(c.status, 200);
    assert.equal(c.json.id, 'c1');
    // The owner's name and RID: Java builds the collection's name link from them.
    assert.equal(c.headers['x-ms-alt-content-path'], 'dbs/db1');
    assert.equal(c.headers['x-ms-content-path'], db._rid);
    const feed = await call(sim, { path: `${base}/docs`, ridBased: true, headers: { 'x-ms-documentdb-partitionkeyrangeid': '0' } });
    assert.equal(feed.status, 200);
    const doc = feed.json.Documents[0];
    const byRid = await call(sim, { path: `${base}/docs/${doc._rid}`, ridBased: true });
    assert.equal(byRid.status, 200);
    assert.equal(byRid.json.id, doc.id);
    assert.equal(byRid.json._self, `${base.slice(1)}/docs/${doc._rid}/`);
  });

  await t.test('hierarchical keys (MultiHash): placement by the concatenated hashes, prefix queries', async () => {
    const def = { paths: ['/tenant', '/user'], kind: 'MultiHash', version: 2 };
    await makeCollection(sim, { coll: 'hier', partitionKey: def });
    const docs = [['t1', 'u1'], ['t1', 'u2'], ['t10', 'u1'], ['t2', 'u1']];
    for (const [tenant, user] of docs) {
      const r = await call(sim, { method: 'POST', path: '/dbs/db1/colls/hier/docs', body: { id: `${tenant}-${user}`, tenant, user }, headers: pkHeader(tenant, user) });
      assert.equal(r.status, 201, r.text);
      const epk = effectivePartitionKey([tenant, user], def);
      assert.equal(epk.length, 64);
      const owner = sim.ranges('db1', 'hier').find((x) => x.min <= epk && (x.max === 'FF' || epk < x.max));
      assert.equal(r.headers['x-ms-documentdb-partitionkeyrangeid'], owner.id);
    }
    const q = await call(sim, {
      method: 'POST',
      path: '/dbs/db1/colls/hier/docs',
      body: { query: 'SELECT VALUE c.id FROM c' },
      headers: { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', ...pkHeader('t1') },
    });
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.Documents.sort(), ['t1-u1', 't1-u2']);
  });

  await t.test('inspection: stored documents by name or RID', () => {
    assert.equal(sim.stored('db1', 'c1').length, 40);
    assert.equal(sim.stored(db._rid, coll._rid).length, 40);
  });
});
