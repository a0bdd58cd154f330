// Apps that authenticate to cosmoseal with Entra ID tokens (issue 16, item 2), with the real
// @azure/identity (ClientSecretCredential, authority host = tests/idp, the local Entra stand-in
// over TLS) and the real @azure/cosmos (`aadCredentials`) through cosmoseal. cosmoseal fetches the
// tenant's OpenID configuration and JWKS from the IdP, verifies every token locally, maps it to a
// client by object id, and signs upstream with the account key (the front checks that signature).
//
// Covered: a mapped identity reads and writes within its rules; an unknown identity gets 403
// auth.unknown_identity; an expired token 401 auth.token_expired; a key rotation at the IdP (a
// new kid) is picked up; a client-key app works beside the Entra ones; nothing refused reaches
// the upstream.

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
import { readAudit, sdkStatus, waitFor } from './lib/ops.mjs';
import { cosmos } from './lib/deps.mjs';
import { startIdp } from '../idp/lib/idp.mjs';

const { CosmosClient } = cosmos;
const identity = await import('@azure/identity');
const SCOPE = 'https://cosmos.azure.com/.default';

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

  test('a key rotation at the IdP: the new kid is fetched on first sight, then served', async () => {
    const { kid } = idp.rotateKeys({ keep: true });
    const jwt = await token(orders);
    assert.equal(JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid, kid);
    // The first request naming the new kid may be refused while the key set is refreshed in the
    // background (documented: docs/CONFIG.md "Entra ID apps"); within the refresh, it is served.
    const first = await aadGet(jwt);
    if (first.status !== 200) assertLocalError(first, 401, 'auth.token_key_unknown');
    const ok = await waitFor(async () => {
      const r = await aadGet(jwt);
      return r.status === 200 ? r : null;
    }, { timeoutMs: 5000, intervalMs: 250 });
    assert.ok(ok, 'the rotated key was never picked up');
    // Tokens of the previous key (still published) keep working: the SDK client's cached token.
    const c = aadClient(credential(orders));
    const { resource } = await c.database('shop').container('orders').item('o1', 'p').read();
    assert.equal(resource.total, 42);
  });

  test('a client-key app works beside the Entra ones', async () => {
    const c = s.client('keyed');
    const { statusCode } = await c.database('shop').container('customers').items.upsert({ id: 'k1', pk: 'p' });
    assert.ok(statusCode === 200 || statusCode === 201);
  });
});
