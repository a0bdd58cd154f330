// Query plans (x-ms-cosmos-is-query-plan-request) in the PartitionedQueryExecutionInfo shape, the
// gateway's 400/1004 for cross-partition queries it cannot serve, and per-range execution of the
// rewritten queries, merged here the way the SDKs merge them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../lib/server.mjs';
import { execute, ORDER_BY_FILTER } from '../lib/query.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';
const QUERY = { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', 'x-ms-documentdb-query-enablecrosspartition': 'true' };
const PLAN = { ...QUERY, 'x-ms-cosmos-is-query-plan-request': 'True', 'x-ms-cosmos-query-version': '1.4', 'x-ms-cosmos-supported-query-features': 'Aggregate, CompositeAggregate, Distinct, MultipleOrderBy, OffsetAndLimit, OrderBy, Top' };

async function perRange(sim, query, parameters = []) {
  const out = [];
  for (const id of ['0', '1', '2']) {
    const r = await call(sim, { method: 'POST', path: DOCS, body: { query, parameters }, headers: { ...QUERY, 'x-ms-documentdb-partitionkeyrangeid': id, 'x-ms-max-item-count': '1000' } });
    assert.equal(r.status, 200, r.text);
    out.push(r.json.Documents);
  }
  return out;
}

test('query plans', async (t) => {
  const sim = await startSimulator({ partitions: 3, tls: false });
  t.after(() => sim.stop());
  await makeCollection(sim);
  for (let i = 0; i < 30; i++) {
    await call(sim, { method: 'POST', path: DOCS, body: { id: `d${i}`, pk: `p${i}`, n: (i * 7) % 30, g: `g${i % 4}` }, headers: pkHeader(`p${i}`) });
  }
  const all = sim.stored('db1', 'c1');
  const plan = async (query, parameters) => {
    const r = await call(sim, { method: 'POST', path: DOCS, body: { query, parameters }, headers: PLAN });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.partitionedQueryExecutionInfoVersion, 2);
    assert.deepEqual(r.json.queryRanges, [{ min: '', max: 'FF', isMinInclusive: true, isMaxInclusive: false }]);
    assert.equal(r.json.Documents, undefined, 'a plan carries no documents');
    return r.json.queryInfo;
  };

  await t.test('ORDER BY: plan fields, rewritten query, per-range sorted rows merged', async () => {
    const qi = await plan('SELECT c.id, c.n FROM c WHERE c.n > @m ORDER BY c.n DESC', [{ name: '@m', value: 3 }]);
    assert.deepEqual(qi.orderBy, ['Descending']);
    assert.deepEqual(qi.orderByExpressions, ['c.n']);
    assert.equal(qi.distinctType, 'None');
    assert.equal(qi.hasSelectValue, false);
    assert.deepEqual(qi.aggregates, []);
    assert.ok(qi.rewrittenQuery.includes(ORDER_BY_FILTER));
    assert.match(qi.rewrittenQuery, /AS orderByItems/);
    assert.match(qi.rewrittenQuery, /AS payload/);
    const parts = await perRange(sim, qi.rewrittenQuery.replace(ORDER_BY_FILTER, 'true'), [{ name: '@m', value: 3 }]);
    for (const rows of parts) {
      for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].orderByItems[0].item >= rows[i].orderByItems[0].item);
      for (const row of rows) assert.ok(row._rid && row.payload.id);
    }
    const merged = parts.flat().sort((a, b) => b.orderByItems[0].item - a.orderByItems[0].item).map((r) => r.payload);
    assert.deepEqual(merged, execute({ query: 'SELECT c.id, c.n FROM c WHERE c.n > 3 ORDER BY c.n DESC' }, all));
  });

  await t.test('aggregates: COUNT, SUM, MIN, MAX, AVG partials per range', async () => {
    const truth = (fn) => execute({ query: `SELECT VALUE ${fn}(c.n) FROM c` }, all)[0];
    for (const [fn, name] of [['COUNT', 'Count'], ['SUM', 'Sum'], ['MIN', 'Min'], ['MAX', 'Max'], ['AVG', 'Average']]) {
      const qi = await plan(`SELECT VALUE ${fn}(c.n) FROM c`);
      assert.deepEqual(qi.aggregates, [name]);
      assert.equal(qi.hasSelectValue, true);
      const partials = (await perRange(sim, qi.rewrittenQuery)).map((rows) => rows[0][0]);
      let merged;
      if (fn === 'COUNT' || fn === 'SUM') merged = partials.reduce((s, p) => s + p.item, 0);
      if (fn === 'MIN') merged = Math.min(...partials.map((p) => p.item2.min));
      if (fn === 'MAX') merged = Math.max(...partials.map((p) => p.item2.max));
      if (fn === 'AVG') merged = partials.reduce((s, p) => s + p.item.sum, 0) / partials.reduce((s, p) => s + p.item.count, 0);
      assert.equal(merged, truth(fn), fn);
    }
    assert.equal(truth('COUNT'), 30);
  });

  await t.test('DISTINCT, TOP, OFFSET/LIMIT', async () => {
    const d = await plan('SELECT DISTINCT VALUE c.g FROM c');
    assert.equal(d.distinctType, 'Unordered');
    const rows = (await perRange(sim, d.rewrittenQuery)).flat();
    assert.deepEqual([...new Set(rows)].sort(), ['g0', 'g1', 'g2', 'g3']);
    assert.equal((await plan('SELECT DISTINCT c.g FROM c ORDER BY c.g')).distinctType, 'Ordered');
    const top = await plan('SELECT TOP 5 * FROM c ORDER BY c.n');
    assert.equal(top.top, 5);
    assert.match(top.rewrittenQuery, /^SELECT TOP 5 /);
    const ol = await plan('SELECT c.id FROM c ORDER BY c.n OFFSET 3 LIMIT 4');
    assert.equal(ol.offset, 3);
    assert.equal(ol.limit, 4);
    assert.match(ol.rewrittenQuery, /OFFSET 0 LIMIT 7$/);
  });

  await t.test('the gateway refuses cross-partition queries that need a plan: 400/1004 with the plan', async () => {
    const r = await call(sim, { method: 'POST', path: DOCS, body: { query: 'SELECT * FROM c ORDER BY c.n' }, headers: QUERY });
    assert.equal(r.status, 400);
    assert.equal(r.headers['x-ms-substatus'], '1004');
    const info = JSON.parse(r.json.additionalErrorInfo);
    assert.deepEqual(info.queryInfo.orderBy, ['Ascending']);
    const scoped = await call(sim, { method: 'POST', path: DOCS, body: { query: 'SELECT * FROM c ORDER BY c.n' }, headers: { ...QUERY, ...pkHeader('p1') } });
    assert.equal(scoped.status, 200, 'one logical partition: served directly');
  });

  await t.test('what is not modelled says so', async () => {
    const r = await call(sim, { method: 'POST', path: DOCS, body: { query: 'SELECT c.g, COUNT(1) AS n FROM c GROUP BY c.g' }, headers: PLAN });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /GROUP BY is not modelled/);
  });
});
