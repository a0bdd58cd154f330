// Apps that authenticate to cosmoseal with Entra ID tokens (issue 16, item 2), with the real
// @azure/identity (ClientSecretCredential, authority host = tests/idp, the local Entra stand-in
// over TLS) and the real @azure/cosmos (`aadCredentials`) through cosmoseal. cosmoseal fetches the
// tenant's OpenID configuration and JWKS from the IdP, verifies every token locally, maps it to a
// client by object id, and signs upstream with the account key (the front checks that signature).
//
// Covered: a mapped identity reads and writes within its rules; an unknown identity gets 403
// auth.unknown_identity; an expired token 401 auth.token_expired; a key rollover at the IdP (a
// new kid): the first requests naming it are held while cosmoseal refreshes the keys, and served
// (zero failed requests, measured); the IdP down: apps with tokens of cached keys keep working,
// a new kid is 401 auth.token_key_unknown once the refresh has failed (counted, logged), and is
// served when the IdP is back; a client-key app works beside the Entra ones; nothing refused
// reaches the upstream.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { createPki } from './lib/pki.mjs';
import { randomKey, writeKeyFile } from './lib/keys.mjs';
import { request } from './lib/raw.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { metricNow, metricSum, readAudit, scrape, sdkStatus, waitFor } from './lib/ops.mjs';
import { cosmos } from './lib/deps.mjs';
import { startIdp } from '../idp/lib/idp.mjs';

