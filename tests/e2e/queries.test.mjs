// Queries on a protected container, end to end: the same ~30 documents are loaded into a
// protected container (through cosmoseal) and into an unprotected control container (directly);
// every supported query shape (docs/QUERIES.md) must return through cosmoseal exactly the ids the
// control returns for the same SQL and parameters, queried directly. Every refused shape must get
// 400 with its documented detail code and send 0 bytes upstream. Protected plaintexts are
// canaries; the control container necessarily holds and is queried with the same plaintexts, so
// canary hits of the tests' own DIRECT requests are acknowledged (they never pass cosmoseal), and
// every request through cosmoseal, the SDK's parallel query-plan requests included, must be clean.
//
// cosmosdb-server notes: it ignores the partition-key header of queries (a "single-partition"
// query returns what the cross-partition one does; the control behaves the same, so the id sets
// still compare); it executes query-plan requests as queries (so a plan response holds documents);
// its SQL engine has no DISTINCT / GROUP BY / OFFSET (refused shapes are refused by cosmoseal
// before the server could parse them, so they are still tested).

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { withoutSystemProperties as strip } from './lib/cosmos-json.mjs';
import { makeKeyring, isEnvelope, assertStoredEncrypted, envelopesIn, rawVia, rawDirect, queryHeaders, nothingUpstream, addCanaries, canaryCandidates } from './lib/enc.mjs';

const T = { timeout: 60000 };
const FIELDS = [
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
  { path: '/email', mode: 'deterministic', key: 'pii' },
  { path: '/score', mode: 'deterministic', key: 'pii' },
  { path: '/vip', mode: 'deterministic', key: 'pii' },
  { path: '/tags/*', mode: 'deterministic', key: 'pii' },
  { path: '/address', mode: 'randomized', key: 'pii' },
  { path: '/cards/*/number', mode: 'randomized', key: 'pii' },
];
const POLICIES = [{ database: 'shop', container: 'people', partition_key: '/tenant', fields: FIELDS }];
const DOCS = '/dbs/shop/colls/people/docs';
const PLAIN_DOCS = '/dbs/shop/colls/people_plain/docs';

const SSNS = ['SSN-AAA-001', 'SSN-BBB-002', 'SSN-CCC-003', 'SSN-Zo\u00eb-004', "SSN-O'Neil-5", 'SSN-\u00e9\u00e8-007', 'SSN-"dq"-008', 'SSN-\u4e2d\u6587-09'];
const SCORES = [4242424242, -55555555, 3.14159265, 7777777777, 99.0000001];
const CITIES = ['Paris', 'Berlin', 'Rome', 'Oslo'];

/** 30 documents: duplicates, unicode, numbers, booleans, arrays, missing fields. */
function dataset() {
  return Array.from({ length: 30 }, (_, i) => {
    const doc = {
      id: `q-${String(i).padStart(2, '0')}`,
      tenant: `t${i % 3}`,
      name: `Person ${i}`,
      age: 20 + i,
      city: CITIES[i % 4],
      ssn: SSNS[i % SSNS.length],
      email: `q${i % 5}@mail.test`,
      score: SCORES[i % SCORES.length],
      vip: i % 4 === 0,
      tags: [['TAG-red-x'], ['TAG-vip-x', 'TAG-red-x'], [], ['TAG-blue-x', 'TAG-vip-x']][i % 4],
      address: { street: `${i} Query Lane`, city: `QCity-${i % 4}` },
      cards: [{ brand: 'visa', number: `CARD-${i}-NUM` }],
    };
    if (i % 10 === 9) delete doc.ssn; // some documents have no ssn
    if (i === 7) doc.vip = null;
    return doc;
  });
}

