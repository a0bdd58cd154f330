// Request forms other SDKs send (issue 14), as raw requests through cosmoseal to the front:
// - a path with redundant leading slashes ("//dbs/...": an endpoint written "https://acct:443/"
//   joined with "/dbs/..."), signed as the SDKs sign it (link "dbs/..."): routed, signed and
//   forwarded as the single-slash path;
// - Java bulk operations carrying "minimalReturnPreference" (and other per-operation metadata):
//   accepted, the documents encrypted;
// - Java's query compatibility mode (Content-Type application/sql, the SQL text as the body):
//   rewritten in the same form on a protected container, passed as it is elsewhere;
// - the .NET SDK's HybridRow (binary) batch: refused on a protected container with
//   policy.binary_batch and nothing sent; passed through elsewhere.

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { request } from './lib/raw.mjs';
import { computeSignature, authorizationHeader, X_MS_VERSION } from './lib/auth.mjs';
import { makeKeyring, isEnvelope, rawVia, nothingUpstream, addCanaries } from './lib/enc.mjs';

const T = { timeout: 60000 };
const FIELDS = [{ path: '/ssn', mode: 'deterministic', key: 'pii' }];
const POLICIES = [{ database: 'shop', container: 'c', partition_key: '/tenant', fields: FIELDS }];
const DOCS = '/dbs/shop/colls/c/docs';
const PLAIN_DOCS = '/dbs/shop/colls/plain/docs';
const BULK_HEADERS = {
  'content-type': 'application/json',
  'x-ms-cosmos-is-batch-request': 'True',
  'x-ms-cosmos-batch-atomic': 'False',
  'x-ms-cosmos-batch-continue-on-error': 'True',
  'x-ms-documentdb-partitionkeyrangeid': '0',
};
const SQL_HEADERS = {
  'content-type': 'application/sql',
  'x-ms-documentdb-isquery': 'True',
  'x-ms-documentdb-query-enablecrosspartition': 'True',
};
// A HybridRow batch as the .NET SDK writes it: format version byte 0x81, then binary fields.
const HYBRID_ROW = Buffer.concat([Buffer.from([0x81, 0x02, 0, 0, 0, 0x14, 0, 0, 0]), Buffer.from('SSN-HYBRID-ROW-77')]);

