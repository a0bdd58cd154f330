// The real @azure/cosmos SDK through cosmoseal (client key) to cosmosdb-server behind the
// signature-checking front (real key): the data plane works unchanged, discovery cannot leak the
// real endpoint, Direct mode is refused, and bad client credentials never reach the upstream.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { dataPlaneTests } from './lib/scenarios.mjs';
import { request } from './lib/raw.mjs';
import { randomKey, writeKeyFile } from './lib/keys.mjs';
import { computeSignature, authorizationHeader, signedHeaders } from './lib/auth.mjs';
import { checkConfig, writeConfig } from './lib/cosmoseal.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { makeClient } from './lib/sdk.mjs';
import { accountEndpoints } from './lib/cosmos-json.mjs';


describe('foundation: real SDK -> cosmoseal -> signature-checking front -> cosmosdb-server', () => {
  let stack;
  let client;
  const proxyUrl = () => stack.proxy.url;
  const origin = (u) => new URL(u).origin;

  before(async () => {
    stack = await startStack({ name: 'foundation' });
    client = stack.client('app');
  });
  after(async () => {
    await stack?.stop();
  });

  describe('data plane through cosmoseal (the steps harness.test.mjs runs directly)', () => {
    dataPlaneTests(() => ({
      client,
      endpoint: stack.proxy.url,
      key: stack.clientKeys.app,
      ca: stack.pki.ca,
      after: () => stack.front.assertClean(),
    }));
  });

  test('discovery: the SDK sees only cosmoseal; GET / rewritten, thinClient locations dropped, no upstream URL in headers', async () => {
    const { resource } = await client.getDatabaseAccount();
    const sdkEndpoints = [...resource.writableLocations, ...resource.readableLocations].map((l) => l.databaseAccountEndpoint);
    assert.ok(sdkEndpoints.length >= 2, 'writable and readable locations present');
    for (const e of sdkEndpoints) assert.equal(origin(e), origin(proxyUrl()), `SDK sees endpoint ${e}`);

    const r = await request({ url: proxyUrl(), key: stack.clientKeys.app, ca: stack.pki.ca });
    assert.equal(r.status, 200, r.text);
    const all = accountEndpoints(r.json);
    assert.ok(all.length >= 2);
    for (const e of all) assert.equal(origin(e), origin(proxyUrl()), `GET / body endpoint ${e}`);
    const thin = Object.keys(r.json).filter((k) => k.toLowerCase().startsWith('thinclient'));
    assert.deepEqual(thin, [], 'thinClient*Locations must be removed');
    // The front's own URLs (configured and "regional") must not leak anywhere in the answer.
    const leak = [`:${stack.front.port}`, `:${stack.front.regionalPort}`];
    const texts = [r.text, ...Object.values(r.headers).flat().map(String)];
    for (const t of texts) for (const l of leak) assert.ok(!t.includes(`localhost${l}`) && !t.includes(`127.0.0.1${l}`), `upstream URL leaked: ${t}`);
    stack.front.assertClean();
  });

  test('no request reached the upstream except through cosmoseal, re-signed with the account key', () => {
    const seen = stack.front.proxiedRequests;
    assert.ok(seen.length > 20, `the front saw ${seen.length} requests`);
    stack.front.assertNoBypass();
    assert.equal(stack.front.bytesByListener.regional, 0, 'nothing ever connected to the advertised regional endpoint');
    assert.ok(seen.every((r) => r.signedWith === 'account'));
    assert.ok(seen.every((r) => r.headers.authorization !== undefined));
    stack.front.assertClean();
  });

  test('/addresses (Direct mode) -> 403 discovery.direct_mode_refused mentioning Gateway mode, nothing upstream', async () => {
    const target = '/addresses/?$resolveFor=dbs%2Fshop%2Fcolls%2Fcustomers%2Fdocs&$filter=protocol%20eq%20rntbd&$partitionKeyRangeIds=0';
    const m = await stack.front.quiesce();
    // Signed by the path rule (type "addresses", link "").
    const r1 = await request({ url: new URL(target, proxyUrl()).href, key: stack.clientKeys.app, ca: stack.pki.ca });
    assertLocalError(r1, 403, 'discovery.direct_mode_refused', '/addresses');
    assert.match(r1.json.message, /gateway/i, 'the message tells the user to switch the SDK to Gateway mode');
    // Signed the way .NET's address cache signs it (type "docs", link = the collection): must get
    // the same helpful 403, not a 401 that hides the real problem.
    const date = new Date().toUTCString();
    const sig = computeSignature(stack.clientKeys.app, 'GET', 'docs', 'dbs/shop/colls/customers', date);
    const r2 = await request({
      url: new URL(target, proxyUrl()).href,
      ca: stack.pki.ca,
      headers: { 'x-ms-date': date, authorization: authorizationHeader(sig), 'x-ms-version': '2020-07-15' },
    });
    assertLocalError(r2, 403, 'discovery.direct_mode_refused', '/addresses signed like .NET');
    await sleep(100);
    assert.equal(stack.front.since(m).bytes, 0, 'no byte reached the upstream');
    stack.front.assertClean();
  });

  test('wrong client key: the SDK call fails with 401 and the upstream receives 0 bytes', async () => {
    const wrong = stack.client('app', { key: randomKey() });
    const m = await stack.front.quiesce();
    await assert.rejects(wrong.databases.readAll().fetchAll(), (err) => {
      assert.equal(err.code, 401, `expected 401, got ${err.code}: ${err.message}`);
      return true;
    });
    const r = await request({ url: `${proxyUrl()}dbs`, key: randomKey(), ca: stack.pki.ca });
    assertLocalError(r, 401, 'auth.bad_signature', 'wrong key');
    await sleep(100);
    const d = stack.front.since(m);
    assert.equal(d.bytes, 0, `the upstream received ${d.bytes} bytes (${d.requests.map((x) => `${x.method} ${x.url}`)})`);
    stack.front.assertClean();
  });

  test('authorization problems are refused locally with their detail codes, 0 bytes upstream', async () => {
    const key = stack.clientKeys.app;
    const url = `${proxyUrl()}dbs/shop/colls`;
    const m = await stack.front.quiesce();
    // A correct signature over a date 1 hour old.
    const old = await request({ url, key, ca: stack.pki.ca, date: new Date(Date.now() - 3600e3) });
    assertLocalError(old, 401, 'auth.date_skew', 'date 1 hour old');
    // No authorization header at all.
    const none = await request({ url, ca: stack.pki.ca, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2020-07-15' } });
    assertLocalError(none, 401, 'auth.missing', 'no authorization');
    // Not a parseable token.
    const h = signedHeaders({ method: 'GET', path: '/dbs/shop/colls', key });
    const bad = await request({ url, ca: stack.pki.ca, headers: { ...h, authorization: 'type%3Dmaster%26nonsense' } });
    assertLocalError(bad, 401, 'auth.malformed', 'malformed authorization');
    // A resource / AAD token cosmoseal cannot verify or re-sign.
    const aad = await request({ url, ca: stack.pki.ca, headers: { ...h, authorization: encodeURIComponent('type=aad&ver=1.0&sig=eyJhbGciOi.x.y') } });
    assertLocalError(aad, 401, 'auth.unsupported_token', 'AAD token');
    await sleep(100);
    assert.equal(stack.front.since(m).bytes, 0, 'no byte reached the upstream');
    stack.front.assertClean();
  });

  test('cosmoseal check: exit 0 on the running config; non-zero naming the file when a key file is other-readable', async () => {
    const ok = await checkConfig(stack.proxy.configPath);
    assert.equal(ok.code, 0, `check failed:\n${ok.stdout}\n${ok.stderr}`);
    const dir = path.join(stack.dir, 'check-bad');
    fs.mkdirSync(dir, { mode: 0o700 });
    const loose = writeKeyFile(path.join(dir, 'client.key'), randomKey());
    fs.chmodSync(loose, 0o644);
    const cfg = { ...stack.proxy.config, clients: [{ ...stack.proxy.config.clients[0], key_file: loose }] };
    const file = writeConfig(path.join(dir, 'cosmoseal.yaml'), cfg);
    const bad = await checkConfig(file);
    assert.notEqual(bad.code, 0, 'check must fail on a group/other-readable key file');
    assert.ok(`${bad.stdout}${bad.stderr}`.includes(loose), `the error names ${loose}:\n${bad.stdout}${bad.stderr}`);
    stack.front.assertClean();
  });
});

describe('foundation: plain-HTTP listener (the SDK allows http:// when no agent is given)', () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'foundation-plain', tls: false });
  });
  after(async () => {
    await stack?.stop();
  });

  test('create, read and discover over http://; discovery advertises the http:// URL', async () => {
    assert.ok(stack.proxy.url.startsWith('http://'));
    const client = makeClient({ endpoint: stack.proxy.url, key: stack.clientKeys.app });
    stack._clients.push(client);
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    const { container } = await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/pk'] } });
    await container.items.create({ id: 'o1', pk: 'p', total: 10 });
    const { resource } = await container.item('o1', 'p').read();
    assert.equal(resource.total, 10);
    const { resource: acct } = await client.getDatabaseAccount();
    for (const l of [...acct.writableLocations, ...acct.readableLocations]) {
      assert.equal(new URL(l.databaseAccountEndpoint).origin, new URL(stack.proxy.url).origin);
    }
    stack.front.assertNoBypass();
    stack.front.assertClean();
  });
});
