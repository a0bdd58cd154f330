// Validates the harness itself, WITHOUT cosmoseal: the real SDK with the real account key through
// the signature-checking front to cosmosdb-server; the front can fail (wrong key, stale date);
// the verifier matches the reference test vectors; canaries and byte counters work.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test, before, after } from 'node:test';
import {
  resourceFromPath, computeSignature, stringToSign, authorizationHeader, parseAuthorization, verifyRequest, signedHeaders,
} from './lib/auth.mjs';
import { startStack } from './lib/stack.mjs';
import { dataPlaneTests } from './lib/scenarios.mjs';
import { request, rawExchange, buildRequest, parseResponses } from './lib/raw.mjs';
import { randomKey } from './lib/keys.mjs';
import { buildConfig } from './lib/cosmoseal.mjs';
import { toYaml } from './lib/yaml.mjs';
import { canaryForms } from './lib/front.mjs';
import { loadManifest, payloadFiles, loadGenerator, payloadBytes, firstRequestTarget } from './lib/payloads.mjs';

const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
const D1 = 'Thu, 27 Apr 2017 00:51:12 GMT';
const D2 = 'Sun, 22 Nov 2026 13:05:47 GMT';

// shared/ref/cosmos-protocol.md §1.3
const VECTORS = [
  ['GET', 'dbs', 'dbs/ToDoList', D1, 'mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY='],
  ['GET', '', '', D1, 'gFB1bRB/PLJTG3bCgMuoVgNzOyFvZAamzEtLuSITjRc='],
  ['POST', 'dbs', '', D1, 'CHjhNtQltyEuPdWLf2/f+hSkSlYg+7UuFlwMyv8L7mI='],
  ['POST', 'docs', 'dbs/db1/colls/coll1', D1, '9yU9qvx5XX6iRaOMpVLw+sXE8DUynMDSMcADdfsx5eQ='],
  ['GET', 'docs', 'dbs/db1/colls/coll1/docs/b é', D1, '8iHozTo/g+qqPKDgy+Do2NXOcIuO9V26f5YcloWFWi4='],
  ['POST', 'sprocs', 'dbs/db1/colls/coll1/sprocs/sp1', D1, 'vP2R8fiis2h/ALmBPgU5eXpE418anE8vdE46SJCxE3c='],
  ['GET', 'pkranges', 'dbs/db1/colls/coll1', D1, '+CvVW7cwN45VFGSYxLNvuqbdnllcXK9dXUs/rjdP4Y8='],
  ['POST', 'docs', 'dbs/db full/colls/Items', D2, 'uhL/iAY0dN1+V0qTlFMg712fPM3s1Tkw/uePrm/g4bM='],
  ['GET', 'docs', 'dbs/db full/colls/Items/docs/b é', D2, 'q3B6di6v996GfSl+xCV3tiR/1UhXlqi9JEZ0xXMvX7U='],
];

