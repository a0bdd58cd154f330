// Hardening after the red-team review (issue 13).
// Finding 4: a request repeating a single-valued header (two x-ms-date, two authorization, ...) is
// ambiguous: cosmoseal would check one copy while the upstream may read the other (or both joined
// by a comma). Each such request must be answered locally with 400 `http1.duplicate_header`, and
// not one byte may reach the upstream. The requests carry a valid client signature in their first
// copy, so only the duplicate can stop them.
// Finding 7: a world-readable listener TLS key is refused on reload (422, FILE:LINE:COL) like every
// other secret file, and the old configuration keeps serving.

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { rawExchange, buildRequest } from './lib/raw.mjs';
import { signedHeaders } from './lib/auth.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { adminRequest } from './lib/fault-stack.mjs';

const TIMEOUT_MS = 2500;

describe('repeated single-valued request headers', () => {
  let stack;
  const conn = () => ({ port: stack.proxy.port, tls: { ca: stack.pki.ca } });
  const host = () => `localhost:${stack.proxy.port}`;
  const docs = '/dbs/x/colls/y/docs';

  before(async () => {
    stack = await startStack({
      name: 'hardening',
      clients: [{ name: 'app', allow: [{ database: 'x', containers: ['*'], access: 'read-write' }] }],
    });
    const client = stack.client('app');
    const { database } = await client.databases.createIfNotExists({ id: 'x' });
    await database.containers.createIfNotExists({ id: 'y', partitionKey: { paths: ['/pk'] } });
    stack.closeClients();
  });
  after(async () => {
    await stack?.stop();
  });

  // Sends `data` on a fresh connection; asserts the local refusal and that nothing went upstream.
  async function assertRefused(what, data, detail = 'http1.duplicate_header') {
    const m = await stack.front.quiesce();
    const r = await rawExchange({ ...conn(), data, timeoutMs: TIMEOUT_MS });
    await sleep(100);
    const d = stack.front.since(m);
    const ctx = `${what}; got ${r.responses.length} response(s), closed=${r.closed}, first bytes: ` +
      JSON.stringify(r.text.slice(0, 200));
    assert.equal(d.bytes, 0, `${ctx}\nthe upstream received ${d.bytes} bytes`);
    assert.ok(r.responses.length >= 1, `no response: ${ctx}`);
    assertLocalError(r.responses[0], 400, detail, ctx);
    assert.equal(r.responses.length, 1, `one answer only: ${ctx}`);
    stack.front.assertClean();
  }

  test('control: the same request with single headers is forwarded', async () => {
    const data = buildRequest({ method: 'GET', path: docs, host: host(), key: stack.clientKeys.app });
    const r = await rawExchange({ ...conn(), data, expectResponses: 1, timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200, r.text.slice(0, 300));
    stack.front.assertClean();
  });

  test('two x-ms-date headers (valid first, one hour old second) -> 400', async () => {
    const stale = new Date(Date.now() - 3600 * 1000).toUTCString();
    const data = buildRequest({
      method: 'GET', path: docs, host: host(), key: stack.clientKeys.app, headers: [['x-ms-date', stale]],
    });
    await assertRefused('two x-ms-date', data);
  });

  test('two authorization headers (valid first) -> 400', async () => {
    const other = signedHeaders({ method: 'GET', path: docs, key: stack.clientKeys.app }).authorization;
    const data = buildRequest({
      method: 'GET', path: docs, host: host(), key: stack.clientKeys.app, headers: [['Authorization', other]],
    });
    await assertRefused('two authorization', data);
  });

  for (const [name, a, b] of [
    ['x-ms-version', '2020-07-15', '2018-12-31'],
    ['x-ms-documentdb-partitionkey', '["p1"]', '["p2"]'],
    ['x-ms-documentdb-isquery', 'true', 'false'],
    ['content-type', 'application/json', 'application/query+json'],
    ['if-match', '"1"', '"2"'],
  ]) {
    test(`two ${name} headers -> 400`, async () => {
      // buildRequest already sends x-ms-version once; the others are given twice here.
      const extra = name === 'x-ms-version' ? [[name, b]] : [[name, a], [name.toUpperCase(), b]];
      const data = buildRequest({
        method: 'POST', path: docs, host: host(), key: stack.clientKeys.app, headers: extra,
        body: '{"id":"d1","pk":"p1"}',
      });
      await assertRefused(`two ${name}`, data);
    });
  }

  test('reload with a world-readable listen.tls.key: 422 naming FILE:LINE:COL; the old config keeps serving', async () => {
    const key = stack.pki.proxy.key;
    fs.chmodSync(key, 0o644);
    try {
      const r = await adminRequest(stack.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assert.match(r.body, /:\d+:\d+: listen\.tls\.key: private key file .* has mode 0644/);
      assert.match(r.body, /chmod 600/);
      const data = buildRequest({ method: 'GET', path: docs, host: host(), key: stack.clientKeys.app });
      const ok = await rawExchange({ ...conn(), data, expectResponses: 1, timeoutMs: 5000 });
      assert.equal(ok.responses[0]?.status, 200, ok.text.slice(0, 300));
    } finally {
      fs.chmodSync(key, 0o600);
    }
    assert.equal((await adminRequest(stack.proxy, 'POST', '/reload')).status, 200);
  });

  test('after the refusals cosmoseal still serves the SDK', async () => {
    const client = stack.client('app');
    const { resource } = await client.database('x').container('y').items.create({ id: 'after', pk: 'p' });
    assert.equal(resource.id, 'after');
    stack.closeClients();
    stack.front.assertNoBypass();
    stack.front.assertClean();
  });
});
