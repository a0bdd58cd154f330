// Failover and regional outages: the write region moves (GET / lists it first, the old write
// region answers 403/3), a global endpoint that follows the write region per connection (as DNS
// does), a region down (connection reset or 503), multi-write accounts, and the admin routes.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startSimulator } from '../lib/server.mjs';
import { signedHeaders } from '../lib/auth.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';
const create = (sim, endpoint, id) => call(sim, { endpoint, method: 'POST', path: DOCS, body: { id, pk: 'p' }, headers: pkHeader('p') });

test('failover moves the write region; GET / lists it first; the old one answers 403/3', async () => {
  const sim = await startSimulator({ tls: false, regions: ['West US', 'East US', 'North Europe'] });
  try {
    const [west, east, north] = sim.regions.map((r) => r.endpoint);
    await makeCollection(sim);
    assert.equal((await create(sim, west, 'a')).status, 201);
    const before = (await call(sim, { path: '/' })).json;
    assert.deepEqual(before.writableLocations.map((l) => l.name), ['West US']);
    assert.deepEqual(before.readableLocations.map((l) => l.name), ['West US', 'East US', 'North Europe']);

    const state = sim.failover('North Europe');
    assert.equal(state.writeRegion, 'North Europe');
    assert.deepEqual(state.order, ['North Europe', 'West US', 'East US']);
    for (const endpoint of [west, east, north]) {
      const acct = (await call(sim, { endpoint, path: '/' })).json;
      assert.deepEqual(acct.writableLocations, [{ name: 'North Europe', databaseAccountEndpoint: north }], 'every region answers the same account');
      assert.deepEqual(acct.readableLocations.map((l) => l.name), ['North Europe', 'West US', 'East US']);
      assert.equal(acct.enableMultipleWriteLocations, false);
    }
    const old = await create(sim, west, 'b');
    assert.equal(old.status, 403);
    assert.equal(old.headers['x-ms-substatus'], '3');
    assert.equal((await create(sim, east, 'b')).status, 403);
    assert.equal((await create(sim, north, 'b')).status, 201);
    assert.equal((await call(sim, { endpoint: west, path: `${DOCS}/b`, headers: pkHeader('p') })).status, 200, 'reads everywhere, one store');
    assert.equal(sim.account().failovers.length, 1);
    assert.throws(() => sim.failover('Mars'), /no region Mars/);
  } finally {
    await sim.stop();
  }
});

test('global endpoint: a new connection reaches the current write region, a warm one keeps its region', async () => {
  const sim = await startSimulator({ tls: false, regions: ['West US', 'East US'], globalEndpoint: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await makeCollection(sim);
    const warm = (id) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ id, pk: 'p' });
        const url = new URL(sim.globalEndpoint);
        const headers = { ...signedHeaders({ method: 'POST', path: DOCS, key: sim.key }), ...pkHeader('p'), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
        const req = http.request({ host: url.hostname, port: url.port, path: DOCS, method: 'POST', headers, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, substatus: res.headers['x-ms-substatus'] }));
        });
        req.on('error', reject);
        req.end(body);
      });
    assert.equal((await warm('g1')).status, 201);
    sim.failover('East US');
    assert.deepEqual(await warm('g2'), { status: 403, substatus: '3' }, 'the warm connection still goes to West US');
    assert.equal((await create(sim, sim.globalEndpoint, 'g3')).status, 201, 'a fresh connection resolves to East US');
    const log = sim.requests().filter((r) => r.via === 'global' && r.op === 'create');
    assert.deepEqual(log.map((r) => `${r.region}:${r.status}`), ['West US:201', 'West US:403', 'East US:201']);
  } finally {
    agent.destroy();
    await sim.stop();
  }
});

test('a region down resets connections or answers 503; regionUp ends it; the admin API drives it', async () => {
  const sim = await startSimulator({ tls: false, regions: ['West US', 'East US'] });
  try {
    const east = sim.regions[1].endpoint;
    await makeCollection(sim);
    sim.regionDown('East US');
    await assert.rejects(call(sim, { endpoint: east, path: '/' }), /socket hang up|ECONNRESET/);
    sim.regionDown('East US', '503');
    const r = await call(sim, { endpoint: east, path: '/' });
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'ServiceUnavailable');
    assert.equal((await call(sim, { path: '/' })).status, 200, 'other regions serve');
    const admin = (method, p, body, endpoint) => call(sim, { endpoint, method, path: `/_sim/${p}`, body, sign: false });
    assert.equal((await admin('GET', 'account', undefined, east)).json.down[0].mode, '503', 'admin works on a down region');
    assert.deepEqual((await admin('POST', 'region-up', { name: 'East US' })).json.down, []);
    assert.equal((await call(sim, { endpoint: east, path: '/' })).status, 200);
    const f = await admin('POST', 'failover', { writeRegion: 'East US' });
    assert.equal(f.json.writeRegion, 'East US');
    assert.equal((await create(sim, east, 'x')).status, 201);
    assert.equal((await admin('POST', 'failover', { writeRegion: 'Nowhere' })).status, 400);
    assert.equal((await admin('POST', 'region-down', { name: 'West US', mode: 'bogus' })).status, 400);
  } finally {
    await sim.stop();
  }
});

test('multi-write: every region writable and listed in writableLocations', async () => {
  const sim = await startSimulator({ tls: false, regions: ['West US', 'East US'], multipleWriteLocations: true });
  try {
    await makeCollection(sim);
    const acct = (await call(sim, { path: '/' })).json;
    assert.equal(acct.enableMultipleWriteLocations, true);
    assert.deepEqual(acct.writableLocations.map((l) => l.name), ['West US', 'East US']);
    assert.equal((await create(sim, sim.regions[1].endpoint, 'm1')).status, 201);
    assert.equal((await create(sim, sim.regions[0].endpoint, 'm2')).status, 201);
  } finally {
    await sim.stop();
  }
});

test('CLI: --global-endpoint and --multi-write', async (t) => {
  const { spawn } = await import('node:child_process');
  const readline = await import('node:readline');
  const bin = new URL('../bin/simulator.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, '--no-tls', '--regions', 'West US,East US', '--global-endpoint', '--multi-write'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const info = JSON.parse(await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve)));
  assert.match(info.globalEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const sim = { endpoint: info.endpoint, key: info.key };
  const acct = (await call(sim, { endpoint: info.globalEndpoint, path: '/' })).json;
  assert.equal(acct.enableMultipleWriteLocations, true);
  assert.equal((await call(sim, { path: '/_sim/failover', method: 'POST', body: { writeRegion: 'East US' }, sign: false })).json.writeRegion, 'East US');
  const exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exit, 0);
});