describe('signature verifier (no network)', () => {
  test('reference test vectors (cosmos-protocol.md §1.3)', () => {
    for (const [verb, type, link, date, sig] of VECTORS) {
      assert.equal(computeSignature(EMULATOR_KEY, verb, type, link, date), sig, `${verb} ${type} ${link}`);
    }
    assert.equal(stringToSign('GET', 'dbs', 'dbs/ToDoList', D1), 'get\ndbs\ndbs/ToDoList\nthu, 27 apr 2017 00:51:12 gmt\n\n');
    assert.equal(
      authorizationHeader('mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY='),
      'type%3Dmaster%26ver%3D1.0%26sig%3DmM0rMK%2F7o1MZhQwDitGRoGisPRPx09os%2F86Jk0YwquY%3D',
    );
  });

  test('resource type and link from request paths (odd/even rule, decoding, offers exception)', () => {
    const cases = [
      ['/', '', ''],
      ['/dbs', 'dbs', ''],
      ['/dbs/ToDoList', 'dbs', 'dbs/ToDoList'],
      ['/dbs/db1/colls', 'colls', 'dbs/db1'],
      ['/dbs/db1/colls/coll1/docs', 'docs', 'dbs/db1/colls/coll1'],
      ['/dbs/db1/colls/coll1/docs?x=1', 'docs', 'dbs/db1/colls/coll1'],
      ['/dbs/db%20full/colls/Items/docs/b%20%C3%A9', 'docs', 'dbs/db full/colls/Items/docs/b é'],
      ['/dbs/db1/colls/coll1/pkranges', 'pkranges', 'dbs/db1/colls/coll1'],
      ['/dbs/db1/colls/coll1/sprocs/sp1', 'sprocs', 'dbs/db1/colls/coll1/sprocs/sp1'],
      ['/offers', 'offers', ''],
      ['/offers/AbCd', 'offers', 'abcd'],
      ['/addresses/?$resolveFor=dbs%2Fx', 'addresses', ''],
      ['dbs/a/', 'dbs', 'dbs/a'],
    ];
    for (const [p, type, link] of cases) {
      const got = resourceFromPath(p);
      assert.deepEqual({ type: got.type, link: got.link }, { type, link }, p);
    }
  });

  test('verifyRequest: header parsing (hex case, plus signs), reasons', () => {
    const key = randomKey();
    const h = signedHeaders({ method: 'POST', path: '/dbs/a/colls/b/docs', key });
    const req = { method: 'POST', url: '/dbs/a/colls/b/docs', headers: { ...h } };
    assert.equal(verifyRequest(req, key).reason, 'ok');
    // .NET-style lower-case hex is accepted too
    const lower = { ...req, headers: { ...h, authorization: h.authorization.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()) } };
    assert.equal(verifyRequest(lower, key).reason, 'ok');
    assert.equal(verifyRequest(req, randomKey()).reason, 'bad_signature');
    assert.equal(verifyRequest({ ...req, method: 'GET' }, key).reason, 'bad_signature');
    assert.equal(verifyRequest({ ...req, url: '/dbs/a/colls/c/docs' }, key).reason, 'bad_signature');
    assert.equal(verifyRequest({ ...req, headers: { 'x-ms-date': h['x-ms-date'] } }, key).reason, 'missing');
    assert.equal(verifyRequest({ ...req, headers: { ...h, authorization: 'garbage' } }, key).reason, 'malformed');
    assert.equal(verifyRequest({ ...req, headers: { ...h, authorization: encodeURIComponent('type=aad&ver=1.0&sig=x') } }, key).reason, 'unsupported_token');
    const old = signedHeaders({ method: 'POST', path: '/dbs/a/colls/b/docs', key, date: new Date(Date.now() - 3600e3) });
    assert.equal(verifyRequest({ ...req, headers: old }, key).reason, 'date_skew');
    assert.equal(verifyRequest({ ...req, headers: old }, key, { checkDate: false }).reason, 'ok');
    assert.deepEqual(parseAuthorization('type%3dmaster%26ver%3d1.0%26sig%3da+b/c%3D'), { type: 'master', ver: '1.0', sig: 'a+b/c=' });
  });

  test('canary forms cover literal, JSON-escaped, \\u-escaped and percent-encoded spellings', () => {
    const forms = canaryForms('CANARY-é"1').map((f) => f.value);
    assert.ok(forms.includes('CANARY-é"1'));
    assert.ok(forms.includes('CANARY-é\\"1'));
    assert.ok(forms.some((f) => f.startsWith('\\u0043\\u0041')));
    assert.ok(forms.includes(encodeURIComponent('CANARY-é"1')));
  });

  test('config YAML follows DESIGN.md §6', () => {
    const cfg = buildConfig({
      port: 1, adminPort: 2, tls: { cert: 'c.crt', key: 'c.key' }, upstreamEndpoint: 'https://localhost:3/', accountKeyFile: 'a.key',
      caFile: 'ca.crt', clients: [{ name: 'app', key_file: 'k', allow: [{ database: 'shop', containers: ['orders', 'customers'], access: 'read-write' }] }],
      policies: [{ database: 'shop', container: 'customers', fields: [{ path: '/ssn', mode: 'deterministic', key: 'pii' }] }],
    });
    assert.equal(
      toYaml(cfg),
      [
        'listen:', '  address: "127.0.0.1"', '  port: 1', '  tls:', '    cert: "c.crt"', '    key: "c.key"',
        'admin:', '  address: "127.0.0.1"', '  port: 2',
        'upstream:', '  endpoint: "https://localhost:3/"', '  key_file: "a.key"', '  ca_file: "ca.crt"',
        'clients:', '  - name: "app"', '    key_file: "k"', '    allow:', '      - database: "shop"',
        '        containers: ["orders", "customers"]', '        access: "read-write"',
        'policies:', '  - database: "shop"', '    container: "customers"', '    fields:',
        '      - path: "/ssn"', '        mode: "deterministic"', '        key: "pii"', '',
      ].join('\n'),
    );
  });
});

