// Regions (issue 15 item 5, docs/OPERATIONS.md "Regions"): the real @azure/cosmos SDK through
// cosmoseal with listen.region_ports to the simulator with two regions (West US = write region,
// East US = read region). Discovery advertises each region at its own cosmoseal port; a request on
// a region port reaches that region's listener of the simulator. With preferredLocations
// ['East US'], reads go to East US and writes to West US, as they would without cosmoseal; every
// request the simulator sees is signed with the account key (nothing bypasses cosmoseal: the app
// only has its client key).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { cosmos } from './lib/deps.mjs';
import { createPki } from './lib/pki.mjs';
import { startCosmoseal, freePort } from './lib/cosmoseal.mjs';
import { randomKey } from './lib/keys.mjs';
import { signedHeaders } from './lib/auth.mjs';
import { startSimulator } from '../simulator/lib/server.mjs';

const { CosmosClient } = cosmos;

describe('regions: one cosmoseal port per account region', () => {
  let dir;
  let sim;
  let proxy;
  let agent;
  let regionPorts;
  const appKey = randomKey();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-regions-'));
    const pki = createPki(dir);
    sim = await startSimulator({ regions: ['West US', 'East US'], partitions: 2, pki });
    regionPorts = [await freePort(), await freePort(), await freePort()];
    proxy = await startCosmoseal({
      dir,
      front: { url: sim.endpoint },
      accountKey: sim.key,
      pki,
      clients: [{ name: 'app', key: appKey }],
      listenExtra: { region_ports: regionPorts },
      extra: { log: { level: 'debug' } },
    });
    agent = new https.Agent({ ca: pki.ca, keepAlive: true });
  });

  after(async () => {
    agent?.destroy();
    await proxy?.stop();
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a region port no region has taken answers 503 upstream.region_unknown', async () => {
    const r = await new Promise((resolve, reject) => {
      const headers = { ...signedHeaders({ method: 'GET', path: '/dbs', key: appKey }), host: `localhost:${regionPorts[2]}` };
      https
        .get({ host: '127.0.0.1', servername: 'localhost', port: regionPorts[2], path: '/dbs', agent, headers }, (m) => {
          let body = '';
          m.on('data', (c) => (body += c));
          m.on('end', () => resolve({ status: m.statusCode, detail: m.headers['x-cosmoseal-detail'], body }));
        })
        .on('error', reject);
    });
    assert.equal(r.status, 503, JSON.stringify(r));
    assert.equal(r.detail, 'upstream.region_unknown');
  });

  test('discovery advertises each region at its own port; reads go to East US, writes to West US', async () => {
    const client = new CosmosClient({
      endpoint: proxy.url,
      key: appKey,
      agent,
      connectionPolicy: { preferredLocations: ['East US'], enableEndpointDiscovery: true },
    });
    try {
      const { resource: account } = await client.getDatabaseAccount();
      const readable = Object.fromEntries(account.readableLocations.map((l) => [l.name, l.databaseAccountEndpoint]));
      assert.equal(readable['West US'], `https://localhost:${regionPorts[0]}/`, JSON.stringify(account.readableLocations));
      assert.equal(readable['East US'], `https://localhost:${regionPorts[1]}/`);
      assert.equal(account.writableLocations[0].databaseAccountEndpoint, `https://localhost:${regionPorts[0]}/`);

      const { database } = await client.databases.createIfNotExists({ id: 'shop' });
      const { container } = await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/pk'] } });
      sim.clearRequests();
      for (let i = 0; i < 4; i++) await container.items.create({ id: `r${i}`, pk: `p${i}`, n: i });
      for (let i = 0; i < 4; i++) {
        const { resource } = await container.item(`r${i}`, `p${i}`).read();
        assert.equal(resource.n, i);
      }
      const q = await container.items.query('SELECT VALUE COUNT(1) FROM c').fetchAll();
      assert.deepEqual(q.resources, [4]);

      const log = sim.requests();
      const writes = log.filter((r) => r.method === 'POST' && r.op === 'create');
      const reads = log.filter((r) => r.method === 'GET' && /\/docs\/r\d$/.test(r.url.split('?')[0]));
      assert.equal(writes.length, 4, JSON.stringify(log.map((r) => [r.region, r.method, r.url, r.op])));
      assert.ok(writes.every((r) => r.region === 'West US'), JSON.stringify(writes.map((r) => r.region)));
      assert.equal(reads.length, 4);
      assert.ok(reads.every((r) => r.region === 'East US'), JSON.stringify(reads.map((r) => r.region)));
      assert.ok(log.every((r) => r.status !== 403), 'no write reached the read region');
      // Every upstream request was made by cosmoseal (signed with the account key).
      const unsigned = sim.requests().filter((r) => !r.verified);
      assert.deepEqual(unsigned.map((r) => `${r.method} ${r.url}`), []);

      const metrics = await (await fetch(`${proxy.adminUrl}metrics`)).text();
      assert.match(metrics, /cosmoseal_regions_known 2/);
      assert.match(metrics, /cosmoseal_upstream_region_requests_total\{region="East US"\} [1-9]/);
      const logText = fs.readFileSync(proxy.logPath, 'utf8');
      assert.match(logText, /region "West US" -> 127\.0\.0\.1:\d+ -> https:\/\/127\.0\.0\.1:\d+\//);
      assert.match(logText, /region "East US" -> 127\.0\.0\.1:\d+/);
    } finally {
      client.dispose();
    }
  });

  test('without preferred locations everything stays in the write region', async () => {
    const client = new CosmosClient({ endpoint: proxy.url, key: appKey, agent });
    try {
      const c = client.database('shop').container('orders');
      sim.clearRequests();
      await c.items.create({ id: 'w1', pk: 'pw', n: 9 });
      assert.equal((await c.item('w1', 'pw').read()).resource.n, 9);
      const regions = new Set(sim.requests().map((r) => r.region));
      assert.deepEqual([...regions], ['West US']);
    } finally {
      client.dispose();
    }
  });
});