describe('other SDKs\' request forms', () => {
  let stack;
  let front;
  const lastUpstream = (pred) => [...front.proxiedRequests].reverse().find(pred);

  before(async () => {
    const dir = makeWorkDir('sdkforms');
    const keys = await makeKeyring(dir, ['pii']);
    stack = await startStack({ dir, keys, policies: POLICIES });
    front = stack.front;
    addCanaries(front, ['SSN-DOUBLE-SLASH-11', 'SSN-JAVA-BULK-22', 'SSN-JAVA-BULK-33', 'SSN-HYBRID-ROW-77']);
    const client = stack.client('app');
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    const { container } = await database.containers.createIfNotExists({ id: 'c', partitionKey: { paths: ['/tenant'] } });
    const plain = (await database.containers.createIfNotExists({ id: 'plain', partitionKey: { paths: ['/tenant'] } })).container;
    await container.items.create({ id: 'a', tenant: 't', ssn: 'SSN-DOUBLE-SLASH-11' });
    await plain.items.create({ id: 'p', tenant: 't', note: 'plain' });
  });

  after(async () => {
    await stack?.stop();
  });

  test('//dbs/... is routed, signed and forwarded as /dbs/... (protected and unprotected)', T, async () => {
    for (const [target, id, check] of [
      [`/${DOCS}/a`, 'a', (j) => assert.equal(j.ssn, 'SSN-DOUBLE-SLASH-11', 'decrypted')],
      [`//${PLAIN_DOCS}/p`, 'p', (j) => assert.equal(j.note, 'plain')],
    ]) {
      // Signed as an SDK that built "endpoint/" + "/dbs/..." signs it: over the link without slashes.
      const link = target.replace(/^\/+/, '');
      const date = new Date().toUTCString();
      const sig = computeSignature(stack.clientKeys.app, 'GET', 'docs', link, date);
      const r = await request({
        url: `${stack.proxy.url.replace(/\/$/, '')}${target}`,
        method: 'GET',
        ca: stack.pki.ca,
        headers: { authorization: authorizationHeader(sig), 'x-ms-date': date, 'x-ms-version': X_MS_VERSION, 'x-ms-documentdb-partitionkey': '["t"]' },
      });
      assert.equal(r.status, 200, `${target}: ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)}`);
      assert.equal(r.json.id, id);
      check(r.json);
      const sent = lastUpstream((x) => x.method === 'GET' && x.url.endsWith(`/docs/${id}`));
      assert.ok(sent, 'forwarded');
      assert.equal(sent.url, `/${link}`, 'forwarded with one leading slash');
      assert.ok(sent.verified, `re-signed for the forwarded path (${sent.verifyReason})`);
    }
    // An empty segment elsewhere is still refused.
    const bad = await rawVia(stack, 'GET', '//dbs/shop//colls/c', {});
    assertLocalError(bad, 400, 'route.bad_path', '//dbs/shop//colls/c');
    front.assertClean();
  });

  test('Java bulk with minimalReturnPreference: accepted, documents encrypted', T, async () => {
    const ops = [
      { operationType: 'Create', partitionKey: '["t"]', minimalReturnPreference: true, resourceBody: { id: 'b1', tenant: 't', ssn: 'SSN-JAVA-BULK-22' } },
      { operationType: 'Upsert', partitionKey: '["t"]', minimalReturnPreference: false, resourceBody: { id: 'b2', tenant: 't', ssn: 'SSN-JAVA-BULK-33' } },
      { operationType: 'Read', partitionKey: '["t"]', id: 'a' },
    ];
    const r = await rawVia(stack, 'POST', DOCS, { headers: BULK_HEADERS, body: JSON.stringify(ops) });
    assert.equal(r.headers['x-cosmoseal-detail'], undefined, `not refused by cosmoseal: ${r.status} ${r.text.slice(0, 300)}`);
    const sent = lastUpstream((x) => x.method === 'POST' && x.url === DOCS && Array.isArray(x.bodyJson) && x.bodyJson[0]?.resourceBody?.id === 'b1');
    assert.ok(sent, 'the bulk request was forwarded');
    assert.equal(sent.bodyJson[0].minimalReturnPreference, true);
    assert.equal(sent.bodyJson[1].minimalReturnPreference, false);
    assert.ok(isEnvelope(sent.bodyJson[0].resourceBody.ssn), 'op 0 ssn sealed');
    assert.ok(isEnvelope(sent.bodyJson[1].resourceBody.ssn), 'op 1 ssn sealed');
    // An unknown per-operation member is still refused, nothing sent.
    const unknown = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, {
      headers: BULK_HEADERS,
      body: JSON.stringify([{ operationType: 'Create', partitionKey: '["t"]', extra: { ssn: 'SSN-JAVA-BULK-22' }, resourceBody: { id: 'b3', tenant: 't' } }]),
    }), 'unknown member');
    assertLocalError(unknown, 400, 'policy.bad_batch', 'unknown member');
    front.assertClean();
  });

  test('application/sql query: rewritten in the same form on a protected container', T, async () => {
    const sql = "SELECT * FROM c WHERE c.ssn = 'SSN-DOUBLE-SLASH-11'";
    const r = await rawVia(stack, 'POST', DOCS, { headers: SQL_HEADERS, body: sql });
    const sent = lastUpstream((x) => x.method === 'POST' && x.url === DOCS && x.headers['content-type'] === 'application/sql');
    assert.ok(sent, `forwarded (got ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)})`);
    const m = /^SELECT \* FROM c WHERE c\.ssn = "(csx1:[^"]+)"$/.exec(sent.bodyText);
    assert.ok(m, `forwarded as bare SQL with the literal sealed: ${sent.bodyText}`);
    assert.ok(isEnvelope(m[1]));
    // Refusals are the JSON form's.
    const range = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers: SQL_HEADERS, body: "SELECT * FROM c WHERE c.ssn > 'SSN-0'" }), 'range');
    assertLocalError(range, 400, 'query.range_on_protected', 'range on protected');
    // Unprotected container: passed as it is.
    const plainSql = "SELECT * FROM c WHERE c.note = 'plain'";
    await rawVia(stack, 'POST', PLAIN_DOCS, { headers: SQL_HEADERS, body: plainSql });
    const plainSent = lastUpstream((x) => x.method === 'POST' && x.url === PLAIN_DOCS && x.headers['content-type'] === 'application/sql');
    assert.ok(plainSent, 'forwarded');
    assert.equal(plainSent.bodyText, plainSql);
    front.assertClean();
  });

  test('.NET HybridRow batch: refused with policy.binary_batch on a protected container only', T, async () => {
    const headers = { ...BULK_HEADERS, 'content-type': 'application/octet-stream', 'x-ms-cosmos-batch-atomic': 'True', 'x-ms-documentdb-partitionkey': '["t"]' };
    const r = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers, body: HYBRID_ROW }), 'binary batch');
    const json = assertLocalError(r, 400, 'policy.binary_batch', 'binary batch');
    assert.match(json.message, /HybridRow/);
    const plain = await rawVia(stack, 'POST', PLAIN_DOCS, { headers, body: HYBRID_ROW });
    assert.equal(plain.headers['x-cosmoseal-detail'], undefined, `passed through: ${plain.status} ${plain.text.slice(0, 200)}`);
    assert.ok(lastUpstream((x) => x.url === PLAIN_DOCS && x.body.equals(HYBRID_ROW)), 'forwarded byte for byte');
    // The binary batch canary went to the unprotected container, as the app sent it.
    front.takeCanaryHits((h) => h.canary === 'SSN-HYBRID-ROW-77');
    front.assertClean();
  });
});
