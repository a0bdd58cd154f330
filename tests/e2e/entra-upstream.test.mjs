// Issue 16 item 1: cosmoseal authenticates to Cosmos with Microsoft Entra ID (upstream.auth).
// The real @azure/cosmos SDK (with its cosmoseal client key) -> the built cosmoseal -> the
// simulator with local auth disabled, which accepts only `type=aad` tokens of the tenant of the
// test identity provider (tests/idp, over TLS with the test CA). Every upstream auth type; a load
// run across token expiry (20 s tokens, 60 s); the provider going down and coming back.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cosmos } from './lib/deps.mjs';
import { createPki } from './lib/pki.mjs';
import { startCosmoseal } from './lib/cosmoseal.mjs';
import { randomKey } from './lib/keys.mjs';
import { startSimulator } from '../simulator/lib/server.mjs';
import { makeCollection } from '../simulator/test/helpers.mjs';
import { startIdp } from '../idp/lib/idp.mjs';
import { makeClientCertificate } from '../idp/lib/certs.mjs';

const { CosmosClient } = cosmos;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function metric(text, name) {
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([-0-9.e+]+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

describe('entra upstream: cosmoseal -> simulator with local auth disabled, tokens from tests/idp', () => {
  let dir;
  let pki;
  let idp;
  let sim;
  let app;
  let cert;
  const appKey = randomKey();
  const running = [];
  const agents = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-entra-up-'));
    pki = createPki(dir);
    idp = await startIdp({ pki });
    cert = makeClientCertificate(path.join(dir, 'cert'), 'cosmoseal');
    app = idp.addApp({
      name: 'cosmoseal',
      secret: 'cosmoseal-secret',
      certificates: [cert.certPem],
      federatedCredentials: [{ issuer: idp.k8sIssuer, subject: 'system:serviceaccount:shop:cosmoseal' }],
    });
    sim = await startSimulator({
      pki,
      partitions: 2,
      aad: { authorityHost: idp.authorityHost, tenantId: idp.tenantId, ca: pki.ca },
    });
    await makeCollection(sim, { db: 'shop', coll: 'orders', partitionKey: { paths: ['/pk'], kind: 'Hash', version: 2 } });
    sim.setLocalAuth(false); // the account refuses keys from now on
  });

  after(async () => {
    for (const a of agents) a.destroy();
    for (const p of running) await p.kill();
    await sim?.stop();
    await idp?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // cosmoseal with `auth` under upstream, in its own folder; env adds to the process environment.
  async function start(name, auth, env = {}) {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const p = await startCosmoseal({
      dir: d,
      front: { url: sim.endpoint },
      accountKey: randomKey(), // written but not used: upstream.auth replaces key_file
      pki,
      // made-by-app: so that cosmoseal's own rules let the database create through to the account.
      clients: [{
        name: 'app',
        key: appKey,
        allow: [
          { database: 'shop', containers: ['*'], access: 'read-write' },
          { database: 'made-by-app', containers: ['*'], access: 'read-write' },
        ],
      }],
      upstreamExtra: { auth: { ca_file: pki.caCert, ...auth } },
      env,
      readyTimeoutMs: 20000,
    });
    running.push(p);
    return p;
  }
  function clientFor(p) {
    const agent = new https.Agent({ ca: pki.ca, keepAlive: true });
    agents.push(agent);
    return new CosmosClient({ endpoint: p.url, key: appKey, agent, connectionPolicy: { enableEndpointDiscovery: false } });
  }
  async function roundTrip(p, label) {
    const client = clientFor(p);
    try {
      const c = client.database('shop').container('orders');
      const id = `${label}-${Date.now()}`;
      const created = await c.items.create({ id, pk: label, n: 1 });
      assert.equal(created.statusCode, 201);
      const { resource } = await c.item(id, label).read();
      assert.equal(resource.n, 1);
      const { resources } = await c.items.query({ query: 'SELECT * FROM c WHERE c.pk = @p', parameters: [{ name: '@p', value: label }] }).fetchAll();
      assert.ok(resources.some((r) => r.id === id));
    } finally {
      client.dispose();
    }
    const recs = sim.requests().filter((r) => r.authType);
    assert.ok(recs.length > 0);
    const last = recs.at(-1);
    assert.equal(last.authType, 'aad', 'the simulator saw a key signature');
    return last;
  }

  const matrix = {};

  test('client_secret', async () => {
    const secretFile = path.join(dir, 'client-secret');
    fs.writeFileSync(secretFile, 'cosmoseal-secret\n', { mode: 0o600 });
    const p = await start('secret', {
      type: 'client_secret',
      tenant_id: idp.tenantId,
      client_id: app.clientId,
      authority_host: idp.authorityHost,
      secret_file: secretFile,
    });
    const rec = await roundTrip(p, 'secret');
    assert.equal(rec.principal, app.objectId);
    // What data-plane RBAC does not allow (issue 16 item 3): creating a database or a container
    // with a data-plane token. The account answers 403/5300 and cosmoseal passes that answer on
    // as it came (docs/CONFIG.md "upstream.auth"): the app sees what it would see directly.
    const client = clientFor(p);
    try {
      for (const attempt of [
        () => client.databases.create({ id: 'made-by-app' }),
        () => client.database('shop').containers.create({ id: 'made-by-app', partitionKey: { paths: ['/pk'] } }),
      ]) {
        await assert.rejects(attempt(), (e) => {
          assert.equal(e.code, 403, String(e.message));
          assert.equal(Number(e.substatus ?? e.headers?.['x-ms-substatus']), 5300,
            JSON.stringify({ substatus: e.substatus, headers: e.headers, body: e.body }));
          return true;
        });
      }
    } finally {
      client.dispose();
    }
    matrix.client_secret = 'ok';
    await p.stop();
  });

  test('client_certificate', async () => {
    const p = await start('cert', {
      type: 'client_certificate',
      tenant_id: idp.tenantId,
      client_id: app.clientId,
      authority_host: idp.authorityHost,
      certificate_file: cert.pem,
    });
    const rec = await roundTrip(p, 'cert');
    assert.equal(rec.principal, app.objectId);
    matrix.client_certificate = 'ok';
    await p.stop();
  });

  test('workload_identity, from the webhook environment only', async () => {
    const tokenFile = path.join(dir, 'sa-token');
    idp.writeServiceAccountToken(tokenFile, { namespace: 'shop', serviceAccount: 'cosmoseal' });
    const p = await start('wi', { type: 'workload_identity' }, {
      AZURE_TENANT_ID: idp.tenantId,
      AZURE_CLIENT_ID: app.clientId,
      AZURE_AUTHORITY_HOST: idp.authorityHost,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
    });
    const rec = await roundTrip(p, 'wi');
    assert.equal(rec.principal, app.objectId);
    matrix.workload_identity = 'ok';
    await p.stop();
  });

  test('managed_identity: IMDS and App Service style', async () => {
    const imds = await start('imds', { type: 'managed_identity', endpoint: `${idp.miUrl}/metadata/identity/oauth2/token` });
    const r1 = await roundTrip(imds, 'imds');
    assert.equal(r1.principal, idp.systemIdentity.objectId);
    await imds.stop();
    const as = await start('appservice', { type: 'managed_identity' }, idp.appServiceEnv());
    const r2 = await roundTrip(as, 'appservice');
    assert.equal(r2.principal, idp.systemIdentity.objectId);
    matrix.managed_identity = 'ok (IMDS, App Service)';
    await as.stop();
  });

  test('an app with its own Entra token through an Entra upstream: two identities, one tenant', async () => {
    // The app signs in as "web" (the real @azure/identity + @azure/cosmos aadCredentials); cosmoseal
    // verifies that token, maps it to client "web", and talks to the account as its own identity
    // ("cosmoseal", client_secret): the account sees cosmoseal's object id, never the app's.
    const identity = await import('@azure/identity');
    const web = idp.addApp({ name: 'web', secret: 'web-secret' });
    const secretFile = path.join(dir, 'client-secret-both');
    fs.writeFileSync(secretFile, 'cosmoseal-secret\n', { mode: 0o600 });
    const d = path.join(dir, 'both');
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const p = await startCosmoseal({
      dir: d,
      front: { url: sim.endpoint },
      accountKey: randomKey(),
      pki,
      clients: [{ name: 'app', key: appKey }],
      upstreamExtra: {
        auth: {
          ca_file: pki.caCert, type: 'client_secret', tenant_id: idp.tenantId, client_id: app.clientId,
          authority_host: idp.authorityHost, secret_file: secretFile,
        },
      },
      extra: {
        entra: { tenant_id: idp.tenantId, authority_host: `${idp.authorityHost}/`, ca_file: pki.caCert },
        clients: [{ name: 'web', entra: { object_id: web.objectId },
          allow: [{ database: 'shop', containers: ['orders'], access: 'read-write' }] }],
      },
      readyTimeoutMs: 20000,
    });
    running.push(p);
    const agent = new https.Agent({ ca: pki.ca, keepAlive: true });
    agents.push(agent);
    const client = new CosmosClient({
      endpoint: p.url,
      aadCredentials: new identity.ClientSecretCredential(idp.tenantId, web.clientId, 'web-secret', {
        authorityHost: idp.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: pki.ca.toString() },
      }),
      aadScope: 'https://cosmos.azure.com/.default',
      agent,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    try {
      const c = client.database('shop').container('orders');
      const id = `both-${Date.now()}`;
      assert.equal((await c.items.create({ id, pk: 'both', n: 2 })).statusCode, 201);
      const { resource } = await c.item(id, 'both').read();
      assert.equal(resource.n, 2);
    } finally {
      client.dispose();
    }
    const last = sim.requests().filter((r) => r.authType).at(-1);
    assert.equal(last.authType, 'aad');
    assert.equal(last.principal, app.objectId, "the account sees cosmoseal's identity");
    assert.notEqual(last.principal, web.objectId);
    matrix.entra_app_and_upstream = 'ok';
    await p.stop();
  });

  test('load across token expiry (20 s tokens, 60 s): zero failed requests', async () => {
    idp.setTokenLifetime(20);
    const secretFile = path.join(dir, 'client-secret');
    const p = await start('load', {
      type: 'client_secret',
      tenant_id: idp.tenantId,
      client_id: app.clientId,
      authority_host: idp.authorityHost,
      secret_file: secretFile,
    });
    const client = clientFor(p);
    const c = client.database('shop').container('orders');
    let ok = 0;
    const failures = [];
    const end = Date.now() + 60_000;
    const worker = async (w) => {
      for (let i = 0; Date.now() < end; i++) {
        try {
          const id = `load-${w}-${i}`;
          await c.items.create({ id, pk: `w${w}`, n: i });
          await c.item(id, `w${w}`).read();
          ok += 2;
        } catch (err) {
          failures.push(`${err.code ?? ''} ${err.message}`.slice(0, 200));
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    client.dispose();
    const m = (await p.admin('/metrics')).body;
    const refreshes = metric(m, 'cosmoseal_upstream_token_refreshes_total');
    const refreshFailures = metric(m, 'cosmoseal_upstream_token_refresh_failures_total');
    console.log(`# load: ${ok} requests, ${failures.length} failed, ${refreshes} token refreshes, ${refreshFailures} refresh failures`);
    assert.deepEqual(failures, []);
    assert.ok(ok > 100, `only ${ok} requests`);
    assert.ok(refreshes >= 4, `expected a refresh about every 10 s, got ${refreshes}`);
    await p.stop();
  });

  test('provider down: the held token serves until it expires, then 503 upstream.token_unavailable, then recovery', async () => {
    idp.setTokenLifetime(20);
    const secretFile = path.join(dir, 'client-secret');
    const p = await start('down', {
      type: 'client_secret',
      tenant_id: idp.tenantId,
      client_id: app.clientId,
      authority_host: idp.authorityHost,
      secret_file: secretFile,
    });
    const client = clientFor(p);
    const c = client.database('shop').container('orders');
    await c.items.create({ id: `down-${Date.now()}`, pk: 'down' });
    const downAt = Date.now();
    await idp.goDown('refuse');
    // Still served by the token held (valid up to 20 s after it was fetched).
    await c.items.create({ id: `held-${Date.now()}`, pk: 'down' });
    let status;
    let detail;
    while (Date.now() - downAt < 40_000) {
      try {
        await c.items.create({ id: `x-${Date.now()}`, pk: 'down' });
      } catch (err) {
        status = err.code;
        detail = err.headers?.['x-cosmoseal-detail'];
        break;
      }
      await sleep(250);
    }
    const servedFor = Date.now() - downAt;
    console.log(`# provider down: served ${servedFor} ms on the held token, then ${status} ${detail}`);
    assert.equal(status, 503);
    assert.equal(detail, 'upstream.token_unavailable');
    assert.ok(/refresh failed/.test(p.log()), 'the log says why');
    // Not ready either (the same margin as admission).
    assert.equal((await p.admin('/readyz')).status, 503);
    await idp.comeBack();
    const backAt = Date.now();
    let recovered = false;
    while (Date.now() - backAt < 40_000) {
      try {
        await c.items.create({ id: `back-${Date.now()}`, pk: 'down' });
        recovered = true;
        break;
      } catch {
        await sleep(250);
      }
    }
    console.log(`# provider back: recovered after ${Date.now() - backAt} ms`);
    assert.ok(recovered, 'no recovery within 40 s of the provider coming back');
    client.dispose();
    await p.stop();
    console.log(`# matrix: ${JSON.stringify(matrix)}`);
  });
});