describe('queries: protected container vs unprotected control', () => {
  let stack;
  let front;
  let people; // through cosmoseal
  let control; // directly, unprotected
  const docs = dataset();
  const byId = new Map(docs.map((x) => [x.id, x]));

  /** Acknowledges canary hits of the tests' own direct requests, then asserts the front clean. */
  const assertClean = () => {
    front.takeCanaryHits((h, r) => r && r.origin === 'direct');
    front.assertClean();
  };

  before(async () => {
    const dir = makeWorkDir('queries');
    const keys = await makeKeyring(dir, ['pii']);
    stack = await startStack({ dir, keys, policies: POLICIES });
    front = stack.front;
    addCanaries(front, [...new Set(docs.flatMap((x) => canaryCandidates([x.ssn, x.email, x.score, x.tags, x.address, x.cards.map((k) => k.number)])))]);
    // The JS SDK writes non-ASCII as \u escapes in some places: watch those spellings too.
    addCanaries(front, ['SSN-Zo\\u00eb-004', 'SSN-Zo\\u00EB-004', 'SSN-\\u00e9\\u00e8-007', 'SSN-\\u4e2d\\u6587-09']);
    const client = stack.client('app');
    const direct = stack.direct();
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    people = (await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } })).container;
    await direct.database('shop').containers.create({ id: 'people_plain', partitionKey: { paths: ['/tenant'] } });
    control = direct.database('shop').container('people_plain');
    for (const x of docs) {
      await people.items.create(x);
      await control.items.create(x);
    }
    assertClean();
  });
  after(async () => {
    await stack?.stop();
  });

  test('the protected container stores envelopes; the control stores plaintext', T, async () => {
    const dp = stack.direct().database('shop').container('people');
    for (const x of docs) {
      const { resource } = await dp.item(x.id, x.tenant).read();
      assertStoredEncrypted(resource, x, FIELDS, x.id);
      assert.deepStrictEqual(strip((await control.item(x.id, x.tenant).read()).resource), x);
    }
    assertClean();
  });

  // ---- supported shapes: same ids as the control ---------------------------------------------

  const idKey = (r) => (typeof r === 'string' ? r : r.id);
  const sortedIds = (rows) => rows.map(idKey).sort();

  /** Runs one query both ways and compares; returns the rows through cosmoseal. */
  async function compare(query, parameters = [], opts = {}, { ordered = false, min = 1 } = {}) {
    const spec = { query, parameters };
    const got = (await people.items.query(spec, opts).fetchAll()).resources;
    const want = (await control.items.query(spec, opts).fetchAll()).resources;
    const g = ordered ? got.map(idKey) : sortedIds(got);
    const w = ordered ? want.map(idKey) : sortedIds(want);
    assert.deepStrictEqual(g, w, `${query} ${JSON.stringify(parameters)} ${JSON.stringify(opts)}: through cosmoseal vs control`);
    assert.ok(w.length >= min, `${query}: the control returns ${w.length} rows (a test of nothing?)`);
    for (const r of got) {
      if (r && typeof r === 'object' && r.id && r._rid) assert.deepStrictEqual(strip(r), byId.get(r.id), `${query}: row ${r.id} decrypted`);
    }
    assert.equal(envelopesIn(got).length, 0, `${query}: no envelope in the results`);
    return got;
  }

  const P = (name, value) => ({ name, value });
  const supported = [
    // [title, query, parameters, options?, {ordered, min}?]
    ['= single quotes', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001'"],
    ['= double quotes', 'SELECT * FROM c WHERE c.ssn = "SSN-AAA-001"'],
    ['literal on the left', "SELECT * FROM c WHERE 'SSN-BBB-002' = c.ssn"],
    ['= @string parameter', 'SELECT * FROM c WHERE c.ssn = @s', [P('@s', 'SSN-CCC-003')]],
    ['!=', "SELECT * FROM c WHERE c.ssn != 'SSN-AAA-001'"],
    ['<>', "SELECT * FROM c WHERE c.ssn <> 'SSN-AAA-001'"],
    ['IN (literals and a parameter)', "SELECT * FROM c WHERE c.ssn IN ('SSN-AAA-001', \"SSN-CCC-003\", @s)", [P('@s', 'SSN-BBB-002')]],
    // cosmosdb-server's SQL engine cannot parse `x NOT IN (...)` (see the raw NOT IN test below).
    ['NOT (... IN ...)', "SELECT * FROM c WHERE NOT (c.ssn IN ('SSN-AAA-001', 'SSN-CCC-003'))"],
    ['ARRAY_CONTAINS([literals], path)', "SELECT * FROM c WHERE ARRAY_CONTAINS(['SSN-AAA-001', 'SSN-Zo\u00eb-004'], c.ssn)"],
    ['ARRAY_CONTAINS(@array, path)', 'SELECT * FROM c WHERE ARRAY_CONTAINS(@arr, c.ssn)', [P('@arr', ['SSN-BBB-002', SSNS[5], 'SSN-NOT-THERE'])]],
    ['ARRAY_CONTAINS(@array, path, false)', 'SELECT * FROM c WHERE ARRAY_CONTAINS(@arr, c.email, false)', [P('@arr', ['q1@mail.test', 'q3@mail.test'])]],
    ['number literal', 'SELECT * FROM c WHERE c.score = 4242424242'],
    ['negative number literal', 'SELECT * FROM c WHERE c.score = -55555555'],
    ['decimal number literal', 'SELECT * FROM c WHERE c.score = 3.14159265'],
    ['@number parameter', 'SELECT * FROM c WHERE c.score = @n', [P('@n', 7777777777)]],
    ['IN numbers', 'SELECT * FROM c WHERE c.score IN (99.0000001, -55555555)'],
    ['boolean literal', 'SELECT * FROM c WHERE c.vip = true'],
    ['boolean parameter', 'SELECT * FROM c WHERE c.vip = @b', [P('@b', false)]],
    ['null literal', 'SELECT * FROM c WHERE c.vip = null'],
    ['AND with an unprotected range', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001' AND c.age > 25"],
    ['OR with an unprotected predicate', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001' OR c.city = 'Berlin'"],
    ['nested AND/OR/NOT', "SELECT * FROM c WHERE (c.email = 'q1@mail.test' OR c.email = @e) AND NOT (c.tenant = 't0')", [P('@e', 'q2@mail.test')]],
    ['bracket access', "SELECT * FROM c WHERE c[\"ssn\"] = 'SSN-BBB-002'"],
    ['bracket access, single quotes', "SELECT * FROM c WHERE c['email'] = 'q4@mail.test'"],
    ['other alias name', "SELECT * FROM people p WHERE p.ssn = 'SSN-CCC-003'"],
    ['unicode literal', "SELECT * FROM c WHERE c.ssn = 'SSN-Zo\u00eb-004'"],
    ['unicode via SQL \\u escapes', "SELECT * FROM c WHERE c.ssn = 'SSN-\\u00e9\\u00e8-007'"],
    ['CJK parameter', 'SELECT * FROM c WHERE c.ssn = @s', [P('@s', 'SSN-\u4e2d\u6587-09')]],
    ['escaped single quote', "SELECT * FROM c WHERE c.ssn = 'SSN-O\\'Neil-5'"],
    ['double quotes inside', "SELECT * FROM c WHERE c.ssn = 'SSN-\"dq\"-008'"],
    ['ARRAY_CONTAINS(c.tags, literal) (deterministic elements)', "SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, 'TAG-vip-x')"],
    ['JOIN alias on a deterministic element', "SELECT VALUE c.id FROM c JOIN t IN c.tags WHERE t = 'TAG-red-x'"],
    ['JOIN alias with IN', "SELECT VALUE c.id FROM c JOIN t IN c.tags WHERE t IN ('TAG-blue-x', 'TAG-vip-x')"],
    ['IS_DEFINED on protected fields', 'SELECT * FROM c WHERE NOT IS_DEFINED(c.ssn) OR IS_DEFINED(c.address) AND c.age < 22'],
    ['COUNT(1) with a rewritten predicate', "SELECT VALUE COUNT(1) FROM c WHERE c.email = 'q0@mail.test'", [], {}, { ordered: true, count: true }],
    ['projection of protected fields', "SELECT c.id, c.ssn, c.address, c.cards FROM c WHERE c.email = 'q3@mail.test'"],
    ['ORDER BY unprotected + protected WHERE', "SELECT * FROM c WHERE c.email = 'q1@mail.test' ORDER BY c.age DESC", [], {}, { ordered: true }],
    ['TOP + ORDER BY', "SELECT TOP 3 * FROM c WHERE c.email IN ('q1@mail.test', 'q2@mail.test') ORDER BY c.age", [], {}, { ordered: true }],
    ['comment removed', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001' -- a comment\n AND c.age > 0"],
    ['single partition (pk header), literal', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001'", [], { partitionKey: 't1' }],
    ['single partition (pk header), parameter', 'SELECT * FROM c WHERE c.tenant = @t AND c.email = @e', [P('@t', 't2'), P('@e', 'q2@mail.test')], { partitionKey: 't2' }],
  ];
  for (const [title, query, parameters = [], opts = {}, how = {}] of supported) {
    test(`supported: ${title}`, T, async () => {
      if (how.count) {
        const got = (await people.items.query({ query, parameters }).fetchAll()).resources;
        const want = (await control.items.query({ query, parameters }).fetchAll()).resources;
        assert.deepStrictEqual(got, want, query);
        assert.ok(want[0] > 0);
      } else {
        await compare(query, parameters, opts, how);
      }
      assertClean();
    });
  }

  test('the same queries by raw request: literals and parameters go upstream as envelopes', T, async () => {
    const m = front.mark();
    const body = {
      query: "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001' OR c.email = @e OR ARRAY_CONTAINS(@arr, c.score)",
      parameters: [P('@e', 'q4@mail.test'), P('@arr', [4242424242, 3.14159265])],
    };
    const r = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body: JSON.stringify(body) });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    const want = await rawDirect(stack, 'POST', PLAIN_DOCS, { headers: queryHeaders(), body: JSON.stringify(body) });
    assert.deepStrictEqual(sortedIds(r.json.Documents), sortedIds(want.json.Documents));
    const sent = front.since(m).requests.find((x) => x.origin !== 'direct' && x.url === DOCS);
    assert.ok(sent, 'the query went upstream');
    const fwd = sent.bodyJson;
    assert.match(fwd.query, /^SELECT \* FROM c WHERE c\.ssn = "csx1:[A-Za-z0-9+/=]+" OR c\.email = @e OR ARRAY_CONTAINS\(@arr, c\.score\)$/);
    assert.ok(isEnvelope(fwd.parameters[0].value));
    assert.ok(fwd.parameters[1].value.length === 2 && fwd.parameters[1].value.every(isEnvelope));
    assertClean();
  });

  test('NOT IN (raw): rewritten by cosmoseal; cosmosdb-server cannot parse NOT IN, its 400 passes through', T, async () => {
    const m = front.mark();
    const body = JSON.stringify({ query: "SELECT * FROM c WHERE c.ssn NOT IN ('SSN-AAA-001', @s)", parameters: [P('@s', 'SSN-CCC-003')] });
    const r = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body });
    const sent = front.since(m).requests.find((x) => x.origin !== 'direct' && x.url === DOCS);
    assert.ok(sent, `cosmoseal forwarded the NOT IN query (got ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)})`);
    assert.match(sent.bodyJson.query, /^SELECT \* FROM c WHERE c\.ssn NOT IN \("csx1:[A-Za-z0-9+/=]+", @s\)$/);
    assert.ok(isEnvelope(sent.bodyJson.parameters[0].value));
    const ctl = await rawDirect(stack, 'POST', PLAIN_DOCS, { headers: queryHeaders(), body });
    assert.equal(r.status, ctl.status, 'the same answer as the control gets');
    assert.equal(r.headers['x-cosmoseal-detail'], undefined);
    assertClean();
  });

  test('the SDK ORDER BY wrapper shape (orderByItems/payload) with a rewritten predicate', T, async () => {
    const query = `SELECT c._rid, [{"item": c.age}] AS orderByItems, c AS payload FROM c WHERE c.email = 'q2@mail.test' ORDER BY c.age`;
    const r = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body: JSON.stringify({ query }) });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    const want = await rawDirect(stack, 'POST', PLAIN_DOCS, { headers: queryHeaders(), body: JSON.stringify({ query }) });
    assert.equal(want.status, 200, want.text.slice(0, 300));
    assert.deepStrictEqual(r.json.Documents.map((x) => x.payload.id), want.json.Documents.map((x) => x.payload.id));
    for (const row of r.json.Documents) assert.deepStrictEqual(strip(row.payload), byId.get(row.payload.id));
    assertClean();
  });

  test('the query-plan request the SDK sends in parallel carries only envelopes (and is executed as a query by the server)', T, async () => {
    const m = front.mark();
    await compare('SELECT * FROM c WHERE c.ssn = @s OR c.email = "q0@mail.test"', [P('@s', 'SSN-Zo\u00eb-004')]);
    const mine = front.since(m).requests.filter((x) => x.origin !== 'direct' && x.url === DOCS);
    const plans = mine.filter((x) => String(x.headers['x-ms-cosmos-is-query-plan-request']).toLowerCase() === 'true');
    assert.ok(plans.length >= 1, `the SDK sent a query-plan request through cosmoseal (saw ${mine.map((x) => JSON.stringify(x.headers['x-ms-cosmos-is-query-plan-request']))})`);
    for (const p of plans) {
      assert.ok(isEnvelope(p.bodyJson.parameters[0].value), 'plan request parameter sealed');
      assert.ok(/c\.email = "csx1:/.test(p.bodyJson.query), `plan request literal sealed: ${p.bodyJson.query}`);
      assert.equal(p.response.status, 200, 'cosmosdb-server answers the plan request as a query');
    }
    assertClean();
  });

  // ---- refused shapes: 400 + detail, 0 bytes upstream ------------------------------------------

  const refused = [
    ['range >', "SELECT * FROM c WHERE c.ssn > 'SSN-AAA-001'", 'query.range_on_protected'],
    ['range <= on a number', 'SELECT * FROM c WHERE c.score <= 4242424242', 'query.range_on_protected'],
    ['BETWEEN', "SELECT * FROM c WHERE c.ssn BETWEEN 'SSN-AAA-001' AND 'SSN-CCC-003'", 'query.range_on_protected'],
    ['range on a JOIN alias of a deterministic element', "SELECT VALUE c.id FROM c JOIN t IN c.tags WHERE t > 'TAG-red-x'", 'query.range_on_protected'],
    ['LIKE', "SELECT * FROM c WHERE c.ssn LIKE 'SSN-AAA%'", 'query.function_on_protected'],
    ['STARTSWITH', "SELECT * FROM c WHERE STARTSWITH(c.ssn, 'SSN-AAA')", 'query.function_on_protected'],
    ['CONTAINS', "SELECT * FROM c WHERE CONTAINS(c.email, '@mail.test')", 'query.function_on_protected'],
    ['IS_NULL', 'SELECT * FROM c WHERE IS_NULL(c.vip)', 'query.function_on_protected'],
    ['LOWER in a projection', 'SELECT LOWER(c.email) FROM c', 'query.function_on_protected'],
    ['ORDER BY a protected field', 'SELECT * FROM c ORDER BY c.ssn', 'query.order_by_protected'],
    ['ORDER BY, SDK wrapper shape', 'SELECT c._rid, [{"item": c.ssn}] AS orderByItems, c AS payload FROM c WHERE true ORDER BY c.ssn', 'query.order_by_protected'],
    ['GROUP BY a protected field', 'SELECT c.ssn, COUNT(1) AS n FROM c GROUP BY c.ssn', 'query.group_by_protected'],
    ['MAX of a protected field', 'SELECT VALUE MAX(c.score) FROM c', 'query.aggregate_on_protected'],
    ['COUNT of a protected field', 'SELECT VALUE COUNT(c.ssn) FROM c', 'query.aggregate_on_protected'],
    ['DISTINCT over protected values', 'SELECT DISTINCT c.ssn FROM c', 'query.distinct_on_protected'],
    ['equality on a randomized field', "SELECT * FROM c WHERE c.address = 'QCity-1'", 'query.predicate_on_randomized'],
    ['JOIN k IN c.cards WHERE k.number = ... (randomized)', "SELECT c.id FROM c JOIN k IN c.cards WHERE k.number = 'CARD-1-NUM'", 'query.predicate_on_randomized'],
    ['ARRAY_CONTAINS over a randomized field', "SELECT * FROM c WHERE ARRAY_CONTAINS(['CARD-1-NUM'], c.cards[0].number)", 'query.predicate_on_randomized'],
    ['predicate inside a protected subtree', "SELECT * FROM c WHERE c.address.city = 'QCity-1'", 'query.inside_protected'],
    ['projection inside a protected subtree', 'SELECT c.ssn, c.address.city FROM c', 'query.inside_protected'],
    ['IS_DEFINED inside a protected subtree', 'SELECT * FROM c WHERE IS_DEFINED(c.address.city)', 'query.inside_protected'],
    ['arithmetic', 'SELECT * FROM c WHERE c.score + 1 = 4242424243', 'query.operator_on_protected'],
    ['string concatenation', "SELECT * FROM c WHERE c.ssn || 'x' = 'SSN-AAA-001x'", 'query.operator_on_protected'],
    ['two protected fields compared', 'SELECT * FROM c WHERE c.ssn = c.email', 'query.unsupported_on_protected'],
    ['deterministic boolean used as a condition', 'SELECT * FROM c WHERE c.vip', 'query.unsupported_on_protected'],
    ['non-JSON number spelling', 'SELECT * FROM c WHERE c.score = .5', 'query.unsupported_on_protected'],
    ['unknown identifier', "SELECT * FROM c WHERE x.ssn = 'SSN-AAA-001'", 'query.unknown_identifier'],
    ['parameter compared with two fields', 'SELECT * FROM c WHERE c.ssn = @p OR c.email = @p', 'query.parameter_conflict', [P('@p', 'SSN-AAA-001')]],
    ['parameter both sealed and projected', 'SELECT @p AS x FROM c WHERE c.ssn = @p', 'query.parameter_conflict', [P('@p', 'SSN-AAA-001')]],
    ['unterminated string', "SELECT * FROM c WHERE c.ssn = 'SSN-AAA-001", 'query.syntax'],
    ['block comment', "SELECT * FROM c /* x */ WHERE c.ssn = 'SSN-AAA-001'", 'query.syntax'],
  ];
  for (const [title, query, detail, parameters = []] of refused) {
    test(`refused: ${title} -> 400 ${detail}`, T, async () => {
      const body = JSON.stringify({ query, parameters });
      const r = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body }), query);
      assertLocalError(r, 400, detail, query);
      // The SDK (query + query-plan request in parallel) gets the same 400, and nothing is sent.
      await nothingUpstream(
        front,
        () =>
          assert.rejects(people.items.query({ query, parameters }).fetchAll(), (e) => {
            assert.equal(e.code, 400, `${query}: SDK error ${e.code} ${e.message}`);
            assert.ok(String(e.message).includes(detail), `${query}: SDK error names ${detail}: ${e.message}`);
            return true;
          }),
        `${query} (SDK)`,
      );
      // Single-partition too (the pk header is no way around the rules).
      const r2 = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers: queryHeaders('t1'), body }), `${query} (pk header)`);
      assertLocalError(r2, 400, detail, `${query} (pk header)`);
      assertClean();
    });
  }

  test('refused: malformed query bodies -> 400 query.bad_body, 0 bytes upstream', T, async () => {
    for (const body of ['{"query": 5}', '[]', '{"query":"SELECT * FROM c","parameters":{}}', '{"query":"SELECT * FROM c WHERE c.ssn = @s","parameters":[{"name":"@s","value":"SSN-AAA-001"},{"name":"@S","value":"x"}]}']) {
      const r = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body }), body);
      assertLocalError(r, 400, 'query.bad_body', body);
    }
    assertClean();
  });

  test('supported shapes on unprotected paths only are forwarded byte for byte', T, async () => {
    const m = front.mark();
    const body = '{"query":"SELECT * FROM c WHERE c.city = @c AND c.age >= 30 ORDER BY c._ts","parameters":[{"name":"@c","value":"Rome"}]}';
    const r = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body });
    assert.equal(r.status, 200);
    const sent = front.since(m).requests.find((x) => x.url === DOCS);
    assert.equal(sent.bodyText, body, 'unchanged');
    const want = await rawDirect(stack, 'POST', PLAIN_DOCS, { headers: queryHeaders(), body });
    assert.deepStrictEqual(sortedIds(r.json.Documents), sortedIds(want.json.Documents));
    for (const row of r.json.Documents) assert.deepStrictEqual(strip(row), byId.get(row.id));
    assertClean();
  });

  test('every upstream request came through cosmoseal, signed with the account key; no canary leaked', () => {
    front.assertNoBypass();
    assertClean();
  });
});