const { CosmosClient } = cosmos;
const identity = await import('@azure/identity');
const SCOPE = 'https://cosmos.azure.com/.default';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('apps with Entra ID tokens (real @azure/identity and @azure/cosmos through cosmoseal)', () => {
  let idp;
  let s;
  let orders;    // an app mapped to client "orders" by object id
  let stranger;  // an app the IdP knows but no cosmoseal client names
  const clients = [];
  let auditFile;

  function credential(app) {
    return new identity.ClientSecretCredential(idp.tenantId, app.clientId, app.secret, {
      authorityHost: idp.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: idp.ca.toString() },
    });
  }
  function aadClient(cred) {
    const c = new CosmosClient({
      endpoint: s.proxy.url,
      aadCredentials: cred,
      aadScope: SCOPE,
      agent: new https.Agent({ ca: s.proxy.ca, keepAlive: true }),
    });
    clients.push(c);
    return c;
  }
  async function token(app) {
    return (await credential(app).getToken(SCOPE)).token;
  }
  // GET /dbs/shop/colls/orders with this token, as the SDK sends it.
  function aadGet(jwt) {
    return request({
      url: `${s.proxy.url}dbs/shop/colls/orders`,
      ca: s.proxy.ca,
      headers: {
        authorization: encodeURIComponent(`type=aad&ver=1.0&sig=${jwt}`),
        'x-ms-date': new Date().toUTCString(),
        'x-ms-version': '2020-07-15',
      },
    });
  }

  before(async () => {
    const dir = makeWorkDir('entra-apps');
    const idpPki = createPki(path.join(dir, 'idp'));
    idp = await startIdp({ pki: idpPki });
    orders = idp.addApp({ secret: 'orders-secret' });
    orders.secret = 'orders-secret';
    stranger = idp.addApp({ secret: 'stranger-secret' });
    stranger.secret = 'stranger-secret';
    const keyedKey = randomKey();
    const keyedFile = writeKeyFile(path.join(dir, 'client-keyed-own.key'), keyedKey);
    s = await startStack({
      dir,
      name: 'entra-apps',
      clients: [{ name: 'keyed', key: keyedKey }],
      extra: {
        workers: 1,
        audit: { path: 'audit.log' },
        entra: {
          tenant_id: idp.tenantId,
          authority_host: `${idp.authorityHost}/`,
          ca_file: idp.caFile,
          jwks_min_interval: '200ms',
          clock_skew: '1s',
        },
        clients: [
          { name: 'keyed', key_file: keyedFile,
            allow: [{ database: 'shop', containers: ['*'], access: 'read-write' }] },
          { name: 'orders', entra: { object_id: orders.objectId },
            allow: [{ database: 'shop', containers: ['orders'], access: 'read-write' }] },
        ],
      },
    });
    auditFile = path.join(s.dir, 'audit.log');
    const d = s.direct();
    const { database } = await d.databases.createIfNotExists({ id: 'shop' });
    for (const id of ['orders', 'customers']) {
      await database.containers.createIfNotExists({ id, partitionKey: { paths: ['/pk'] } });
    }
  });

  after(async () => {
    for (const c of clients) c.dispose?.();
    await s?.stop();
    await idp?.stop();
  });

  test('a mapped identity reads and writes within its rules, signed upstream with the account key', async () => {
    const c = aadClient(credential(orders));
    const container = c.database('shop').container('orders');
    const { statusCode } = await container.items.create({ id: 'o1', pk: 'p', total: 42 });
    assert.equal(statusCode, 201);
    const { resource } = await container.item('o1', 'p').read();
    assert.equal(resource.total, 42);
    // Its rules: customers is not among them.
    const r = await sdkStatus(c.database('shop').container('customers').items.create({ id: 'x', pk: 'p' }));
    assert.equal(r.status, 403);
    assert.equal(r.detail, 'rules.denied');
    // The audit names the client and its identity.
    const lines = await waitFor(() => {
      const l = readAudit(auditFile).filter((x) => x.client === 'orders');
      return l.length >= 3 ? l : null;
    });
    assert.ok(lines, 'audit lines for orders');
    assert.ok(lines.every((x) => x.identity === `oid:${orders.objectId}`), JSON.stringify(lines[0]));
  });

  test('an unknown identity is 403 auth.unknown_identity, and nothing goes upstream', async () => {
    const mark = s.front.mark();
    const r = await aadGet(await token(stranger));
    assertLocalError(r, 403, 'auth.unknown_identity');
    const c = aadClient(credential(stranger));
    const st = await sdkStatus(c.database('shop').container('orders').item('o1', 'p').read());
    assert.equal(st.status, 403);
    assert.equal(s.front.since(mark).requests.length, 0);
  });

  test('an expired token is 401 auth.token_expired', async () => {
    idp.setTokenLifetime(1);
    let jwt;
    try {
      jwt = await token(orders);
    } finally {
      idp.setTokenLifetime(3599);
    }
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
    assert.ok(claims.exp - claims.iat <= 2);
    // entra.clock_skew is 1s in this stack: 3 s later the token is past exp + skew.
    await new Promise((r) => setTimeout(r, 3000));
    const mark = s.front.mark();
    const r = await aadGet(jwt);
    assertLocalError(r, 401, 'auth.token_expired');
    assert.equal(s.front.since(mark).requests.length, 0);
  });

  test('a key rollover at the IdP: apps whose next token names the new kid are held and served, zero failed requests', async (t) => {
    // An app with a token of the current key, obtained before the rollover.
    const old = aadClient(credential(orders));
    const oldItem = old.database('shop').container('orders').item('o1', 'p');
    assert.equal((await oldItem.read()).statusCode, 200);
    const before = (await scrape(s.proxy)).samples;
    const { kid } = idp.rotateKeys({ keep: true });
    // Past entra.jwks_min_interval (200 ms) since the last fetch: the first unknown kid may ask.
    await sleep(300);
    // Five apps start now (their first token names the new kid) while the old one keeps reading.
    let failures = 0;
    let requests = 0;
    const firstLatency = [];
    async function run(fn) {
      requests += 1;
      try {
        const { statusCode } = await fn();
        if (statusCode !== 200) failures += 1;
      } catch (e) {
        failures += 1;
        t.diagnostic(`failed: ${e.code ?? e.statusCode} ${e.message?.slice(0, 200)}`);
      }
    }
    const newApps = Array.from({ length: 5 }, () => aadClient(credential(orders)));
    await Promise.all([
      (async () => { for (let i = 0; i < 40; i += 1) await run(() => oldItem.read()); })(),
      ...newApps.map(async (c) => {
        const item = c.database('shop').container('orders').item('o1', 'p');
        const t0 = performance.now();
        await run(() => item.read());
        firstLatency.push(performance.now() - t0);
        for (let i = 0; i < 8; i += 1) await run(() => item.read());
      }),
    ]);
    const jwt = await token(orders);
    assert.equal(JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid, kid);
    const after = (await scrape(s.proxy)).samples;
    const delta = (name, labels = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    const held = delta('cosmoseal_entra_unknown_kid_holds_total');
    const served = delta('cosmoseal_entra_unknown_kid_total', { outcome: 'served' });
    const refused = delta('cosmoseal_entra_unknown_kid_total') - served;
    t.diagnostic(`rollover: ${requests} requests, ${failures} failed; held ${held}, served after the ` +
      `hold ${served}, refused ${refused}; first request of each new app: ` +
      `${firstLatency.map((x) => x.toFixed(0)).join(', ')} ms; JWKS fetches ` +
      `+${delta('cosmoseal_entra_jwks_fetches_total')}`);
    assert.equal(failures, 0, 'requests failed across the rollover');
    assert.ok(held >= 1, 'no request was held for the new key');
    assert.equal(served, held);
    assert.equal(refused, 0);
    assert.equal(metricSum(after, 'cosmoseal_entra_unknown_kid_held'), 0);
  });

  test('IdP down: cached keys keep serving, a new kid is 401 after the failed refresh; IdP back: served', async (t) => {
    const c = aadClient(credential(orders));
    const item = c.database('shop').container('orders').item('o1', 'p');
    assert.equal((await item.read()).statusCode, 200);
    // A token naming a key cosmoseal has never fetched, obtained before the IdP goes away.
    idp.rotateKeys({ keep: true });
    const newJwt = await token(orders);
    await idp.goDown('refuse');
    try {
      const f0 = await metricNow(s.proxy, 'cosmoseal_entra_jwks_fetch_failures_total');
      await sleep(300);  // past entra.jwks_min_interval
      // The app with a token of a known key keeps working (keys cached; no fetch needed).
      const mark = s.front.mark();
      for (let i = 0; i < 5; i += 1) assert.equal((await item.read()).statusCode, 200);
      assert.ok(s.front.since(mark).requests.length >= 5, 'the cached-key reads did not go upstream');
      // The new kid: held while the refresh runs; the refresh fails (connection refused): 401.
      let t0 = performance.now();
      let r = await aadGet(newJwt);
      const heldMs = performance.now() - t0;
      assertLocalError(r, 401, 'auth.token_key_unknown');
      assert.match(r.body.toString(), /refresh of the tenant's signing keys failed/);
      assert.ok(heldMs < 2500, `held ${heldMs} ms, over entra.unknown_kid_wait`);
      const f1 = await metricNow(s.proxy, 'cosmoseal_entra_jwks_fetch_failures_total');
      assert.ok(f1 > f0, 'the failed fetch is not counted');
      assert.match(s.proxy.log(), /cannot fetch the Entra ID signing keys/);
      // Again: 401 (at once within the rate limit, or after the thread's next failed retry).
      t0 = performance.now();
      r = await aadGet(newJwt);
      const atOnceMs = performance.now() - t0;
      assertLocalError(r, 401, 'auth.token_key_unknown');
      t.diagnostic(`IdP down: cached-key app 5/5 200; new kid 401 auth.token_key_unknown after ` +
        `${heldMs.toFixed(0)} ms (held for the failed refresh), again after ` +
        `${atOnceMs.toFixed(0)} ms; fetch failures +${f1 - f0}`);
    } finally {
      await idp.comeBack();
    }
    await sleep(300);
    const t0 = performance.now();
    const r = await aadGet(newJwt);
    const backMs = performance.now() - t0;
    assert.equal(r.status, 200, r.body.toString());
    const age = await metricNow(s.proxy, 'cosmoseal_entra_jwks_age_seconds');
    assert.ok(age >= 0 && age < 5, `jwks age ${age}`);
    t.diagnostic(`IdP back: the new kid served (200) after ${backMs.toFixed(0)} ms`);
  });

  test('a client-key app works beside the Entra ones', async () => {
    const c = s.client('keyed');
    const { statusCode } = await c.database('shop').container('customers').items.upsert({ id: 'k1', pk: 'p' });
    assert.ok(statusCode === 200 || statusCode === 201);
  });
});