describe('smuggling payloads (files, manifest, placeholders; no network)', () => {
  test('every .http file has a manifest entry and vice versa; files equal generate.mjs output byte for byte', async () => {
    const manifest = loadManifest();
    const files = payloadFiles();
    const { PAYLOADS, GENERATED } = await loadGenerator();
    assert.deepEqual(files, Object.keys(PAYLOADS).map((n) => `${n}.http`).sort(), 'files == generator');
    assert.deepEqual(files, Object.keys(manifest.payloads).filter((n) => n.endsWith('.http')).sort(), 'files == manifest');
    for (const [n, e] of Object.entries(manifest.payloads)) {
      if (!n.endsWith('.http')) assert.ok(e.generated && GENERATED[n], `${n}: generated payload exists`);
      assert.ok(Number.isInteger(e.status) && /^[a-z0-9]+\.[a-z0-9_]+$/.test(e.detail), `${n}: status and detail`);
    }
    for (const f of files) {
      const bytes = fs.readFileSync(new URL(`../security/payloads/${f}`, import.meta.url));
      assert.ok(bytes.equals(Buffer.from(PAYLOADS[f.slice(0, -5)], 'latin1')), `${f} differs from generate.mjs (line endings mangled?)`);
    }
  });

  test('placeholders sit only in request heads, and materialized payloads carry a valid signature', async () => {
    const key = randomKey();
    for (const f of payloadFiles()) {
      const text = fs.readFileSync(new URL(`../security/payloads/${f}`, import.meta.url)).toString('latin1');
      const headEnd = text.search(/\r?\n\r?\n/);
      const head = headEnd < 0 ? text : text.slice(0, headEnd);
      if (/^(content-length|transfer-encoding)\s*:/im.test(head) && headEnd >= 0) {
        assert.ok(!/\{\{[A-Z]+\}\}/.test(text.slice(headEnd)), `${f}: a placeholder inside a framed body would break its length`);
      }
      const bytes = await payloadBytes(f, { host: 'localhost:1', key });
      assert.ok(!bytes.includes('{{'), `${f}: unreplaced placeholder`);
      const { method, path: target } = firstRequestTarget(bytes);
      const m = /authorization: (\S+)/.exec(bytes.toString('latin1'));
      const dm = /x-ms-date: ([^\r\n]+)/.exec(bytes.toString('latin1'));
      if (m) {
        const v = verifyRequest({ method, url: target, headers: { authorization: m[1], 'x-ms-date': dm[1] } }, key);
        assert.equal(v.reason, 'ok', `${f}: signature`);
      }
    }
    const gen = async (g) => (await payloadBytes(g, { host: 'localhost:1', key })).toString('latin1');
    assert.ok((await gen('uri-too-long')).split('\r\n')[0].length > 8192 + 20, 'uri-too-long: target over 8 KiB');
    assert.ok((await gen('too-many-headers')).split('\r\n\r\n')[0].split('\r\n').length - 1 > 100, 'too-many-headers: over 100 fields');
    const big = (await gen('headers-too-large')).split('\r\n\r\n')[0];
    assert.ok(big.length > 64 * 1024 && big.split('\r\n').length - 1 < 100, 'headers-too-large: over 64 KiB in under 100 fields');
  });
});

