// Injected faults (429 with x-ms-retry-after-ms and substatus, and others), the inspection API
// (raw stored documents, every request body received), the admin HTTP API, and the CLI that the
// Java, Python and Go harnesses start as a process.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../lib/server.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'simulator.mjs');

test('faults and inspection', async (t) => {
  const sim = await startSimulator({ partitions: 3, tls: false });
  t.after(() => sim.stop());
  await makeCollection(sim);

  await t.test('429 on demand: count, match, headers, body', async () => {
    const rule = sim.addFault({ count: 2, retryAfterMs: 250, match: { op: 'create' } });
    const r1 = await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p' }, headers: pkHeader('p') });
    assert.equal(r1.status, 429);
    assert.equal(r1.headers['x-ms-retry-after-ms'], '250');
    assert.equal(r1.headers['x-ms-substatus'], '3200');
    assert.equal(r1.json.code, 'TooManyRequests');
    assert.match(r1.json.message, /Request rate is large/);
    assert.equal((await call(sim, { path: '/dbs/db1' })).status, 200, 'other operations are not affected');
    assert.equal((await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p' }, headers: pkHeader('p') })).status, 429);
    assert.equal((await call(sim, { method: 'POST', path: DOCS, body: { id: 'a', pk: 'p' }, headers: pkHeader('p') })).status, 201);
    assert.equal(rule.hits, 2);
    assert.equal(sim.stored('db1', 'c1').length, 1, 'a throttled write stores nothing');
  });

  await t.test('other injected statuses and unsigned requests are never throttled first', async () => {
    sim.addFault({ status: 503, count: 1, match: { method: 'GET', path: '/docs/a' } });
    const r = await call(sim, { path: `${DOCS}/a`, headers: pkHeader('p') });
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-ms-retry-after-ms'], undefined);
    sim.addFault({ count: 1 });
    assert.equal((await call(sim, { path: '/dbs', sign: false })).status, 401, 'signatures are checked before faults');
    assert.equal((await call(sim, { path: '/dbs' })).status, 429);
    sim.clearFaults();
  });

  await t.test('stored() shows raw documents; requests() every body received', async () => {
    sim.clearRequests();
    const canary = 'CANARY-5f2d9';
    await call(sim, { method: 'POST', path: DOCS, body: { id: 'c', pk: 'p', secret: canary }, headers: pkHeader('p') });
    const stored = sim.stored('db1', 'c1').find((d) => d.id === 'c');
    assert.equal(stored.secret, canary);
    assert.ok(stored._rid && stored._etag && stored._ts);
    const log = sim.requests();
    assert.equal(log.length, 1);
    assert.ok(log[0].bodyText.includes(canary));
    assert.equal(log[0].op, 'create');
    assert.equal(log[0].status, 201);
    assert.equal(log[0].verified, true);
  });

  await t.test('scan() finds a canary in any textual form, anywhere in a request', async () => {
    const canary = 'Zürich-7781';
    await call(sim, { method: 'POST', path: DOCS, body: JSON.stringify({ id: 'z1', pk: 'p', v: canary }).replace('ü', '\\u00fc'), headers: pkHeader('p') });
    await call(sim, { method: 'POST', path: DOCS, body: { id: 'z2', pk: canary }, headers: { 'x-ms-documentdb-partitionkey': '["Z\\u00fcrich-7781"]' } });
    await call(sim, { path: `${DOCS}/${encodeURIComponent(canary)}`, headers: pkHeader('p') });
    const hits = sim.scan(canary);
    assert.deepEqual(
      hits.map((h) => `${h.seq}:${h.where}:${h.form}`),
      [
        `${hits[0].seq}:body:json-ascii`,
        `${hits[0].seq + 1}:header:x-ms-documentdb-partitionkey:json-ascii`,
        `${hits[0].seq + 1}:body:literal`,
        `${hits[0].seq + 2}:url:percent`,
      ],
    );
    assert.deepEqual(sim.scan('never-sent-4411'), []);
  });

  await t.test('admin HTTP API: requests, stored, faults, ranges, split', async () => {
    const admin = (method, p, body) => call(sim, { method, path: `/_sim/${p}`, body, sign: false });
    const reqs = await admin('GET', 'requests');
    assert.ok(reqs.json.some((r) => r.body.includes('CANARY-5f2d9')));
    assert.equal((await admin('GET', 'stored/db1/c1')).json.length, 4);
    assert.equal((await admin('GET', 'ranges/db1/c1')).json.length, 3);
    await admin('POST', 'faults', { status: 429, count: 1, retryAfterMs: 5, match: { op: 'read' } });
    assert.equal((await call(sim, { path: `${DOCS}/c`, headers: pkHeader('p') })).status, 429);
    assert.equal((await call(sim, { path: `${DOCS}/c`, headers: pkHeader('p') })).status, 200);
    assert.deepEqual((await admin('POST', 'split', { db: 'db1', coll: 'c1', range: '0' })).json, ['3', '4']);
    assert.equal((await admin('GET', 'nope')).status, 404);
    const scan = await admin('GET', `scan?s=${encodeURIComponent('CANARY-5f2d9')}`);
    assert.equal(scan.json.length, 1);
    assert.equal(scan.json[0].where, 'body');
    assert.equal((await admin('DELETE', 'requests')).status, 200);
    assert.equal(sim.requests().length, 0, 'admin requests are not logged');
  });
});

test('regions: one listener each, writes only in the write region (403/3 elsewhere), faults by region', async (t) => {
  const sim = await startSimulator({ tls: false, regions: ['West US', 'East US'] });
  t.after(() => sim.stop());
  const east = { endpoint: sim.regions[1].endpoint };
  await makeCollection(sim);
  const w = await call(sim, { ...east, method: 'POST', path: DOCS, body: { id: 'e', pk: 'p' }, headers: pkHeader('p') });
  assert.equal(w.status, 403);
  assert.equal(w.headers['x-ms-substatus'], '3');
  assert.equal((await call(sim, { ...east, method: 'POST', path: '/dbs', body: { id: 'x' } })).status, 403);
  assert.equal((await call(sim, { method: 'POST', path: DOCS, body: { id: 'e', pk: 'p' }, headers: pkHeader('p') })).status, 201);
  assert.equal((await call(sim, { ...east, path: `${DOCS}/e`, headers: pkHeader('p') })).status, 200, 'reads anywhere');
  const q = await call(sim, { ...east, method: 'POST', path: DOCS, body: { query: 'SELECT * FROM c' }, headers: { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', ...pkHeader('p') } });
  assert.equal(q.status, 200, 'queries are reads');
  sim.addFault({ status: 503, count: 5, match: { region: 'East US' } });
  assert.equal((await call(sim, { ...east, path: `${DOCS}/e`, headers: pkHeader('p') })).status, 503);
  assert.equal((await call(sim, { path: `${DOCS}/e`, headers: pkHeader('p') })).status, 200);
  assert.deepEqual(sim.requests().filter((r) => r.status === 503).map((r) => r.region), ['East US']);
});

test('CLI: one JSON line when ready, serves, exits 0 on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [BIN, '--partitions', '4', '--regions', 'West US,North Europe'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  const info = JSON.parse(line);
  assert.match(info.endpoint, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(info.regions.length, 2);
  assert.ok(fs.existsSync(info.caFile));
  const sim = { endpoint: info.endpoint, key: info.key, ca: fs.readFileSync(info.caFile) };
  const acct = await call(sim, { path: '/' });
  assert.equal(acct.status, 200);
  assert.deepEqual(acct.json.writableLocations.map((l) => l.databaseAccountEndpoint), [info.endpoint]);
  assert.deepEqual(acct.json.readableLocations.map((l) => l.name), ['West US', 'North Europe']);
  assert.equal(acct.json.userConsistencyPolicy.defaultConsistencyLevel, 'Session');
  await makeCollection(sim);
  assert.equal((await call(sim, { path: '/dbs/db1/colls/c1/pkranges' })).json._count, 4);
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  assert.deepEqual(await exit, { code: 0, signal: null });
  assert.equal(fs.existsSync(info.caFile), false, 'the work dir is removed on stop');
});

test('CLI: --exit-on-stdin-close stops when the parent closes stdin (harness died)', async () => {
  const child = spawn(process.execPath, [BIN, '--no-tls', '--exit-on-stdin-close'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  const info = JSON.parse(line);
  assert.match(info.endpoint, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(info.caFile, null);
  const exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin.end();
  assert.equal(await exit, 0);
});
