// The real @azure/cosmos with `aadCredentials` from the real @azure/identity (authority host = the
// test identity provider, tests/idp), straight against the simulator with local auth disabled, no
// cosmoseal: proves the test world (IdP + simulator) is what the SDKs and the identity library
// expect. Client secret, certificate, workload identity (federated service-account token file) and
// managed identity (App Service endpoint); data-plane operations work, control-plane ones get
// 403/5300, keys get 401; short token lifetimes and a key rotation cause no failed request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CosmosClient, BulkOperationType } from '@azure/cosmos';
import { ClientSecretCredential, ClientCertificateCredential, WorkloadIdentityCredential, ManagedIdentityCredential } from '@azure/identity';
import { startSimulator } from '../lib/server.mjs';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../../idp/lib/idp.mjs';
import { makeClientCertificate } from '../../idp/lib/certs.mjs';
import { makeCollection } from './helpers.mjs';

let dir;
let pki;
let idp;
let sim;
let agent;
let app;
let cert;
const clients = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-aad-sdk-'));
  pki = createPki(dir);
  cert = makeClientCertificate(dir, 'orders');
  idp = await startIdp({ pki });
  app = idp.addApp({
    name: 'orders',
    secret: 'orders-secret',
    certificates: [cert.certPem],
    federatedCredentials: [{ issuer: idp.k8sIssuer, subject: 'system:serviceaccount:shop:orders' }],
  });
  sim = await startSimulator({ pki, partitions: 3, regions: ['West US', 'East US'], aad: { authorityHost: idp.authorityHost, tenantId: idp.tenantId, ca: pki.ca }, disableLocalAuth: true });
  // Databases and containers are made through the control plane (ARM) on such accounts: here, with
  // the key while local auth is briefly on.
  sim.setLocalAuth(true);
  await makeCollection(sim, { db: 'shop', coll: 'orders' });
  sim.setLocalAuth(false);
  agent = new https.Agent({ ca: pki.ca, keepAlive: true });
});

