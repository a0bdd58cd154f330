// Issue 15, items 3 and 6, end to end (SDK -> cosmoseal -> front -> cosmosdb-server):
//   * numbers in deterministic fields compare as Cosmos compares them (docs/FORMAT.md §2): the JS
//     SDK writes a number partition key, a raw request with the header spelled [5.0] (as .NET and
//     Java write it) reads it, and a query literal 7.0 finds a document written with 7;
//   * container definitions are checked (policy/container_definition.h): a unique key over a
//     randomized path is refused before anything goes upstream, over a deterministic path it is
//     created; trigger headers on a protected container are refused.

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { withoutSystemProperties as strip } from './lib/cosmos-json.mjs';
import { makeKeyring, isEnvelope, rawVia, nothingUpstream, addCanaries, queryHeaders } from './lib/enc.mjs';

const T = { timeout: 60000 };
const FIELDS = [
  { path: '/acct', mode: 'deterministic', key: 'pii' },
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
  { path: '/notes', mode: 'randomized', key: 'pii' },
];
const POLICIES = [
  { database: 'defs', container: 'ledger', partition_key: '/acct', fields: FIELDS },
  { database: 'defs', container: 'ukRandom', partition_key: '/acct', fields: FIELDS },
  { database: 'defs', container: 'ukDeterministic', partition_key: '/acct', fields: FIELDS },
];
const LEDGER = '/dbs/defs/colls/ledger/docs';
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('definitions: canonical numbers and checked container definitions', () => {
  let stack;
  let front;
  let db;
  let ledger;
  let direct;

  before(async () => {
    const dir = makeWorkDir('definitions');
    const keys = await makeKeyring(dir, ['pii']);
    stack = await startStack({
      dir,
      keys,
      policies: POLICIES,
      clients: [{ name: 'app', allow: [{ database: 'defs', containers: ['*'], access: 'read-write' }] }],
    });
    front = stack.front;
    const client = stack.client('app');
    ({ database: db } = await client.databases.createIfNotExists({ id: 'defs' }));
    ledger = (await db.containers.createIfNotExists({ id: 'ledger', partitionKey: { paths: ['/acct'] } })).container;
    direct = stack.direct().database('defs').container('ledger');
  });
  after(async () => {
    await stack?.stop();
  });

  test('a number partition key written by the JS SDK ([5]) is read with the header [5.0]', T, async () => {
    addCanaries(front, ['NOTES-NUM-SECRET']);
    const doc = { id: 'n1', acct: 5, ssn: 7, notes: 'NOTES-NUM-SECRET' };
    const created = await ledger.items.create(doc);
    assert.equal(created.statusCode, 201);
    assert.deepStrictEqual(strip(created.resource), doc);
    const sent = [...front.proxiedRequests].reverse().find((r) => r.method === 'POST' && r.url === LEDGER);
    const header = JSON.parse(sent.headers['x-ms-documentdb-partitionkey']);
    assert.ok(isEnvelope(header[0]), 'the partition-key header went upstream sealed');
    assert.equal(header[0], sent.bodyJson.acct, 'header and body carry one envelope');

    // .NET and Java spell the header [5.0]: the same double, the same envelope, the same document.
    for (const spelling of ['[5.0]', '[5e0]', '[5]', '[500E-2]']) {
      const r = await rawVia(stack, 'GET', `${LEDGER}/n1`, { headers: { 'x-ms-documentdb-partitionkey': spelling } });
      assert.equal(r.status, 200, `${spelling}: ${r.text.slice(0, 300)}`);
      assert.deepStrictEqual(strip(r.json), doc, spelling);
    }
    // A raw write spelling both the body and the header differently lands in the same partition.
    const w = await rawVia(stack, 'POST', LEDGER, {
      headers: { ...JSON_HEADERS, 'x-ms-documentdb-partitionkey': '[5.0]' },
      body: '{"id":"n2","acct":5e0,"ssn":7.0}',
    });
    assert.equal(w.status, 201, w.text.slice(0, 300));
    assert.equal(w.json.acct, 5, 'a deterministic number decrypts to its canonical spelling');
    const stored = (await direct.item('n2', header[0]).read()).resource;
    assert.equal(stored.acct, header[0], 'stored under the same partition-key envelope as n1');
    front.assertClean();
  });

  test('WHERE c.ssn = 7.0 (literal) and = @v (parameter 7e0) find documents written with 7', T, async () => {
    const lit = await ledger.items.query('SELECT c.id FROM c WHERE c.ssn = 7.0').fetchAll();
    assert.deepStrictEqual(lit.resources.map((x) => x.id).sort(), ['n1', 'n2']);
    const raw = await rawVia(stack, 'POST', LEDGER, {
      headers: queryHeaders(5),
      body: JSON.stringify({ query: 'SELECT c.id FROM c WHERE c.ssn = @v', parameters: [{ name: '@v', value: 7 }] }).replace('"value":7', '"value":7e0'),
    });
    assert.equal(raw.status, 200, raw.text.slice(0, 300));
    assert.deepStrictEqual(raw.json.Documents.map((x) => x.id).sort(), ['n1', 'n2']);
    front.assertClean();
  });

  test('a number beyond a double on a deterministic field -> 400 policy.number_out_of_range, nothing upstream', T, async () => {
    const r = await nothingUpstream(front, () =>
      rawVia(stack, 'POST', LEDGER, {
        headers: { ...JSON_HEADERS, 'x-ms-documentdb-partitionkey': '[5]' },
        body: '{"id":"n3","acct":5,"ssn":1e400}',
      }));
    assertLocalError(r, 400, 'policy.number_out_of_range', 'ssn 1e400');
    front.assertClean();
  });

  test('containers.create with a unique key over a randomized path -> 400 definition.unique_key_on_protected', T, async () => {
    await nothingUpstream(front, () =>
      assert.rejects(
        db.containers.create({ id: 'ukRandom', partitionKey: { paths: ['/acct'] }, uniqueKeyPolicy: { uniqueKeys: [{ paths: ['/notes'] }] } }),
        (e) => e.code === 400 && /definition\.unique_key_on_protected/.test(e.message),
      ));
    front.assertClean();
  });

  test('containers.create with a unique key over a deterministic path is created', T, async () => {
    const r = await db.containers.create({
      id: 'ukDeterministic',
      partitionKey: { paths: ['/acct'] },
      uniqueKeyPolicy: { uniqueKeys: [{ paths: ['/ssn'] }] },
    });
    assert.equal(r.statusCode, 201);
    assert.equal(r.resource.id, 'ukDeterministic');
    front.assertClean();
  });

  test('container definitions that disagree with the policy are refused before they go upstream', T, async () => {
    const cases = [
      ['a partition key other than the policy\'s', { id: 'ukRandom', partitionKey: { paths: ['/other'] } }, 'definition.partition_key_mismatch'],
      ['a computed property over a protected field', { id: 'ukRandom', partitionKey: { paths: ['/acct'] }, computedProperties: [{ name: 'cp', query: 'SELECT VALUE LOWER(c.ssn) FROM c' }] }, 'definition.computed_property_on_protected'],
      ['a full-text index over a protected field', { id: 'ukRandom', partitionKey: { paths: ['/acct'] }, indexingPolicy: { fullTextIndexes: [{ path: '/notes' }] } }, 'definition.index_on_protected'],
    ];
    for (const [what, body, detail] of cases) {
      const r = await nothingUpstream(front, () =>
        rawVia(stack, 'POST', '/dbs/defs/colls', { headers: JSON_HEADERS, body: JSON.stringify(body) }), what);
      assertLocalError(r, 400, detail, what);
    }
    // Replacing a protected container is checked the same way.
    const put = await nothingUpstream(front, () =>
      rawVia(stack, 'PUT', '/dbs/defs/colls/ledger', {
        headers: JSON_HEADERS,
        body: JSON.stringify({ id: 'ledger', partitionKey: { paths: ['/acct'] }, uniqueKeyPolicy: { uniqueKeys: [{ paths: ['/notes'] }] } }),
      }), 'replace');
    assertLocalError(put, 400, 'definition.unique_key_on_protected', 'replace');
    front.assertClean();
  });

  test('a pre-trigger on a protected container -> 400 route.trigger_on_protected, nothing upstream', T, async () => {
    await nothingUpstream(front, () =>
      assert.rejects(
        ledger.items.create({ id: 'n4', acct: 6, ssn: 8 }, { preTriggerInclude: ['stamp'] }),
        (e) => e.code === 400 && /route\.trigger_on_protected/.test(e.message),
      ));
    front.assertClean();
  });
});
