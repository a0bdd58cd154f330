// Entra ID (AAD) tokens at the simulator, raw: `type=aad&ver=1.0&sig=<JWT>` from the test identity
// provider (tests/idp) is verified (signature by a JWKS key, audience, issuer, tenant, exp/nbf);
// disableLocalAuth refuses key signatures; data-plane RBAC refuses control-plane operations
// (403/5300) and actions outside the principal's role (403/5301).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../lib/server.mjs';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../../idp/lib/idp.mjs';
import { signJwt, newSigningKey } from '../../idp/lib/jwt.mjs';
import { request, claimsOf } from '../../idp/test/helpers.mjs';
import { call, makeCollection } from './helpers.mjs';

let dir;
let pki;
let idp;
let sim;
let app;
let reader;
const origin = () => new URL(sim.endpoint).origin;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-aad-'));
  pki = createPki(dir);
  idp = await startIdp({ pki, extraTenants: ['11111111-2222-3333-4444-555555555555'] });
  app = idp.addApp({ name: 'writer', secret: 'w' });
  reader = idp.addApp({ name: 'reader', secret: 'r' });
  sim = await startSimulator({ pki, partitions: 2, aad: { authorityHost: idp.authorityHost, tenantId: idp.tenantId, ca: pki.ca, skewSec: 0, minRefreshMs: 0 } });
  await makeCollection(sim, { db: 'db1', coll: 'c1' });
});