describe('harness: real SDK -> signature-checking front -> cosmosdb-server (no cosmoseal)', () => {
  let stack;
  let client;
  before(async () => {
    stack = await startStack({ name: 'harness', cosmoseal: false });
    client = stack.direct();
  });
  after(async () => {
    await stack?.stop();
  });

  test('PKI and key files: CA-issued cert for localhost + 127.0.0.1, private files are 0600', async () => {
    for (const f of [stack.pki.caKey, stack.pki.upstream.key, stack.pki.proxy.key]) {
      assert.equal(fs.statSync(f).mode & 0o077, 0, `${f} must not be group/other-readable`);
    }
    // Verified TLS by name and by IP (SAN), against the test CA only.
    for (const host of ['localhost', '127.0.0.1']) {
      const r = await request({ url: `https://${host}:${stack.front.port}/`, key: stack.accountKey, ca: stack.pki.ca });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
    }
    await assert.rejects(request({ url: stack.front.url, key: stack.accountKey }), /self[- ]signed|unable to (get|verify)/i);
    stack.front.assertClean();
  });

  describe('data plane with the real key (same steps as foundation.test.mjs, minus cosmoseal)', () => {
    dataPlaneTests(() => ({
      client,
      endpoint: stack.front.url,
      key: stack.accountKey,
      ca: stack.pki.ca,
      after: () => stack.front.assertClean(),
    }));
  });

  test('every SDK request verified; discovery sent data-plane calls to the advertised regional listener', () => {
    const direct = stack.front.directRequests;
    assert.ok(direct.length > 20, `expected many direct requests, saw ${direct.length}`);
    assert.ok(direct.every((r) => r.verified));
    assert.ok(direct.some((r) => r.method === 'GET' && r.url === '/' && r.listener === 'main'), 'account read on the configured endpoint');
    assert.ok(
      direct.some((r) => r.listener === 'regional' && r.resourceType === 'docs'),
      'the SDK followed the advertised databaseAccountEndpoint (the bypass detector works)',
    );
    stack.front.assertClean();
  });

  test('GET / is rewritten like a multi-region account: regional endpoints, thinClient locations', async () => {
    const r = await request({ url: stack.front.url, key: stack.accountKey, ca: stack.pki.ca });
    assert.equal(r.status, 200);
    for (const k of ['writableLocations', 'readableLocations']) {
      assert.ok(r.json[k].length >= 1);
      for (const loc of r.json[k]) assert.equal(loc.databaseAccountEndpoint, stack.front.regionalUrl);
    }
    assert.ok(Array.isArray(r.json.thinClientWritableLocations) && Array.isArray(r.json.thinClientReadableLocations));
    const { resource } = await client.getDatabaseAccount();
    assert.equal(resource.writableLocations[0].databaseAccountEndpoint, stack.front.regionalUrl);
    stack.front.assertClean();
  });

  test('a client with a wrong key produces signature failures and 401 (the checker can fail)', async () => {
    const wrong = stack.direct({ key: randomKey() });
    const m = stack.front.mark();
    await assert.rejects(wrong.databases.readAll().fetchAll(), (err) => err.code === 401);
    const failures = stack.front.takeSignatureFailures();
    assert.ok(failures.length >= 1);
    assert.ok(failures.every((f) => f.verifyReason === 'bad_signature'));
    assert.ok(stack.front.since(m).requests.every((r) => r.response.status === 401), 'nothing forwarded');
    assert.throws(() => {
      stack.front.requests.push({ seq: -1, verified: false, verifyReason: 'bad_signature', listener: 'main', method: 'GET', url: '/x' });
      stack.front.assertClean();
    }, /signature failure/);
    stack.front.requests.pop();
    stack.front.assertClean();
  });

  test('a failed signature is attributed to a known client key', async () => {
    const clientKey = randomKey();
    stack.front.registerKey('leaky-app', clientKey);
    const r = await request({ url: `${stack.front.url}dbs`, key: clientKey, ca: stack.pki.ca });
    assert.equal(r.status, 401);
    const [f] = stack.front.takeSignatureFailures();
    assert.equal(f.signedWith, 'key:leaky-app');
    stack.front.assertClean();
  });

  test('a request signed 1 hour ago is refused (date_skew)', async () => {
    const r = await request({ url: `${stack.front.url}dbs`, key: stack.accountKey, ca: stack.pki.ca, date: new Date(Date.now() - 3600e3) });
    assert.equal(r.status, 401);
    const [f] = stack.front.takeSignatureFailures();
    assert.equal(f.verifyReason, 'date_skew');
    stack.front.assertClean();
  });

  test('canary detection in body, header and URL (literal and escaped forms)', async () => {
    const front = stack.front;
    const c1 = front.addCanary(`CANARY-${crypto.randomUUID()}`);
    const c2 = front.addCanary(`CANARY-${crypto.randomUUID()}-é`);
    const db = (await client.databases.createIfNotExists({ id: 'canarydb' })).database;
    const { container } = await db.containers.createIfNotExists({ id: 'k', partitionKey: { paths: ['/pk'] } });
    await container.items.create({ id: 'x1', pk: 'p', secret: c1 }); // literal in body
    assert.equal(front.canaryHits.length, 1);
    assert.equal(front.canaryHits[0].where, 'body');
    await container.items.create({ id: 'x2', pk: 'p', v: c2 }); // JSON.stringify keeps é literal
    await request({ url: `${front.url}dbs/canarydb/colls/k/docs`, method: 'POST', key: stack.accountKey, ca: stack.pki.ca,
      headers: { 'x-ms-documentdb-partitionkey': '["p"]', 'content-type': 'application/json' },
      body: `{"id":"x3","pk":"p","v":"${[...c2].map((ch) => `\\u${ch.codePointAt(0).toString(16).padStart(4, '0')}`).join('')}"}` });
    await request({ url: `${front.url}dbs/${encodeURIComponent(c2)}`, key: stack.accountKey, ca: stack.pki.ca });
    await request({ url: `${front.url}dbs`, key: stack.accountKey, ca: stack.pki.ca, headers: { 'x-custom': c1 } });
    const hits = front.takeCanaryHits();
    const where = hits.map((h) => `${h.canary === c1 ? 'c1' : 'c2'}:${h.where}:${h.form}`);
    assert.ok(where.includes('c1:body:literal'), where.join(' '));
    assert.ok(where.includes('c2:body:literal'), where.join(' '));
    assert.ok(where.includes('c2:body:json-u-escaped'), where.join(' '));
    assert.ok(where.some((w) => w.startsWith('c2:request-line')), where.join(' '));
    assert.ok(where.includes('c1:header:x-custom:literal'), where.join(' '));
    assert.throws(() => {
      front._canaryHits.push({ seq: 0, canary: c1, form: 'literal', where: 'body', acknowledged: false });
      front.assertClean();
    }, /canary/);
    front.takeCanaryHits();
    await db.delete();
    front.assertClean();
  });

  test('raw bytes: counted per TLS connection; a plain-text request on the TLS port still counts', async () => {
    const front = stack.front;
    const m = await front.quiesce();
    assert.equal(front.since(m).bytes, 0);
    const r = await rawExchange({
      port: front.port,
      tls: { ca: stack.pki.ca },
      data: buildRequest({ method: 'GET', path: '/', host: `localhost:${front.port}`, key: stack.accountKey, headers: { Connection: 'close' } }),
      timeoutMs: 3000,
    });
    assert.equal(r.responses.length, 1);
    assert.equal(r.responses[0].status, 200);
    assert.ok(r.closed);
    const d = front.since(m);
    assert.ok(d.bytes > 200, `raw bytes ${d.bytes}`);
    assert.equal(d.requests.length, 1);
    assert.equal(d.connections, 1);
    const m2 = front.mark();
    const junk = await rawExchange({ port: front.port, data: 'GET / HTTP/1.1\r\n\r\n', timeoutMs: 2000 });
    assert.ok(junk.closed);
    assert.equal(front.since(m2).bytes, 18);
    assert.equal(front.since(m2).requests.length, 0);
    front.assertClean();
  });

  test('raw exchange: keep-alive pipelining and the response parser', async () => {
    const front = stack.front;
    const host = `localhost:${front.port}`;
    const data = Buffer.concat([
      buildRequest({ method: 'GET', path: '/dbs', host, key: stack.accountKey }),
      buildRequest({ method: 'GET', path: '/', host, key: stack.accountKey }),
    ]);
    const r = await rawExchange({ port: front.port, tls: { ca: stack.pki.ca }, data, expectResponses: 2, timeoutMs: 3000 });
    assert.equal(r.closed, false, 'keep-alive connection stays open');
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
    assert.ok(JSON.parse(r.responses[0].body).Databases);
    assert.ok(JSON.parse(r.responses[1].body).writableLocations);
    const chunked = parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
    assert.deepEqual(chunked.responses.map((x) => [x.status, x.body.toString()]), [[200, 'abc'], [204, '']]);
    front.assertClean();
  });
});