after(async () => {
  for (const c of clients) c.dispose();
  agent?.destroy();
  await sim?.stop();
  await idp?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const idOpts = () => ({ authorityHost: idp.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: pki.ca.toString() } });

function cosmos(aadCredentials) {
  const c = new CosmosClient({ endpoint: sim.endpoint, aadCredentials, agent, connectionPolicy: { preferredLocations: ['East US'] } });
  clients.push(c);
  return c;
}

async function dataPlane(client, tag) {
  const database = client.database('shop');
  assert.equal((await database.read()).statusCode, 200);
  const container = database.container('orders');
  assert.equal((await container.read()).resource.id, 'orders');
  for (let i = 0; i < 6; i++) await container.items.create({ id: `${tag}-${i}`, pk: `p${i % 3}`, n: i, tag });
  const { resource } = await container.item(`${tag}-1`, 'p1').read();
  assert.equal(resource.n, 1);
  await container.item(`${tag}-1`, 'p1').patch([{ op: 'incr', path: '/n', value: 10 }]);
  await container.items.upsert({ id: `${tag}-2`, pk: 'p2', n: 20, tag });
  const { resources } = await container.items.query({ query: 'SELECT VALUE SUM(c.n) FROM c WHERE c.tag = @t', parameters: [{ name: '@t', value: tag }] }).fetchAll();
  assert.deepEqual(resources, [0 + 11 + 20 + 3 + 4 + 5]);
  const bulk = await container.items.executeBulkOperations([
    { operationType: BulkOperationType.Create, partitionKey: 'p0', resourceBody: { id: `${tag}-b1`, pk: 'p0', tag } },
    { operationType: BulkOperationType.Delete, id: `${tag}-0`, partitionKey: 'p0' },
  ]);
  assert.deepEqual(bulk.map((r) => r.response?.statusCode), [201, 204]);
  await container.item(`${tag}-5`, 'p2').delete();
}

test('client secret: data plane works; every request carried type=aad with the account-scoped token', async () => {
  const client = cosmos(new ClientSecretCredential(idp.tenantId, app.clientId, 'orders-secret', idOpts()));
  sim.clearRequests();
  await dataPlane(client, 'secret');
  const log = sim.requests();
  assert.ok(log.length > 10);
  assert.ok(log.every((r) => r.authType === 'aad' && r.verified && r.principal === app.objectId), 'all aad, all verified');
  assert.ok(log.every((r) => decodeURIComponent(r.headers.authorization).startsWith('type=aad&ver=1.0&sig=')));
  assert.ok(idp.issued().some((t) => t.clientId === app.clientId && t.resource === new URL(sim.endpoint).origin), 'scope = the account endpoint');
});

test('control plane through the SDK: 403 substatus 5300; a key client: 401 local auth disabled', async () => {
  const client = cosmos(new ClientSecretCredential(idp.tenantId, app.clientId, 'orders-secret', idOpts()));
  await assert.rejects(client.databases.create({ id: 'newdb' }), (e) => e.code === 403 && e.substatus === 5300 && /cannot be authorized by AAD token in data plane/.test(e.message));
  await assert.rejects(client.database('shop').containers.create({ id: 'c2', partitionKey: { paths: ['/pk'] } }), (e) => e.code === 403 && e.substatus === 5300);
  await assert.rejects(client.database('shop').container('orders').delete(), (e) => e.code === 403 && e.substatus === 5300);
  // createIfNotExists on an existing database only reads it: allowed.
  assert.equal((await client.databases.createIfNotExists({ id: 'shop' })).statusCode, 200);
  const keyed = new CosmosClient({ endpoint: sim.endpoint, key: sim.key, agent });
  clients.push(keyed);
  await assert.rejects(keyed.database('shop').read(), (e) => e.code === 401 && /Local Authorization is disabled/.test(e.message));
});

test('certificate credential (PS256 assertion signed by a registered certificate)', async () => {
  const before = idp.stats().byKind.certificate ?? 0;
  await dataPlane(cosmos(new ClientCertificateCredential(idp.tenantId, app.clientId, { certificatePath: cert.pem }, idOpts())), 'cert');
  assert.ok(idp.stats().byKind.certificate > before);
});

test('workload identity: the projected service-account token file is exchanged (federated credential)', async () => {
  const tokenFile = path.join(dir, 'sa-token');
  idp.writeServiceAccountToken(tokenFile, { namespace: 'shop', serviceAccount: 'orders' });
  const cred = new WorkloadIdentityCredential({ tenantId: idp.tenantId, clientId: app.clientId, tokenFilePath: tokenFile, ...idOpts() });
  await dataPlane(cosmos(cred), 'wi');
  assert.ok(idp.stats().byKind.federated >= 1);
  // A service account the app does not trust is refused by the provider: the SDK call fails.
  const otherFile = path.join(dir, 'sa-other');
  idp.writeServiceAccountToken(otherFile, { namespace: 'shop', serviceAccount: 'intruder' });
  const bad = cosmos(new WorkloadIdentityCredential({ tenantId: idp.tenantId, clientId: app.clientId, tokenFilePath: otherFile, ...idOpts() }));
  await assert.rejects(bad.database('shop').read(), /AADSTS70021/);
});

test('managed identity (App Service IDENTITY_ENDPOINT / IDENTITY_HEADER)', async () => {
  Object.assign(process.env, idp.appServiceEnv());
  try {
    await dataPlane(cosmos(new ManagedIdentityCredential()), 'mi');
  } finally {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
  }
  assert.ok(idp.stats().byKind['mi-appservice'] >= 1);
  const mi = sim.requests().filter((r) => r.principal === idp.systemIdentity.objectId);
  assert.ok(mi.length > 5);
});

test('short-lived tokens and a key rotation during a run: zero failed requests, tokens renewed', async () => {
  idp.setTokenLifetime(3);
  const client = cosmos(new ClientSecretCredential(idp.tenantId, app.clientId, 'orders-secret', idOpts()));
  const container = client.database('shop').container('orders');
  const issuedBefore = idp.stats().byClient[app.clientId] ?? 0;
  const end = Date.now() + 7000;
  let n = 0;
  let failures = 0;
  let rotated = false;
  try {
    while (Date.now() < end) {
      try {
        await container.items.upsert({ id: `load-${n % 10}`, pk: 'p1', n });
        await container.item(`load-${n % 10}`, 'p1').read();
      } catch (e) {
        failures++;
        console.log(`failure: ${e.code} ${e.message}`);
      }
      n++;
      if (!rotated && Date.now() > end - 4000) {
        idp.rotateKeys();
        rotated = true;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    idp.setTokenLifetime(3599);
  }
  const renewed = (idp.stats().byClient[app.clientId] ?? 0) - issuedBefore;
  console.log(`short-lived tokens: ${n * 2} requests, ${failures} failed, ${renewed} tokens issued`);
  assert.equal(failures, 0);
  assert.ok(renewed >= 2, `tokens renewed (${renewed})`);
  assert.equal(sim.requests().filter((r) => r.verifyReason === 'aad_expired').length, 0, 'no expired token reached the simulator');
});