after(async () => {
  await sim?.stop();
  await idp?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function tokenFor(a, secret, { resource = origin(), tenant = idp.tenantId } = {}) {
  const r = await request(`${idp.url}/${tenant}/oauth2/v2.0/token`, {
    form: { grant_type: 'client_credentials', client_id: a.clientId, client_secret: secret, scope: `${resource}/.default` },
    ca: pki.ca,
  });
  assert.equal(r.status, 200, r.text);
  return r.json.access_token;
}

const aad = (token, o) =>
  call(sim, { ...o, sign: false, headers: { authorization: `type=aad&ver=1.0&sig=${token}`, 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2020-07-15', ...(o.headers || {}) } });
const pk = (v) => ({ 'x-ms-documentdb-partitionkey': JSON.stringify([v]) });

test('a valid token reads metadata and writes items; the request log names the principal', async () => {
  const t = await tokenFor(app, 'w');
  const acct = await aad(t, { path: '/' });
  assert.equal(acct.status, 200, acct.text);
  assert.equal((await aad(t, { path: '/dbs/db1' })).status, 200);
  assert.equal((await aad(t, { path: '/dbs/db1/colls/c1' })).status, 200);
  assert.equal((await aad(t, { method: 'POST', path: '/dbs', body: { query: 'SELECT * FROM r' }, headers: { 'content-type': 'application/query+json', 'x-ms-documentdb-isquery': 'true' } })).status, 200);
  const c = await aad(t, { method: 'POST', path: '/dbs/db1/colls/c1/docs', body: { id: 'a', pk: 'p' }, headers: pk('p') });
  assert.equal(c.status, 201, c.text);
  assert.equal((await aad(t, { path: '/dbs/db1/colls/c1/docs/a', headers: pk('p') })).status, 200);
  const rec = sim.requests().at(-1);
  assert.equal(rec.authType, 'aad');
  assert.equal(rec.principal, app.objectId);
  // The account-wide audience is accepted too (the SDKs fall back to it).
  assert.equal((await aad(await tokenFor(app, 'w', { resource: 'https://cosmos.azure.com' }), { path: '/' })).status, 200);
});

test('control-plane operations with an AAD token: 403 substatus 5300, as Cosmos answers them', async () => {
  const t = await tokenFor(app, 'w');
  const cases = [
    ['POST', '/dbs', { id: 'db2' }],
    ['DELETE', '/dbs/db1'],
    ['POST', '/dbs/db1/colls', { id: 'c2', partitionKey: { paths: ['/pk'], kind: 'Hash', version: 2 } }],
    ['PUT', '/dbs/db1/colls/c1', { id: 'c1', partitionKey: { paths: ['/pk'], kind: 'Hash', version: 2 } }],
    ['DELETE', '/dbs/db1/colls/c1'],
    ['POST', '/offers', { query: 'SELECT * FROM root' }],
    ['POST', '/dbs/db1/colls/c1/sprocs', { id: 's', body: 'function () {}' }],
  ];
  for (const [method, p, body] of cases) {
    const r = await aad(t, { method, path: p, body });
    assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
    assert.equal(r.headers['x-ms-substatus'], '5300');
    assert.equal(r.json.code, 'Forbidden');
    assert.equal(r.json.message, `Request blocked by Auth simulator : The given request [${method} ${p}] cannot be authorized by AAD token in data plane. Learn more: https://aka.ms/cosmos-native-rbac.`);
  }
  assert.ok(sim.simulator.store.dbByName('db1').colls.has('c1'), 'nothing was deleted');
});

test('bad tokens: 401 for audience (5008), expiry, unknown key, forged signature, other tenant, no token type', async () => {
  const wrongAud = await aad(await tokenFor(app, 'w', { resource: 'https://other.documents.azure.com' }), { path: '/' });
  assert.equal(wrongAud.status, 401);
  assert.equal(wrongAud.headers['x-ms-substatus'], '5008');
  assert.match(wrongAud.json.message, /^Request blocked by Auth simulator : Provided AAD token is intended for \[https:\/\/other\.documents\.azure\.com\]\. This database account accepts tokens intended for \[.*https:\/\/cosmos\.azure\.com/);

  idp.setTokenLifetime(1);
  const short = await tokenFor(app, 'w');
  idp.setTokenLifetime(3599);
  await new Promise((r) => setTimeout(r, 2100));
  const expired = await aad(short, { path: '/' });
  assert.equal(expired.status, 401);
  assert.equal(expired.json.code, 'Unauthorized');
  assert.match(expired.json.message, /Provided AAD token has been expired since \[\d+\/\d+\/\d{4} \d+:\d\d:\d\d [AP]M \(UTC\)\]\. Current server time is \[.*\]\. Please refresh the AAD token\./);

  const good = claimsOf(await tokenFor(app, 'w'));
  const stranger = signJwt(good, newSigningKey());
  assert.equal((await aad(stranger, { path: '/' })).status, 401);
  const t = await tokenFor(app, 'w');
  const [h, , sig] = t.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...good, oid: crypto.randomUUID() })).toString('base64url')}.${sig}`;
  const forged = await aad(tampered, { path: '/' });
  assert.equal(forged.status, 401);
  assert.match(forged.json.message, /signature/);

  const other = await aad(await tokenFor(app, 'w', { tenant: '11111111-2222-3333-4444-555555555555' }), { path: '/' });
  assert.equal(other.status, 401);
  assert.match(other.json.message, /issuer|tenant/);
  assert.equal((await aad('not-a-jwt', { path: '/' })).status, 401);
  const reasons = sim.requests().filter((r) => r.verified === false).map((r) => r.verifyReason);
  for (const r of ['aad_audience', 'aad_expired', 'aad_unknown_key', 'aad_bad_signature', 'aad_malformed']) assert.ok(reasons.includes(r), `${r} in ${reasons}`);
});

test('v1.0 tokens (iss https://<host>/<tenant>/, appid) are accepted as well', async () => {
  idp.setTokenVersion(1);
  try {
    const t = await tokenFor(app, 'w');
    assert.equal(claimsOf(t).ver, '1.0');
    assert.equal((await aad(t, { path: '/dbs/db1' })).status, 200);
  } finally {
    idp.setTokenVersion(2);
  }
});

test('key rotation: a token under a new kid makes the simulator fetch the JWKS again', async () => {
  const before = sim.aadStats().keyFetches;
  idp.rotateKeys();
  const t = await tokenFor(app, 'w');
  assert.equal((await aad(t, { path: '/' })).status, 200);
  assert.equal(sim.aadStats().keyFetches, before + 1);
  // Cached keys serve while the provider is down.
  await idp.goDown('refuse');
  try {
    assert.equal((await aad(t, { path: '/dbs/db1' })).status, 200);
  } finally {
    await idp.comeBack();
  }
});

test('disableLocalAuth: key signatures get 401 "Local Authorization is disabled", AAD tokens still work', async () => {
  sim.setLocalAuth(false);
  try {
    const k = await call(sim, { path: '/dbs/db1' });
    assert.equal(k.status, 401);
    assert.equal(k.json.code, 'Unauthorized');
    assert.equal(k.json.message, 'Local Authorization is disabled. Use an AAD token to authorize all requests.');
    assert.equal((await aad(await tokenFor(app, 'w'), { path: '/dbs/db1' })).status, 200);
  } finally {
    sim.setLocalAuth(true);
  }
  assert.equal((await call(sim, { path: '/dbs/db1' })).status, 200);
});

test('RBAC roles per principal: a reader reads and queries but cannot write (403/5301); no role: not even metadata', async () => {
  sim.setRole(app.objectId, 'contributor');
  sim.setRole(reader.objectId, 'reader');
  try {
    const t = await tokenFor(reader, 'r');
    assert.equal((await aad(t, { path: '/dbs/db1/colls/c1/docs/a', headers: pk('p') })).status, 200);
    const w = await aad(t, { method: 'POST', path: '/dbs/db1/colls/c1/docs', body: { id: 'b', pk: 'p' }, headers: pk('p') });
    assert.equal(w.status, 403);
    assert.equal(w.headers['x-ms-substatus'], '5301');
    assert.equal(
      w.json.message,
      `Request blocked by Auth simulator : Request is blocked because principal [${reader.objectId}] does not have required RBAC permissions to perform action [Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create] on resource [/dbs/db1/colls/c1]. Learn more: https://aka.ms/cosmos-native-rbac.`,
    );
    const nobody = idp.addApp({ secret: 'n' });
    const n = await aad(await tokenFor(nobody, 'n'), { path: '/' });
    assert.equal(n.status, 403);
    assert.equal(n.headers['x-ms-substatus'], '5301');
    assert.match(n.json.message, /perform action \[Microsoft\.DocumentDB\/databaseAccounts\/readMetadata\] on resource \[\/\]/);
    assert.equal((await aad(await tokenFor(app, 'w'), { method: 'POST', path: '/dbs/db1/colls/c1/docs', body: { id: 'b', pk: 'p' }, headers: pk('p') })).status, 201);
  } finally {
    sim.simulator.aad.roles = null;
  }
});
