// Per-range session tokens, continuation tokens for queries and read feed (x-ms-max-item-count,
// across pages and ranges), and the incremental change feed (If-None-Match etag, per range, per
// partition key, all ranges).

import test from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../lib/server.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';
const QUERY = { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', 'x-ms-documentdb-query-enablecrosspartition': 'true' };

async function drain(sim, headers, body) {
  const pages = [];
  let cont;
  for (let i = 0; i < 100; i++) {
    const h = { ...headers, ...(cont ? { 'x-ms-continuation': cont } : {}) };
    const r = body ? await call(sim, { method: 'POST', path: DOCS, body, headers: h }) : await call(sim, { path: DOCS, headers: h });
    assert.equal(r.status, 200, r.text);
    pages.push(r);
    cont = r.headers['x-ms-continuation'];
    if (!cont) break;
  }
  return pages;
}

test('feeds and tokens', async (t) => {
  const sim = await startSimulator({ partitions: 3, tls: false });
  t.after(() => sim.stop());
  await makeCollection(sim);
  const ids = [];
  for (let i = 0; i < 25; i++) {
    const r = await call(sim, { method: 'POST', path: DOCS, body: { id: `d${i}`, pk: `p${i % 5}`, n: i }, headers: pkHeader(`p${i % 5}`) });
    ids.push({ id: `d${i}`, range: r.headers['x-ms-documentdb-partitionkeyrangeid'] });
  }

  await t.test('session tokens are per range and move with writes; a token ahead of the range is 404/1002', async () => {
    const w = await call(sim, { method: 'POST', path: DOCS, body: { id: 'sx', pk: 'p0' }, headers: pkHeader('p0') });
    const tok = w.headers['x-ms-session-token'];
    const [range, rest] = tok.split(':');
    const lsn = Number(rest.split('#')[1]);
    assert.equal(range, w.headers['x-ms-documentdb-partitionkeyrangeid']);
    const w2 = await call(sim, { method: 'POST', path: DOCS, body: { id: 'sy', pk: 'p0' }, headers: pkHeader('p0') });
    assert.equal(w2.headers['x-ms-session-token'], `${range}:-1#${lsn + 1}`);
    const r = await call(sim, { path: `${DOCS}/sx`, headers: { ...pkHeader('p0'), 'x-ms-session-token': w2.headers['x-ms-session-token'] } });
    assert.equal(r.status, 200);
    const ahead = await call(sim, { path: `${DOCS}/sx`, headers: { ...pkHeader('p0'), 'x-ms-session-token': `${range}:-1#${lsn + 50}` } });
    assert.equal(ahead.status, 404);
    assert.equal(ahead.headers['x-ms-substatus'], '1002');
    const otherRange = await call(sim, { path: `${DOCS}/sx`, headers: { ...pkHeader('p0'), 'x-ms-session-token': `9:-1#999,${range}:-1#${lsn}` } });
    assert.equal(otherRange.status, 200, 'tokens of other ranges do not matter');
  });

  await t.test('read feed per range pages with continuation and honours x-ms-max-item-count', async () => {
    let total = 0;
    for (const id of ['0', '1', '2']) {
      const pages = await drain(sim, { 'x-ms-documentdb-partitionkeyrangeid': id, 'x-ms-max-item-count': '2' });
      for (const p of pages) assert.ok(p.json.Documents.length <= 2);
      const docs = pages.flatMap((p) => p.json.Documents);
      total += docs.length;
      for (const p of pages) assert.match(p.headers['x-ms-session-token'], new RegExp(`^${id}:-1#\\d+$`));
    }
    assert.equal(total, 27);
  });

  await t.test('cross-partition query without plan features: gateway fan-out, one range per page', async () => {
    const pages = await drain(sim, { ...QUERY, 'x-ms-max-item-count': '4' }, { query: 'SELECT * FROM c WHERE c.n >= @n', parameters: [{ name: '@n', value: 10 }] });
    const docs = pages.flatMap((p) => p.json.Documents);
    assert.equal(docs.length, 15);
    assert.equal(new Set(docs.map((d) => d.id)).size, 15);
    const conts = pages.map((p) => p.headers['x-ms-continuation']).filter(Boolean);
    assert.ok(conts.every((c) => JSON.parse(c).range), 'fan-out continuations name their range');
    assert.ok(pages.length >= 5);
  });

  await t.test('queries scoped by partition key or by range, with continuation', async () => {
    const pk = await drain(sim, { ...QUERY, ...pkHeader('p1'), 'x-ms-max-item-count': '2' }, { query: 'SELECT c.id FROM c ORDER BY c.n DESC' });
    assert.deepEqual(pk.flatMap((p) => p.json.Documents).map((d) => d.id), ['d21', 'd16', 'd11', 'd6', 'd1']);
    const r = await drain(sim, { ...QUERY, 'x-ms-documentdb-partitionkeyrangeid': '0', 'x-ms-max-item-count': '3' }, { query: 'SELECT VALUE c.id FROM c' });
    const p0Range = ids[0].range; // sx and sy share d0's partition key
    const want = ids.filter((x) => x.range === '0').map((x) => x.id).concat(p0Range === '0' ? ['sx', 'sy'] : []);
    assert.deepEqual(r.flatMap((p) => p.json.Documents).sort(), want.sort());
    assert.ok(r.length > 1, 'several pages');
    const noCross = await call(sim, { method: 'POST', path: DOCS, body: { query: 'SELECT * FROM c' }, headers: { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json' } });
    assert.equal(noCross.status, 400);
    const sql = await call(sim, { method: 'POST', path: DOCS, body: 'SELECT VALUE COUNT(1) FROM c', headers: { 'content-type': 'application/sql', ...pkHeader('p2') } });
    assert.equal(sql.status, 200, 'application/sql bodies (Java query compatibility mode)');
    assert.deepEqual(sql.json.Documents, [5]);
    const bad = await call(sim, { method: 'POST', path: DOCS, body: { query: 'SELECT * FROM c' }, headers: { ...QUERY, ...pkHeader('p1'), 'x-ms-continuation': 'garbage' } });
    assert.equal(bad.status, 400);
  });

  await t.test('change feed per range: from the beginning, then incremental via the etag, 304 when idle', async () => {
    const hdr = { 'a-im': 'Incremental Feed', 'x-ms-documentdb-partitionkeyrangeid': '1', 'x-ms-max-item-count': '3' };
    let etag;
    const seen = [];
    for (let i = 0; i < 50; i++) {
      const r = await call(sim, { path: DOCS, headers: { ...hdr, ...(etag ? { 'if-none-match': etag } : {}) } });
      etag = r.headers.etag;
      assert.match(etag, /^"\d+"$/);
      if (r.status === 304) break;
      assert.equal(r.status, 200);
      assert.ok(r.json.Documents.length <= 3);
      for (const d of r.json.Documents) assert.equal(typeof d._lsn, 'number');
      seen.push(...r.json.Documents.map((d) => d.id));
    }
    const inRange1 = sim.stored('db1', 'c1').filter((d) => ids.find((x) => x.id === d.id)?.range === '1').map((d) => d.id);
    assert.deepEqual(seen.sort(), inRange1.sort());
    // A new write in that range shows up once; an update shows the latest version only.
    const target = ids.find((x) => x.range === '1');
    const doc = sim.stored('db1', 'c1').find((d) => d.id === target.id);
    await call(sim, { method: 'PUT', path: `${DOCS}/${doc.id}`, body: { ...doc, n: 1000 }, headers: pkHeader(doc.pk) });
    await call(sim, { method: 'PUT', path: `${DOCS}/${doc.id}`, body: { ...doc, n: 1001 }, headers: pkHeader(doc.pk) });
    const next = await call(sim, { path: DOCS, headers: { ...hdr, 'if-none-match': etag } });
    assert.equal(next.status, 200);
    assert.deepEqual(next.json.Documents.map((d) => [d.id, d.n]), [[doc.id, 1001]]);
    const idle = await call(sim, { path: DOCS, headers: { ...hdr, 'if-none-match': next.headers.etag } });
    assert.equal(idle.status, 304);
    const now = await call(sim, { path: DOCS, headers: { ...hdr, 'if-none-match': '*' } });
    assert.equal(now.status, 304, 'If-None-Match: * starts from now');
  });

  await t.test('change feed for one partition key and for the whole collection', async () => {
    const pk = await call(sim, { path: DOCS, headers: { 'a-im': 'Incremental Feed', ...pkHeader('p3') } });
    assert.equal(pk.status, 200);
    assert.deepEqual(pk.json.Documents.map((d) => d.id).sort(), ['d13', 'd18', 'd23', 'd3', 'd8']);
    let etag;
    let n = 0;
    for (let i = 0; i < 50; i++) {
      const r = await call(sim, { path: DOCS, headers: { 'a-im': 'Incremental Feed', 'x-ms-max-item-count': '10', ...(etag ? { 'if-none-match': etag } : {}) } });
      etag = r.headers.etag;
      if (r.status === 304) break;
      n += r.json.Documents.length;
    }
    assert.equal(n, 27);
    assert.match(etag, /^"0:\d+,1:\d+,2:\d+"$/);
  });
});
