// Field encryption end to end: the real @azure/cosmos SDK (client key) through the real cosmoseal
// binary, with a field policy and a keyring made by `cosmoseal keygen`, to cosmosdb-server behind
// the signature-checking front. Every protected plaintext is a canary: the front fails
// assertClean() if one ever reaches the upstream (request line, headers or body, in any of its
// escaped forms). Every write is checked against what is REALLY stored (read directly with the
// account key, bypassing cosmoseal): envelopes ("csx1:...") at protected paths, everything else
// exactly as the app wrote it.
//
// Containers (database shop):
//   customers        partition key /tenant (unprotected); /ssn and /email deterministic,
//                    /address randomized (whole subtree), /cards/*/number randomized
//   accounts         partition key /accountNo, itself protected (deterministic); configured in
//                    the policy (partition_key: /accountNo)
//   accountsLearned  the same, partition key NOT configured: cosmoseal learns it from the
//                    container metadata the SDK reads through it
//   accountsFetched  the same, container created directly (never seen by cosmoseal): cosmoseal
//                    has to read the metadata itself before forwarding
//   tamper           like customers; documents are altered directly in the store
//   plain            no policy (control): everything passes through unchanged
//
// cosmosdb-server limitations met here and how the tests adapt (see the notes at each test):
//   * no route for PUT with x-ms-documentdb-is-upsert (400 "no route"): the test checks that the
//     body cosmoseal forwarded was encrypted, and that the server's answer comes back unchanged;
//   * it lower-cases patch conditions that start with exactly "from c where" (which would break
//     a case-sensitive envelope literal): the conditions here are written "FROM c  WHERE ..."
//     (two spaces), which the server evaluates verbatim (a mixed-case control proves it);
//   * batch/bulk ops without their own partitionKey fail with 500 in the server (Read, Replace,
//     Delete): every op here carries partitionKey;
//   * bulk with a Patch op is refused by the server (400): checked with a raw request that the
//     op reached it encrypted;
//   * no stored procedures (400 "no route") on the unprotected control.

import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { cosmos } from './lib/deps.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { rawExchange, buildRequest } from './lib/raw.mjs';
import { withoutSystemProperties as strip } from './lib/cosmos-json.mjs';
import {
  makeKeyring,
  isEnvelope,
  envelopeBytes,
  envelopeString,
  envelopeKeyId,
  envelopeAlgorithm,
  assertStoredEncrypted,
  envelopesIn,
  rawVia,
  queryHeaders,
  nothingUpstream,
  addCanaries,
  canaryCandidates,
  logLines,
} from './lib/enc.mjs';

const { ChangeFeedStartFrom, BulkOperationType } = cosmos;
const T = { timeout: 60000 };

const CUSTOMER_FIELDS = [
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
  { path: '/address', mode: 'randomized', key: 'pii' },
  { path: '/cards/*/number', mode: 'randomized', key: 'pii' },
  { path: '/email', mode: 'deterministic', key: 'pii' },
];
const ACCOUNT_FIELDS = [
  { path: '/accountNo', mode: 'deterministic', key: 'pii' },
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
];
const POLICIES = [
  { database: 'shop', container: 'customers', partition_key: '/tenant', fields: CUSTOMER_FIELDS },
  { database: 'shop', container: 'accounts', partition_key: '/accountNo', fields: ACCOUNT_FIELDS },
  { database: 'shop', container: 'accountsLearned', fields: ACCOUNT_FIELDS },
  { database: 'shop', container: 'accountsFetched', fields: ACCOUNT_FIELDS },
  { database: 'shop', container: 'tamper', partition_key: '/tenant', fields: CUSTOMER_FIELDS },
];
const DOCS = '/dbs/shop/colls/customers/docs';
const JSON_HEADERS = { 'content-type': 'application/json' };
const pkHeader = (v) => ({ 'x-ms-documentdb-partitionkey': JSON.stringify([v]) });

/** A customer document; every protected value is distinctive (and registered as a canary). */
function customer(id, tenant, n, extra = {}) {
  return {
    id,
    tenant,
    name: `Name ${n}`,
    tier: n % 3,
    ssn: `SSN-${n}-0${n}`,
    email: `user${n}@mail.test`,
    address: { street: `${n} Secret Street`, city: `City-${n}x`, zip: `ZIP-${n}-Q` },
    cards: [
      { brand: 'visa', number: `4111-0000-${String(n).padStart(4, '0')}`, exp: '12/29' },
      { brand: 'mc', number: `5500-0000-${String(n).padStart(4, '0')}`, exp: '03/28' },
    ],
    ...extra,
  };
}

/** The protected plaintexts of a document of this policy (canary candidates). */
function protectedValues(doc) {
  return canaryCandidates([doc.ssn, doc.email, doc.address, (doc.cards || []).map((c) => c.number)]);
}

describe('encryption: field policy end to end (SDK -> cosmoseal -> front -> cosmosdb-server)', () => {
  let stack;
  let client;
  let direct;
  let front;
  const c = {}; // containers through cosmoseal
  const d = {}; // containers directly

  const readDirect = async (name, id, pk) => {
    const r = await d[name].item(id, pk).read();
    return r.resource;
  };
  /** The last request cosmoseal sent upstream that matches. */
  const lastUpstream = (pred) => [...front.proxiedRequests].reverse().find(pred);
  const canaries = (...docs) => addCanaries(front, docs.flatMap(protectedValues));

  before(async () => {
    const dir = makeWorkDir('encryption');
    const keys = await makeKeyring(dir, ['pii']);
    stack = await startStack({
      dir,
      keys,
      policies: POLICIES,
      clients: [{ name: 'app' }, { name: 'rid', allow: [{ database: 'AbCdEA==', containers: ['*'], access: 'read-write' }] }],
    });
    front = stack.front;
    client = stack.client('app');
    direct = stack.direct();
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    for (const [name, pk] of [['customers', '/tenant'], ['accounts', '/accountNo'], ['accountsLearned', '/accountNo'], ['tamper', '/tenant'], ['plain', '/tenant']]) {
      c[name] = (await database.containers.createIfNotExists({ id: name, partitionKey: { paths: [pk] } })).container;
    }
    // Created behind cosmoseal's back: it has never seen this container's metadata.
    await direct.database('shop').containers.create({ id: 'accountsFetched', partitionKey: { paths: ['/accountNo'] } });
    c.accountsFetched = client.database('shop').container('accountsFetched');
    for (const name of Object.keys(c)) d[name] = direct.database('shop').container(name);
  });
  after(async () => {
    await stack?.stop();
  });

  // ---- writes ---------------------------------------------------------------------------------

  test('create: envelopes at every protected path, the rest stored as written, the response decrypted', T, async () => {
    const a = customer('cr-1', 't1', 1);
    const b = customer('cr-2', 't1', 2, { ssn: a.ssn, address: a.address, cards: [{ brand: 'visa', number: a.cards[0].number }] });
    canaries(a, b);
    const ra = await c.customers.items.create(a);
    assert.equal(ra.statusCode, 201);
    assert.deepStrictEqual(strip(ra.resource), a, 'create response is the decrypted document');
    const rb = await c.customers.items.create(b);
    assert.deepStrictEqual(strip(rb.resource), b);

    const sa = assertStoredEncrypted(await readDirect('customers', a.id, a.tenant), a, CUSTOMER_FIELDS, 'cr-1');
    const sb = assertStoredEncrypted(await readDirect('customers', b.id, b.tenant), b, CUSTOMER_FIELDS, 'cr-2');
    assert.equal(sa.get('/ssn'), sb.get('/ssn'), 'deterministic: the same ssn gives the same envelope');
    assert.notEqual(sa.get('/email'), sb.get('/email'), 'deterministic: different emails give different envelopes');
    assert.notEqual(sa.get('/address'), sb.get('/address'), 'randomized: the same address gives different envelopes');
    assert.notEqual(sa.get('/cards/0/number'), sb.get('/cards/0/number'), 'randomized: the same card number gives different envelopes');
    assert.equal(envelopeKeyId(sa.get('/ssn')), envelopeKeyId(sa.get('/address')), 'one key (pii) for all fields');
    // What went upstream for the create: the envelopes, nothing else.
    const sent = lastUpstream((r) => r.method === 'POST' && r.url === DOCS && r.bodyJson?.id === 'cr-2');
    assert.ok(sent, 'the create reached the upstream');
    assert.deepStrictEqual(sent.bodyJson.ssn, sb.get('/ssn'));
    assert.equal(sent.headers['x-ms-documentdb-partitionkey'], '["t1"]', 'unprotected partition key header untouched');

    // Point read through cosmoseal.
    const { resource } = await c.customers.item(a.id, a.tenant).read();
    assert.deepStrictEqual(strip(resource), a);
    front.assertClean();
  });

  test('create through the SDK: protected values of every JSON type round-trip', T, async () => {
    const doc = {
      id: 'cr-types',
      tenant: 't1',
      ssn: 12345.5,
      email: true,
      address: { nested: { deep: ['TYPES-SECRET-1', 0.30000000000000004, null, false, {}, []] }, 'k\u00e9y-x': 'v\u00e9-SECRET' },
      cards: [{ number: null }, { number: 1e21 }, { number: ['CARD-ARR-SECRET'] }, { number: { o: 'CARD-OBJ-SECRET' } }, { brand: 'no number' }],
    };
    addCanaries(front, ['TYPES-SECRET-1', 'v\u00e9-SECRET', 'CARD-ARR-SECRET', 'CARD-OBJ-SECRET', '0.30000000000000004', 'k\u00e9y-x']);
    const r = await c.customers.items.create(doc);
    assert.deepStrictEqual(strip(r.resource), doc);
    assertStoredEncrypted(await readDirect('customers', doc.id, doc.tenant), doc, CUSTOMER_FIELDS, 'cr-types');
    const { resource } = await c.customers.item(doc.id, doc.tenant).read();
    assert.deepStrictEqual(strip(resource), doc);
    front.assertClean();
  });

  test('upsert (POST, insert then update) and replace (PUT): stored encrypted, responses decrypted', T, async () => {
    const v1 = customer('up-1', 't2', 11);
    const v2 = customer('up-1', 't2', 12, { id: 'up-1', tenant: 't2' });
    const v3 = customer('up-1', 't2', 13, { id: 'up-1', tenant: 't2' });
    canaries(v1, v2, v3);
    const r1 = await c.customers.items.upsert(v1);
    assert.equal(r1.statusCode, 201, 'upsert of a new document creates it');
    assert.deepStrictEqual(strip(r1.resource), v1);
    assertStoredEncrypted(await readDirect('customers', 'up-1', 't2'), v1, CUSTOMER_FIELDS, 'upsert insert');
    const r2 = await c.customers.items.upsert(v2);
    assert.equal(r2.statusCode, 200, 'upsert of an existing document replaces it');
    assert.deepStrictEqual(strip(r2.resource), v2);
    assertStoredEncrypted(await readDirect('customers', 'up-1', 't2'), v2, CUSTOMER_FIELDS, 'upsert update');
    const r3 = await c.customers.item('up-1', 't2').replace(v3);
    assert.equal(r3.statusCode, 200);
    assert.deepStrictEqual(strip(r3.resource), v3);
    assertStoredEncrypted(await readDirect('customers', 'up-1', 't2'), v3, CUSTOMER_FIELDS, 'replace');
    const sent = lastUpstream((r) => r.method === 'PUT' && r.url === `${DOCS}/up-1`);
    assert.ok(sent && isEnvelope(sent.bodyJson.ssn), 'the replace body went upstream encrypted');
    front.assertClean();
  });

  test('upsert via PUT (raw; the JS SDK has no PUT upsert): body encrypted before the upstream', T, async () => {
    // cosmosdb-server has no route for PUT + x-ms-documentdb-is-upsert (it answers 400 "no
    // route"); what matters here is what cosmoseal forwarded, and that the answer passes through.
    const doc = customer('put-up-1', 't2', 14);
    canaries(doc);
    const r = await rawVia(stack, 'PUT', `${DOCS}/put-up-1`, {
      headers: { ...JSON_HEADERS, ...pkHeader('t2'), 'x-ms-documentdb-is-upsert': 'true' },
      body: JSON.stringify(doc),
    });
    const sent = lastUpstream((x) => x.method === 'PUT' && x.url === `${DOCS}/put-up-1`);
    assert.ok(sent, `cosmoseal forwarded the PUT upsert (got ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)})`);
    assert.equal(sent.headers['x-ms-documentdb-is-upsert'], 'true');
    // The forwarded body is the document with envelopes at the protected paths.
    assertStoredEncrypted(sent.bodyJson, doc, CUSTOMER_FIELDS, 'PUT upsert body as forwarded');
    assert.equal(r.status, sent.response.status, 'the server answer passes through');
    front.assertClean();
  });

  test('patch (SDK array form): set/add/replace on protected paths, set /address, add /cards/-, remove', T, async () => {
    const doc = customer('pa-1', 't3', 21);
    const newSsn = 'SSN-PATCHED-21';
    const newEmail = 'patched21@mail.test';
    const newAddress = { street: 'Patched Street 9', city: 'Patch-City', zip: 'ZIP-PATCH' };
    const newCard = { brand: 'amex', number: '3782-8224-6310-005', exp: '01/30' };
    canaries(doc);
    addCanaries(front, [newSsn, newEmail, 'Patched Street 9', 'Patch-City', 'ZIP-PATCH', newCard.number]);
    await c.customers.items.create(doc);
    const r = await c.customers.item('pa-1', 't3').patch([
      { op: 'set', path: '/ssn', value: newSsn },
      { op: 'replace', path: '/email', value: newEmail },
      { op: 'set', path: '/address', value: newAddress },
      { op: 'add', path: '/cards/-', value: newCard },
      { op: 'remove', path: '/cards/0' },
      { op: 'set', path: '/tier', value: 7 },
    ]);
    const expected = { ...doc, ssn: newSsn, email: newEmail, address: newAddress, cards: [doc.cards[1], newCard], tier: 7 };
    assert.equal(r.statusCode, 200);
    assert.deepStrictEqual(strip(r.resource), expected, 'the patch response is the decrypted, patched document');
    assertStoredEncrypted(await readDirect('customers', 'pa-1', 't3'), expected, CUSTOMER_FIELDS, 'after patch');
    const sent = lastUpstream((x) => x.method === 'PATCH' && x.url === `${DOCS}/pa-1`);
    const ops = sent.bodyJson;
    assert.ok(Array.isArray(ops), 'the SDK sends the array form');
    assert.ok(isEnvelope(ops[0].value) && isEnvelope(ops[1].value) && isEnvelope(ops[2].value), 'set/replace values sealed');
    assert.equal(ops[3].value.brand, 'amex', 'add /cards/-: the object is walked; unprotected members stay');
    assert.ok(isEnvelope(ops[3].value.number), 'add /cards/-: its number is sealed');
    assert.deepStrictEqual(ops[4], { op: 'remove', path: '/cards/0' });
    assert.deepStrictEqual(ops[5], { op: 'set', path: '/tier', value: 7 });

    // add on a protected path (member absent before), then remove it.
    const r2 = await c.customers.item('pa-1', 't3').patch([{ op: 'remove', path: '/email' }]);
    assert.equal(r2.resource.email, undefined);
    const r3 = await c.customers.item('pa-1', 't3').patch([{ op: 'add', path: '/email', value: newEmail }]);
    assert.equal(r3.resource.email, newEmail);
    // set on an array element that CONTAINS a protected path, and directly on /cards/1/number.
    const card0 = { brand: 'disc', number: '6011-0000-0000-0004', exp: '02/31' };
    addCanaries(front, [card0.number, '6011-1111-1111-1117']);
    const r4 = await c.customers.item('pa-1', 't3').patch([
      { op: 'set', path: '/cards/0', value: card0 },
      { op: 'replace', path: '/cards/1/number', value: '6011-1111-1111-1117' },
    ]);
    const final = { ...expected, email: newEmail, cards: [card0, { ...newCard, number: '6011-1111-1111-1117' }] };
    assert.deepStrictEqual(strip(r4.resource), final);
    const sent4 = lastUpstream((x) => x.method === 'PATCH' && x.url === `${DOCS}/pa-1`).bodyJson;
    assert.ok(isEnvelope(sent4[0].value.number) && sent4[0].value.brand === 'disc' && isEnvelope(sent4[1].value));
    const stored = await readDirect('customers', 'pa-1', 't3');
    assertStoredEncrypted(stored, final, CUSTOMER_FIELDS, 'after add');
    front.assertClean();
  });

  test('patch {operations, condition} (raw): an unprotected condition passes; a range on a protected field is refused', T, async () => {
    const doc = customer('pc-1', 't3', 22, { name: 'Ada Lovelace', n: 0 });
    canaries(doc);
    await c.customers.items.create(doc);
    const patch = (condition, value, extra = {}) =>
      rawVia(stack, 'PATCH', `${DOCS}/pc-1`, {
        headers: { ...JSON_HEADERS, ...pkHeader('t3') },
        body: JSON.stringify({ operations: [{ op: 'set', path: '/n', value }, ...(extra.ops || [])], condition }),
      });
    // Control: mixed-case literal through the two-space form (cosmosdb-server lower-cases
    // conditions that start with exactly "from c where").
    const ok = await patch("FROM c  WHERE c.name = 'Ada Lovelace'", 1, { ops: [{ op: 'set', path: '/ssn', value: 'SSN-COND-22' }] });
    addCanaries(front, ['SSN-COND-22']);
    assert.equal(ok.status, 200, `unprotected condition: ${ok.text.slice(0, 300)}`);
    assert.equal(ok.json.n, 1);
    assert.equal(ok.json.ssn, 'SSN-COND-22', 'the patch response is decrypted');
    const no = await patch("FROM c  WHERE c.name = 'Someone Else'", 2);
    assert.equal(no.status, 412, `false unprotected condition: ${no.text.slice(0, 300)}`);
    assert.equal(no.headers['x-cosmoseal-detail'], undefined, '412 comes from the server');

    for (const cond of ["FROM c  WHERE c.ssn > 'A'", "FROM c WHERE c.ssn BETWEEN 'A' AND 'Z'", "FROM c WHERE STARTSWITH(c.email, 'user')"]) {
      const r = await nothingUpstream(front, () => patch(cond, 3), cond);
      assert.equal(r.status, 400, `${cond}: ${r.text.slice(0, 300)}`);
      assert.ok(
        ['query.range_on_protected', 'query.function_on_protected', 'policy.patch_condition_protected'].includes(r.headers['x-cosmoseal-detail']),
        `${cond}: detail ${r.headers['x-cosmoseal-detail']}`,
      );
      assertLocalError(r, 400, r.headers['x-cosmoseal-detail'], cond);
    }
    // Randomized fields can never be compared.
    const rnd = await nothingUpstream(front, () => patch("FROM c  WHERE c.address = 'x'", 3), 'randomized');
    assert.equal(rnd.status, 400);
    assert.ok(['query.predicate_on_randomized', 'policy.patch_condition_protected'].includes(rnd.headers['x-cosmoseal-detail']), rnd.text);
    const stored = await readDirect('customers', 'pc-1', 't3');
    assertStoredEncrypted(stored, { ...doc, n: 1, ssn: 'SSN-COND-22' }, CUSTOMER_FIELDS, 'only the first patch applied');
    front.assertClean();
  });

  test('patch {operations, condition} (raw): equality on a deterministic field is rewritten and evaluated by the server', T, async () => {
    // docs/QUERIES.md ("Rewritten": Patch condition `FROM c WHERE c.ssn = '1'`).
    const doc = customer('pc-2', 't3', 23, { n: 0 });
    canaries(doc);
    await c.customers.items.create(doc);
    const patch = (condition, value) =>
      rawVia(stack, 'PATCH', `${DOCS}/pc-2`, {
        headers: { ...JSON_HEADERS, ...pkHeader('t3') },
        body: JSON.stringify({ operations: [{ op: 'set', path: '/n', value }], condition }),
      });
    const yes = await patch(`FROM c  WHERE c.ssn = '${doc.ssn}'`, 1);
    if (yes.status !== 200) await sleep(100); // let the log line land
    assert.equal(
      yes.status,
      200,
      `condition c.ssn = <the document's ssn> must be accepted (rewritten) and hold: got ${yes.status} ` +
        `${yes.headers['x-cosmoseal-detail'] ?? ''} ${yes.text.slice(0, 300)}\ncosmoseal log: ${logLines(stack, 'patch_condition', 1)}`,
    );
    assert.equal(yes.json.n, 1);
    const sent = lastUpstream((x) => x.method === 'PATCH' && x.url === `${DOCS}/pc-2`);
    assert.ok(sent.bodyJson.condition.includes('csx1:'), `the condition literal went upstream as an envelope: ${sent.bodyJson.condition}`);
    const no = await patch("FROM c  WHERE c.ssn = 'SSN-NOT-THIS-ONE'", 2);
    addCanaries(front, ['SSN-NOT-THIS-ONE']);
    assert.equal(no.status, 412, `a false condition on ssn: ${no.status} ${no.text.slice(0, 300)}`);
    const inList = await patch(`FROM c  WHERE c.email IN ('x@mail.test', '${doc.email}')`, 3);
    assert.equal(inList.status, 200, `IN on email: ${inList.status} ${inList.text.slice(0, 300)}`);
    assert.equal((await readDirect('customers', 'pc-2', 't3')).n, 3);
    front.assertClean();
  });

  test('bulk (executeBulkOperations and the deprecated bulk()): Create/Upsert/Replace/Delete/Read, results decrypted', T, async () => {
    const base = [customer('bk-1', 't4', 31), customer('bk-2', 't4', 32), customer('bk-3', 't5', 33)];
    const created = customer('bk-4', 't4', 34);
    const upserted = customer('bk-5', 't5', 35);
    const replaced = customer('bk-1', 't4', 36, { id: 'bk-1', tenant: 't4' });
    canaries(...base, created, upserted, replaced);
    for (const x of base) await c.customers.items.create(x);
    const res = await c.customers.items.executeBulkOperations([
      { operationType: BulkOperationType.Create, partitionKey: 't4', resourceBody: created },
      { operationType: BulkOperationType.Upsert, partitionKey: 't5', resourceBody: upserted },
      { operationType: BulkOperationType.Replace, partitionKey: 't4', id: 'bk-1', resourceBody: replaced },
      { operationType: BulkOperationType.Delete, partitionKey: 't4', id: 'bk-2' },
      { operationType: BulkOperationType.Read, partitionKey: 't5', id: 'bk-3' },
    ]);
    const codes = res.map((x) => x.response?.statusCode ?? x.error?.message);
    assert.deepEqual(codes, [201, 201, 200, 204, 200], `bulk results ${JSON.stringify(codes)}`);
    assert.deepStrictEqual(strip(res[0].response.resourceBody), created);
    assert.deepStrictEqual(strip(res[1].response.resourceBody), upserted);
    assert.deepStrictEqual(strip(res[2].response.resourceBody), replaced);
    assert.deepStrictEqual(strip(res[4].response.resourceBody), base[2], 'bulk Read result decrypted');
    assertStoredEncrypted(await readDirect('customers', 'bk-4', 't4'), created, CUSTOMER_FIELDS, 'bulk create');
    assertStoredEncrypted(await readDirect('customers', 'bk-5', 't5'), upserted, CUSTOMER_FIELDS, 'bulk upsert');
    assertStoredEncrypted(await readDirect('customers', 'bk-1', 't4'), replaced, CUSTOMER_FIELDS, 'bulk replace');
    assert.equal(await readDirect('customers', 'bk-2', 't4'), undefined, 'bulk delete');
    const sent = lastUpstream((x) => x.method === 'POST' && x.url === DOCS && x.headers['x-ms-cosmos-is-batch-request'] && Array.isArray(x.bodyJson));
    assert.ok(sent, 'a bulk request went upstream');
    for (const op of sent.bodyJson) if (op.resourceBody) assert.ok(isEnvelope(op.resourceBody.ssn), `bulk ${op.operationType}: ssn sealed`);

    // The deprecated bulk() API (another request shape in the SDK).
    const more = customer('bk-6', 't4', 37);
    canaries(more);
    const old = await c.customers.items.bulk([
      { operationType: BulkOperationType.Create, resourceBody: more },
      { operationType: BulkOperationType.Read, id: 'bk-4', partitionKey: 't4' },
    ]);
    assert.deepEqual(old.map((x) => x.statusCode), [201, 200]);
    assert.deepStrictEqual(strip(old[0].resourceBody), more);
    assert.deepStrictEqual(strip(old[1].resourceBody), created);
    assertStoredEncrypted(await readDirect('customers', 'bk-6', 't4'), more, CUSTOMER_FIELDS, 'bulk() create');
    front.assertClean();
  });

  test('bulk with a Patch op (raw): the op reaches the server encrypted (the server refuses Patch in bulk)', T, async () => {
    const doc = customer('bkp-1', 't4', 38);
    canaries(doc);
    addCanaries(front, ['SSN-BULK-PATCH-38']);
    await c.customers.items.create(doc);
    const body = [{ operationType: 'Patch', id: 'bkp-1', partitionKey: '["t4"]', resourceBody: { operations: [{ op: 'set', path: '/ssn', value: 'SSN-BULK-PATCH-38' }] } }];
    const r = await rawVia(stack, 'POST', DOCS, {
      headers: {
        ...JSON_HEADERS,
        'x-ms-cosmos-is-batch-request': 'true',
        'x-ms-cosmos-batch-atomic': 'false',
        'x-ms-cosmos-batch-continue-on-error': 'true',
        'x-ms-documentdb-partitionkeyrangeid': '0',
      },
      body: JSON.stringify(body),
    });
    const sent = lastUpstream((x) => x.method === 'POST' && x.url === DOCS && Array.isArray(x.bodyJson) && x.bodyJson[0]?.id === 'bkp-1');
    assert.ok(sent, `the bulk request was forwarded (got ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)})`);
    assert.ok(isEnvelope(sent.bodyJson[0].resourceBody.operations[0].value), 'the Patch op value was sealed');
    assert.equal(sent.bodyJson[0].partitionKey, '["t4"]', 'unprotected per-op partition key untouched');
    assert.equal(r.status, 400, 'cosmosdb-server refuses Patch in bulk');
    assert.equal(r.headers['x-cosmoseal-detail'], undefined);
    front.assertClean();
  });

  test('transactional batch (SDK): Create/Upsert/Replace/Read/Delete with per-op partitionKey; results decrypted', T, async () => {
    // cosmosdb-server answers 500 for an Upsert/Read/Replace/Delete op without its own
    // partitionKey (it does not fall back to the header), so every such op carries one.
    const pre = customer('bt-0', 't6', 40);
    const a = customer('bt-1', 't6', 41);
    const b = customer('bt-2', 't6', 42);
    const b2 = customer('bt-2', 't6', 43, { id: 'bt-2', tenant: 't6' });
    canaries(pre, a, b, b2);
    await c.customers.items.create(pre);
    const { result } = await c.customers.items.batch(
      [
        { operationType: 'Create', resourceBody: a },
        { operationType: 'Upsert', partitionKey: 't6', resourceBody: b },
        { operationType: 'Replace', id: 'bt-2', partitionKey: 't6', resourceBody: b2 },
        { operationType: 'Read', id: 'bt-0', partitionKey: 't6' },
        { operationType: 'Delete', id: 'bt-0', partitionKey: 't6' },
      ],
      't6',
    );
    assert.deepEqual(result.map((x) => x.statusCode), [201, 201, 200, 200, 204], JSON.stringify(result.map((x) => x.statusCode)));
    assert.deepStrictEqual(strip(result[0].resourceBody), a);
    assert.deepStrictEqual(strip(result[1].resourceBody), b);
    assert.deepStrictEqual(strip(result[2].resourceBody), b2);
    assert.deepStrictEqual(strip(result[3].resourceBody), pre, 'batch Read result decrypted');
    assertStoredEncrypted(await readDirect('customers', 'bt-1', 't6'), a, CUSTOMER_FIELDS, 'batch create');
    assertStoredEncrypted(await readDirect('customers', 'bt-2', 't6'), b2, CUSTOMER_FIELDS, 'batch replace');
    assert.equal(await readDirect('customers', 'bt-0', 't6'), undefined);
    const sent = lastUpstream((x) => x.headers['x-ms-cosmos-batch-atomic'] === 'true' && Array.isArray(x.bodyJson));
    assert.ok(sent, 'an atomic batch went upstream');
    assert.equal(sent.headers['x-ms-documentdb-partitionkey'], '["t6"]');
    front.assertClean();
  });

  // ---- reads ----------------------------------------------------------------------------------

  describe('reads', () => {
    const docs = [customer('rd-1', 'r1', 51), customer('rd-2', 'r1', 52), customer('rd-3', 'r2', 53), customer('rd-4', 'r2', 54), customer('rd-5', 'r3', 55)];
    const byId = new Map(docs.map((x) => [x.id, x]));
    before(async () => {
      canaries(...docs);
      for (const x of docs) await c.customers.items.create(x);
    });

    test('point reads, readAll() and SELECT * come back decrypted', T, async () => {
      for (const x of docs) assert.deepStrictEqual(strip((await c.customers.item(x.id, x.tenant).read()).resource), x);
      const { resources: all } = await c.customers.items.readAll().fetchAll();
      const mine = all.filter((r) => byId.has(r.id));
      assert.equal(mine.length, docs.length);
      for (const r of mine) assert.deepStrictEqual(strip(r), byId.get(r.id));
      assert.equal(envelopesIn(all).length, 0, 'no envelope left in readAll results');
      const { resources: star } = await c.customers.items.query('SELECT * FROM c WHERE c.tenant = "r2"').fetchAll();
      assert.deepStrictEqual(star.map(strip).sort((p, q) => p.id.localeCompare(q.id)), [byId.get('rd-3'), byId.get('rd-4')]);
      const { resources: one } = await c.customers.items.query('SELECT * FROM c', { partitionKey: 'r3' }).fetchAll();
      assert.ok(one.some((r) => r.id === 'rd-5' && r.ssn === byId.get('rd-5').ssn));
      front.assertClean();
    });

    test('read feed (raw GET .../docs) with x-ms-max-item-count pagination: every page decrypted', T, async () => {
      const seen = [];
      let continuation;
      let pages = 0;
      do {
        const r = await rawVia(stack, 'GET', DOCS, { headers: { 'x-ms-max-item-count': '3', ...(continuation ? { 'x-ms-continuation': continuation } : {}) } });
        assert.equal(r.status, 200, r.text.slice(0, 300));
        assert.ok(!r.text.includes('csx1:'), `page ${pages} still holds envelopes`);
        assert.ok(r.json.Documents.length <= 3);
        seen.push(...r.json.Documents);
        continuation = r.headers['x-ms-continuation'];
        pages++;
      } while (continuation && pages < 100);
      assert.ok(pages >= 2, `pagination used (${pages} pages)`);
      for (const x of docs) assert.deepStrictEqual(strip(seen.find((r) => r.id === x.id)), x, `feed has ${x.id}`);
      front.assertClean();
    });

    test('change feed (getChangeFeedIterator): documents decrypted', T, async () => {
      const it = c.customers.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
      const got = [];
      for (let i = 0; i < 10 && it.hasMoreResults; i++) {
        const page = await it.readNext();
        if (page.statusCode === 304) break;
        got.push(...page.result);
      }
      for (const x of docs) assert.deepStrictEqual(strip(got.find((r) => r.id === x.id)), x, `change feed has ${x.id}`);
      assert.equal(envelopesIn(got).length, 0, 'no envelope left in the change feed');
      // One partition.
      const it2 = c.customers.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning('r1') });
      const p = await it2.readNext();
      assert.ok(p.result.some((r) => r.id === 'rd-1' && r.ssn === byId.get('rd-1').ssn));
      assert.equal(envelopesIn(p.result).length, 0);
      front.assertClean();
    });

    test('projections: SELECT c.ssn, c.address; SELECT VALUE c.ssn; aliases and constructors', T, async () => {
      const q = async (query) => (await c.customers.items.query({ query, parameters: [{ name: '@t', value: 'r1' }] }).fetchAll()).resources;
      const p1 = await q('SELECT c.id, c.ssn, c.address FROM c WHERE c.tenant = @t');
      assert.deepStrictEqual(
        p1.sort((a, b) => a.id.localeCompare(b.id)),
        ['rd-1', 'rd-2'].map((id) => ({ id, ssn: byId.get(id).ssn, address: byId.get(id).address })),
      );
      const p2 = await q('SELECT VALUE c.ssn FROM c WHERE c.tenant = @t');
      assert.deepStrictEqual(p2.sort(), [byId.get('rd-1').ssn, byId.get('rd-2').ssn].sort());
      const p3 = await q('SELECT {"s": c.ssn, "e": [c.email]} AS x, k.number FROM c JOIN k IN c.cards WHERE c.tenant = @t');
      assert.equal(p3.length, 4);
      for (const r of p3) {
        const src = docs.find((x) => x.ssn === r.x.s);
        assert.ok(src, `decrypted ssn in a constructor: ${JSON.stringify(r)}`);
        assert.deepStrictEqual(r.x.e, [src.email]);
        assert.ok(src.cards.some((k) => k.number === r.number), 'JOIN alias projection decrypted');
      }
      assert.equal(envelopesIn([p1, p2, p3]).length, 0);
      front.assertClean();
    });

    test('projection of a path inside a protected subtree is refused (query.inside_protected), 0 bytes upstream', T, async () => {
      addCanaries(front, ['City-51x']);
      for (const query of ['SELECT c.ssn, c.address.city FROM c', "SELECT * FROM c WHERE c.address.city = 'City-51x'"]) {
        const r = await nothingUpstream(front, () => rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body: JSON.stringify({ query }) }), query);
        assertLocalError(r, 400, 'query.inside_protected', query);
        await nothingUpstream(
          front,
          () => assert.rejects(c.customers.items.query(query).fetchAll(), (e) => e.code === 400 && /query\.inside_protected/.test(e.message)),
          `${query} (SDK)`,
        );
      }
      front.assertClean();
    });

    test('SELECT VALUE c and paged SDK queries (maxItemCount 2) come back decrypted; a 404 passes through', T, async () => {
      const { resources: vals } = await c.customers.items.query('SELECT VALUE c FROM c WHERE c.tenant = "r1"').fetchAll();
      assert.deepStrictEqual(vals.map(strip).sort((p, q) => p.id.localeCompare(q.id)), [byId.get('rd-1'), byId.get('rd-2')]);
      const it = c.customers.items.query('SELECT * FROM c WHERE STARTSWITH(c.id, "rd-")', { maxItemCount: 2 });
      const got = [];
      let pages = 0;
      while (it.hasMoreResults() && pages < 50) {
        const p = await it.fetchNext();
        got.push(...p.resources);
        pages++;
      }
      assert.ok(pages >= 3, `paged (${pages} pages)`);
      assert.deepStrictEqual(got.map(strip).sort((p, q) => p.id.localeCompare(q.id)), docs);
      const nf = await c.customers.item('no-such-doc', 'r1').read();
      assert.equal(nf.statusCode, 404);
      front.assertClean();
    });

    test('ORDER BY an unprotected field: plain SDK query and the SDK wrapper shape (orderByItems/payload)', T, async () => {
      const { resources } = await c.customers.items.query('SELECT * FROM c WHERE c.tenant IN ("r1", "r2") ORDER BY c.name DESC').fetchAll();
      assert.deepStrictEqual(resources.map((r) => r.id), ['rd-4', 'rd-3', 'rd-2', 'rd-1']);
      for (const r of resources) assert.deepStrictEqual(strip(r), byId.get(r.id));
      // The shape the SDK sends per partition range for a cross-partition ORDER BY (rows wrapped
      // in payload, sort values in orderByItems): sent raw, since cosmosdb-server never asks the
      // SDK to use a query plan.
      const query =
        'SELECT c._rid, [{"item": c.name}] AS orderByItems, c AS payload FROM c WHERE c.tenant IN ("r1", "r2") ORDER BY c.name';
      const r = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body: JSON.stringify({ query }) });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      const rows = r.json.Documents;
      assert.deepStrictEqual(rows.map((x) => x.payload.id), ['rd-1', 'rd-2', 'rd-3', 'rd-4']);
      for (const x of rows) {
        assert.deepStrictEqual(strip(x.payload), byId.get(x.payload.id), 'payload decrypted');
        assert.equal(x.orderByItems[0].item, byId.get(x.payload.id).name);
      }
      front.assertClean();
    });
  });

  test('concurrency: 24 parallel creates and reads over several connections (per-worker ciphers agree)', T, async () => {
    const docs = Array.from({ length: 24 }, (_, i) => customer(`par-${i}`, `tp${i % 3}`, 100 + i, { ssn: `SSN-PAR-${i % 4}` }));
    canaries(...docs);
    const created = await Promise.all(docs.map((x) => c.customers.items.create(x)));
    created.forEach((r, i) => assert.deepStrictEqual(strip(r.resource), docs[i]));
    const reads = await Promise.all(docs.map((x) => c.customers.item(x.id, x.tenant).read()));
    reads.forEach((r, i) => assert.deepStrictEqual(strip(r.resource), docs[i]));
    const stored = await Promise.all(docs.map((x) => readDirect('customers', x.id, x.tenant)));
    const envBySsn = new Map();
    stored.forEach((st, i) => {
      const env = assertStoredEncrypted(st, docs[i], CUSTOMER_FIELDS, docs[i].id).get('/ssn');
      if (envBySsn.has(docs[i].ssn)) assert.equal(env, envBySsn.get(docs[i].ssn), 'deterministic on every worker');
      envBySsn.set(docs[i].ssn, env);
    });
    front.assertClean();
  });

  // ---- type and byte fidelity -----------------------------------------------------------------

  test('type and byte fidelity: raw tokens of every JSON type at randomized and deterministic paths', T, async () => {
    const tokens = [
      '"S-caf\\u00e9 \\"q\\" \\n"',
      '""',
      '0.30000000000000004',
      '12345678901234567890',
      '-1.5E+10',
      '1.0',
      'true',
      'false',
      'null',
      '{}',
      '[]',
      '{ "k-nest" : { "deep": [1, "NEST-SECRET-1", 2.50, null] }, "e": "\\u00e9\\/" }',
      '[ "ARR-SECRET-1" , 1e3, -0, {"x":true} ]',
    ];
    addCanaries(front, ['S-caf', 'k-nest', 'NEST-SECRET-1', 'ARR-SECRET-1', '0.30000000000000004', '12345678901234567890', '-1.5E+10']);
    for (const [i, tok] of tokens.entries()) {
      const id = `tf-${i}`;
      const value = JSON.parse(tok);
      // Deterministic strings and numbers are sealed in canonical form (docs/FORMAT.md §2,
      // policy/json/text.h): they come back as JSON.stringify writes them (a number: the same
      // double, ECMAScript's spelling); every other token comes back as written.
      const detTok = typeof value === 'string' || typeof value === 'number' ? JSON.stringify(value) : tok;
      const body = `{"id":"${id}","tenant":"tf","ssn":${tok},"address":${tok},"cards":[{"number":${tok},"brand":"b"}],"note":"plain ${i}"}`;
      const expectIn = (text, what) => {
        assert.ok(text.includes(`"address":${tok}`), `${what}: address token ${tok} comes back byte for byte in ${text.slice(0, 400)}`);
        assert.ok(text.includes(`"cards":[{"number":${tok},"brand":"b"}]`), `${what}: card number token ${tok} byte for byte in ${text.slice(0, 400)}`);
        assert.ok(text.includes(`"ssn":${detTok}`), `${what}: ssn token ${detTok} in ${text.slice(0, 400)}`);
      };
      const created = await rawVia(stack, 'POST', DOCS, { headers: { ...JSON_HEADERS, ...pkHeader('tf') }, body });
      assert.equal(created.status, 201, `${tok}: ${created.text.slice(0, 300)}`);
      expectIn(created.text, `create response for ${tok}`);
      const got = await rawVia(stack, 'GET', `${DOCS}/${id}`, { headers: pkHeader('tf') });
      assert.equal(got.status, 200);
      expectIn(got.text, `point read of ${tok}`);
      const stored = await readDirect('customers', id, 'tf');
      assertStoredEncrypted(stored, JSON.parse(body), CUSTOMER_FIELDS, `stored ${tok}`);
      const viaSdk = (await c.customers.item(id, 'tf').read()).resource;
      assert.deepStrictEqual(strip(viaSdk), JSON.parse(body), `SDK view of ${tok}`);
    }
    // A query page and a read feed page carry the same bytes.
    const q = await rawVia(stack, 'POST', DOCS, { headers: queryHeaders(), body: JSON.stringify({ query: 'SELECT * FROM c WHERE c.tenant = "tf"' }) });
    assert.equal(q.status, 200);
    for (const tok of tokens) assert.ok(q.text.includes(`"address":${tok}`), `query page keeps ${tok}`);
    front.assertClean();
  });

  // ---- partition key protected ----------------------------------------------------------------

  /** The partition-key scenario for one of the accounts containers. */
  async function partitionKeyScenario(name, tag) {
    const cont = c[name];
    const docs = [
      { id: `${tag}-1`, accountNo: `ACC-${tag}-0001`, ssn: `SSN-${tag}-A1`, balance: 10 },
      { id: `${tag}-2`, accountNo: `ACC-\u00c9T\u00c9-${tag}`, ssn: `SSN-${tag}-A2`, balance: 20 },
      { id: `${tag}-3`, accountNo: 987654321, ssn: `SSN-${tag}-A3`, balance: 30 },
    ];
    addCanaries(front, [...docs.flatMap((x) => [String(x.accountNo), x.ssn]), `ACC-\\u00c9T\\u00c9-${tag}`, `ACC-\\u00C9T\\u00C9-${tag}`]);
    for (const x of docs) {
      const r = await cont.items.create(x);
      assert.equal(r.statusCode, 201);
      assert.deepStrictEqual(strip(r.resource), x);
      const sent = lastUpstream((q) => q.method === 'POST' && q.url === `/dbs/shop/colls/${name}/docs` && q.bodyJson?.id === x.id);
      const header = JSON.parse(sent.headers['x-ms-documentdb-partitionkey']);
      const stored = await readDirect(name, x.id, header[0]);
      assert.ok(stored, `${x.id} stored under the encrypted partition key`);
      assertStoredEncrypted(stored, x, ACCOUNT_FIELDS, `${name} ${x.id}`);
      assert.equal(header[0], stored.accountNo, 'the partition-key header carries exactly the stored envelope');
    }
    // Point reads with the pk header (the SDK writes non-ASCII as \u escapes in the header).
    for (const x of docs) assert.deepStrictEqual(strip((await cont.item(x.id, x.accountNo).read()).resource), x, `read ${x.id}`);
    // Queries: equality on the partition key, cross-partition and single-partition.
    for (const x of docs) {
      const spec = { query: 'SELECT * FROM c WHERE c.accountNo = @a', parameters: [{ name: '@a', value: x.accountNo }] };
      const cross = (await cont.items.query(spec).fetchAll()).resources;
      assert.deepStrictEqual(cross.map(strip), [x], `cross-partition query for ${x.id}`);
      const single = (await cont.items.query(spec, { partitionKey: x.accountNo }).fetchAll()).resources;
      assert.deepStrictEqual(single.map(strip), [x], `single-partition query for ${x.id}`);
    }
    const lit = (await cont.items.query(`SELECT VALUE c.id FROM c WHERE c.accountNo = 'ACC-${tag}-0001'`).fetchAll()).resources;
    assert.deepStrictEqual(lit, [`${tag}-1`]);
    // Replace and delete with the pk header.
    const repl = { ...docs[0], ssn: `SSN-${tag}-R1`, balance: 11 };
    addCanaries(front, [repl.ssn]);
    const rr = await cont.item(repl.id, repl.accountNo).replace(repl);
    assert.equal(rr.statusCode, 200);
    assert.deepStrictEqual(strip(rr.resource), repl);
    const storedNow = async (id) =>
      (await d[name].items.query({ query: 'SELECT * FROM c WHERE c.id = @id', parameters: [{ name: '@id', value: id }] }).fetchAll()).resources[0];
    assertStoredEncrypted(await storedNow(repl.id), repl, ACCOUNT_FIELDS, 'after replace');
    // Upsert (existing document) and patch, both with the pk header.
    const up = { ...repl, ssn: `SSN-${tag}-U1`, balance: 12 };
    addCanaries(front, [up.ssn, `SSN-${tag}-P1`]);
    const ru = await cont.items.upsert(up);
    assert.equal(ru.statusCode, 200, 'upsert replaced the document in its (encrypted) partition');
    assert.deepStrictEqual(strip(ru.resource), up);
    const rp = await cont.item(up.id, up.accountNo).patch([
      { op: 'set', path: '/ssn', value: `SSN-${tag}-P1` },
      { op: 'incr', path: '/balance', value: 1 },
    ]);
    assert.equal(rp.statusCode, 200);
    const patched = { ...up, ssn: `SSN-${tag}-P1`, balance: 13 };
    assert.deepStrictEqual(strip(rp.resource), patched);
    assertStoredEncrypted(await storedNow(up.id), patched, ACCOUNT_FIELDS, 'after upsert + patch');
    const del = await cont.item(docs[1].id, docs[1].accountNo).delete();
    assert.equal(del.statusCode, 204);
    const after1 = (await cont.item(docs[1].id, docs[1].accountNo).read()).statusCode;
    assert.equal(after1, 404, 'deleted');
    // A transactional batch in one (encrypted) partition; per-op partitionKey strings are
    // encrypted too (the server looks documents up by them).
    const nb = { id: `${tag}-4`, accountNo: docs[2].accountNo, ssn: `SSN-${tag}-A4`, balance: 40 };
    addCanaries(front, [nb.ssn]);
    const { result } = await cont.items.batch(
      [
        { operationType: 'Create', resourceBody: nb },
        { operationType: 'Read', id: docs[2].id, partitionKey: docs[2].accountNo },
        { operationType: 'Replace', id: nb.id, partitionKey: nb.accountNo, resourceBody: { ...nb, balance: 41 } },
      ],
      docs[2].accountNo,
    );
    assert.deepEqual(result.map((x) => x.statusCode), [201, 200, 200], JSON.stringify(result));
    assert.deepStrictEqual(strip(result[1].resourceBody), docs[2]);
    assert.deepStrictEqual(strip(result[2].resourceBody), { ...nb, balance: 41 });
    const sentBatch = lastUpstream((q) => q.url === `/dbs/shop/colls/${name}/docs` && q.headers['x-ms-cosmos-is-batch-request']);
    for (const op of sentBatch.bodyJson.filter((o) => o.partitionKey)) assert.ok(isEnvelope(JSON.parse(op.partitionKey)[0]), `per-op partitionKey sealed: ${op.partitionKey}`);
    // Bulk with per-op partition keys.
    const bk = { id: `${tag}-5`, accountNo: `ACC-${tag}-0005`, ssn: `SSN-${tag}-A5`, balance: 50 };
    addCanaries(front, [bk.accountNo, bk.ssn]);
    const bulk = await cont.items.executeBulkOperations([
      { operationType: BulkOperationType.Create, partitionKey: bk.accountNo, resourceBody: bk },
      { operationType: BulkOperationType.Read, partitionKey: docs[2].accountNo, id: docs[2].id },
    ]);
    assert.deepEqual(bulk.map((x) => x.response?.statusCode ?? x.error?.message), [201, 200]);
    assert.deepStrictEqual(strip(bulk[1].response.resourceBody), docs[2]);
    front.assertClean();
  }

  test('partition key protected, configured in the policy: create/read/replace/delete/query/batch/bulk', T, async () => {
    await partitionKeyScenario('accounts', 'cfg');
  });

  test('partition key protected, NOT configured: learned from the metadata the SDK reads through cosmoseal', T, async () => {
    await partitionKeyScenario('accountsLearned', 'lrn');
  });

  test('partition key protected, NOT configured, container never seen: cosmoseal reads the metadata itself first', T, async () => {
    // The very first request for this container is a raw create carrying the pk header.
    const doc = { id: 'fx-0', accountNo: 'ACC-FETCH-0000', ssn: 'SSN-FETCH-0' };
    addCanaries(front, [doc.accountNo, doc.ssn]);
    const m = front.mark();
    const r = await rawVia(stack, 'POST', '/dbs/shop/colls/accountsFetched/docs', {
      headers: { ...JSON_HEADERS, ...pkHeader(doc.accountNo) },
      body: JSON.stringify(doc),
    });
    assert.equal(r.status, 201, `${r.text.slice(0, 300)}\n${logLines(stack, 'accountsFetched')}`);
    assert.deepStrictEqual(strip(r.json), doc);
    const seen = front.since(m).requests.filter((x) => x.origin !== 'direct');
    assert.deepEqual(
      seen.map((x) => `${x.method} ${x.url}`),
      ['GET /dbs/shop/colls/accountsFetched', 'POST /dbs/shop/colls/accountsFetched/docs'],
      'cosmoseal read the container metadata (signed with the account key) before forwarding',
    );
    assert.ok(seen.every((x) => x.verified));
    assert.ok(isEnvelope(JSON.parse(seen[1].headers['x-ms-documentdb-partitionkey'])[0]));
    assert.match(stack.proxy.log(), /learned partition key of shop\/accountsFetched/);
    await partitionKeyScenario('accountsFetched', 'fch');
  });

  test('partition key protected: a null value is sealed like any value; an absent one (None, [{}]) stays absent', T, async () => {
    const n = { id: 'pkn-1', accountNo: null, ssn: 'SSN-PK-NULL-1' };
    const none = { id: 'pkn-2', ssn: 'SSN-PK-NONE-2' };
    addCanaries(front, [n.ssn, none.ssn]);
    assert.equal((await c.accounts.items.create(n)).statusCode, 201);
    const sent = lastUpstream((q) => q.method === 'POST' && q.bodyJson?.id === 'pkn-1');
    const header = JSON.parse(sent.headers['x-ms-documentdb-partitionkey']);
    assert.ok(isEnvelope(header[0]), `[null] header sealed: ${sent.headers['x-ms-documentdb-partitionkey']}`);
    assertStoredEncrypted(await readDirect('accounts', 'pkn-1', header[0]), n, ACCOUNT_FIELDS, 'null pk');
    assert.deepStrictEqual(strip((await c.accounts.item('pkn-1', null).read()).resource), n);
    assert.deepStrictEqual((await c.accounts.items.query('SELECT VALUE c.id FROM c WHERE c.accountNo = null').fetchAll()).resources, ['pkn-1']);
    assert.equal((await c.accounts.items.create(none)).statusCode, 201);
    const sent2 = lastUpstream((q) => q.method === 'POST' && q.bodyJson?.id === 'pkn-2');
    assert.equal(sent2.headers['x-ms-documentdb-partitionkey'], '[{}]', 'None stays None');
    assert.deepStrictEqual(strip((await c.accounts.item('pkn-2', undefined).read()).resource), none);
    assert.equal((await c.accounts.item('pkn-1', null).delete()).statusCode, 204);
    front.assertClean();
  });

  // ---- refusals ---------------------------------------------------------------------------------

  describe('refusals: status + detail code, 0 bytes upstream', () => {
    before(async () => {
      const doc = customer('rf-1', 'rf', 61);
      canaries(doc);
      await c.customers.items.create(doc);
    });
    const post = (body, headers = {}) => () => rawVia(stack, 'POST', DOCS, { headers: { ...JSON_HEADERS, ...pkHeader('rf'), ...headers }, body });
    const patch = (body) => () => rawVia(stack, 'PATCH', `${DOCS}/rf-1`, { headers: { ...JSON_HEADERS, ...pkHeader('rf') }, body: JSON.stringify(body) });
    const cases = [
      ['patch incr on a protected path', 400, 'policy.patch_incr_protected', patch([{ op: 'incr', path: '/ssn', value: 1 }])],
      ['patch incr on a card number', 400, 'policy.patch_incr_protected', patch([{ op: 'incr', path: '/cards/0/number', value: 1 }])],
      ['patch set inside a protected subtree', 400, 'policy.patch_inside_protected', patch([{ op: 'set', path: '/address/city', value: 'RF-INSIDE-CITY' }])],
      ['patch add inside a protected subtree (object form)', 400, 'policy.patch_inside_protected', patch({ operations: [{ op: 'add', path: '/address/zip', value: 'RF-INSIDE-ZIP' }] })],
      ['patch move from a protected path', 400, 'policy.patch_move_protected', patch([{ op: 'move', from: '/ssn', path: '/copy' }])],
      ['duplicate keys in a protected object', 400, 'policy.duplicate_key', post('{"id":"rf-dup","tenant":"rf","ssn":"RF-DUP-A1","ssn":"RF-DUP-B2"}')],
      ['invalid JSON', 400, 'policy.bad_json', post('{"id":"rf-bad","tenant":"rf","ssn":"RF-BAD-JSON1"')],
      ['trailing garbage', 400, 'policy.bad_json', post('{"id":"rf-bad","tenant":"rf","ssn":"RF-BAD-JSON2"} {"x":1}')],
      ['lookalike envelope in an unprotected field', 400, 'policy.envelope_lookalike', post(JSON.stringify({ id: 'rf-look', tenant: 'rf', note: 'csx1:AQIAAAAB', ssn: 'RF-LOOK-SSN' }))],
      ['gzip Content-Encoding', 415, 'policy.compressed_body', post(zlib.gzipSync(JSON.stringify({ id: 'rf-gz', tenant: 'rf', ssn: 'RF-GZIP-SSN' })), { 'content-encoding': 'gzip' })],
      ['binary body (0x80 first byte)', 415, 'policy.binary_body', post(Buffer.concat([Buffer.from([0x80, 0x01]), Buffer.from('RF-BINARY-SSN')]))],
      [
        'document over 2 MB only after encryption',
        413,
        'policy.too_large_after_encrypt',
        post(JSON.stringify({ id: 'rf-big', tenant: 'rf', address: { blob: `RF-BIG-SECRET ${'x'.repeat(1_700_000)}` } })),
      ],
      ['duplicate keys, one spelled with an escape', 400, 'policy.duplicate_key', post('{"id":"rf-dup2","tenant":"rf","ssn":"RF-DUP-A1","s\\u0073n":"RF-DUP-B2"}')],
      ['control character in a member name: "ss\\u0000n" (red-team finding 6)', 400, 'policy.bad_member_name', post('{"id":"rf-nul1","tenant":"rf","ss\\u0000n":"RF-NUL-SSN1"}')],
      ['control character in a member name: "ssn\\u0000"', 400, 'policy.bad_member_name', post('{"id":"rf-nul2","tenant":"rf","ssn\\u0000":"RF-NUL-SSN2"}')],
      ['duplicate keys inside an array element on a protected path', 400, 'policy.duplicate_key', post('{"id":"rf-dup3","tenant":"rf","cards":[{"number":"RF-DUP-A1","number":"RF-DUP-B2"}]}')],
      ['lookalike envelope nested in an unprotected array', 400, 'policy.envelope_lookalike', post(JSON.stringify({ id: 'rf-look2', tenant: 'rf', meta: { x: [1, 'csx1:AQIAAAAB'] }, ssn: 'RF-LOOK-SSN' }))],
      ['lookalike envelope in a patch value at an unprotected path', 400, 'policy.envelope_lookalike', patch([{ op: 'set', path: '/note', value: 'csx1:AQIAAAAB' }, { op: 'set', path: '/ssn', value: 'RF-LOOK-SSN' }])],
      ['patch move into a protected path', 400, 'policy.patch_move_protected', patch([{ op: 'move', from: '/name', path: '/ssn' }])],
      ['patch with an unknown op', 400, 'policy.bad_patch', patch([{ op: 'explode', path: '/ssn', value: 'RF-BADPATCH-1' }])],
      ['document root not an object', 400, 'policy.bad_document', post('["RF-NOTOBJ-1"]')],
      ['lone surrogate escape', 400, 'policy.bad_string', post('{"id":"rf-sur","tenant":"rf","ssn":"RF-SURR-1 \\ud800"}')],
      ['invalid UTF-8', 400, 'policy.bad_json', post(Buffer.concat([Buffer.from('{"id":"rf-utf","tenant":"rf","ssn":"RF-UTF8-1 '), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))],
      ['nesting deeper than 64', 400, 'policy.too_deep', post(`{"id":"rf-deep","tenant":"rf","ssn":"RF-DEEP-SSN","x":${'['.repeat(70)}${']'.repeat(70)}}`)],
      ['batch with an unknown operationType', 400, 'policy.bad_batch', post(JSON.stringify([{ operationType: 'Explode', resourceBody: { id: 'rf-b', tenant: 'rf', ssn: 'RF-BATCH-SSN' } }]), { 'x-ms-cosmos-is-batch-request': 'true', 'x-ms-cosmos-batch-atomic': 'true' })],
      ['object as a protected partition-key value', 400, 'policy.bad_partition_key', () =>
        rawVia(stack, 'POST', '/dbs/shop/colls/accounts/docs', {
          headers: { ...JSON_HEADERS, 'x-ms-documentdb-partitionkey': '[{"a":"RF-PK-OBJ-1"}]' },
          body: JSON.stringify({ id: 'rf-pk', accountNo: { a: 'RF-PK-OBJ-1' } }),
        })],
      ['conflicts feed of a protected container', 400, 'route.conflicts_on_protected', () => rawVia(stack, 'GET', '/dbs/shop/colls/customers/conflicts')],
      ['stored procedure on a protected container', 400, 'route.sproc_on_protected', () =>
        rawVia(stack, 'POST', '/dbs/shop/colls/customers/sprocs/sp1', { headers: { ...JSON_HEADERS, ...pkHeader('rf') }, body: '["RF-SPROC-ARG"]' })],
    ];
    // RID-addressed routes are mapped to names first (docs/ROUTING.md): cosmoseal reads the
    // collection by its RID, signed over it; RIDs the service does not know end there. (Client
    // 'rid' is allowed in a database named like a RID, so its rules would not stop it either.)
    test('RID-addressed container the service does not know -> 404 route.rid_unresolved; only the metadata read went upstream', T, async () => {
      const m = await front.quiesce();
      const r = await rawVia(stack, 'GET', '/dbs/AbCdEA==/colls/AbCdEKEFGH0=/docs', { key: stack.clientKeys.rid });
      assertLocalError(r, 404, 'route.rid_unresolved', 'unknown RIDs');
      const sent = front.since(m).requests;
      assert.deepStrictEqual(sent.map((q) => `${q.method} ${q.url}`), ['GET /dbs/AbCdEA==/colls/AbCdEKEFGH0='],
        'the collection read by RID, nothing else');
      assert.equal(sent[0].verified, true, 'signed over the RID with the account key');
      front.assertClean();
    });
    for (const [what, status, detail, send] of cases) {
      test(`${what} -> ${status} ${detail}`, T, async () => {
        addCanaries(front, ['RF-INSIDE-CITY', 'RF-INSIDE-ZIP', 'RF-DUP-A1', 'RF-DUP-B2', 'RF-BAD-JSON1', 'RF-BAD-JSON2', 'RF-LOOK-SSN', 'RF-GZIP-SSN', 'RF-BINARY-SSN', 'RF-BIG-SECRET', 'RF-SPROC-ARG', 'RF-BADPATCH-1', 'RF-NOTOBJ-1', 'RF-SURR-1', 'RF-UTF8-1', 'RF-DEEP-SSN', 'RF-BATCH-SSN', 'RF-PK-OBJ-1']);
        const r = await nothingUpstream(front, send, what);
        assertLocalError(r, status, detail, what);
        front.assertClean();
      });
    }

    test('the SDK sees the refusal: patch incr rejects with 400 naming the detail', T, async () => {
      await nothingUpstream(front, () =>
        assert.rejects(c.customers.item('rf-1', 'rf').patch([{ op: 'incr', path: '/ssn', value: 1 }]), (e) => e.code === 400 && /policy\.patch_incr_protected/.test(e.message)),
      );
      const stored = await readDirect('customers', 'rf-1', 'rf');
      assert.ok(isEnvelope(stored.ssn), 'document unchanged');
      front.assertClean();
    });

    test('the unprotected control container accepts the same requests (the server answers them)', T, async () => {
      const r1 = await rawVia(stack, 'POST', '/dbs/shop/colls/plain/docs', {
        headers: { ...JSON_HEADERS, ...pkHeader('rf') },
        body: JSON.stringify({ id: 'ctl-look', tenant: 'rf', note: 'csx1:AQIAAAAB' }),
      });
      assert.equal(r1.status, 201, 'a csx1: string in an unprotected container passes through');
      assert.equal(r1.json.note, 'csx1:AQIAAAAB');
      const r2 = await rawVia(stack, 'POST', '/dbs/shop/colls/plain/sprocs/sp1', { headers: { ...JSON_HEADERS, ...pkHeader('rf') }, body: '["x"]' });
      assert.equal(r2.headers['x-cosmoseal-detail'], undefined, 'sproc on the unprotected container is forwarded');
      assert.equal(r2.status, 400, 'cosmosdb-server has no stored procedures ("no route")');
      front.assertClean();
    });
  });

  // ---- tampering --------------------------------------------------------------------------------

  describe('tampering with the stored data (written directly, read through cosmoseal)', () => {
    const TDOCS = '/dbs/shop/colls/tamper/docs';
    /** Creates a document through cosmoseal and returns what is stored for it. */
    const seed = async (id, n) => {
      const doc = customer(id, 'tt', n);
      canaries(doc);
      await c.tamper.items.create(doc);
      return { doc, stored: await readDirect('tamper', id, 'tt') };
    };
    const pointRead = (id) => rawVia(stack, 'GET', `${TDOCS}/${id}`, { headers: pkHeader('tt') });
    const starQuery = (id) => rawVia(stack, 'POST', TDOCS, { headers: queryHeaders(), body: JSON.stringify({ query: `SELECT * FROM c WHERE c.id = '${id}'` }) });

    test('a flipped byte in a stored envelope -> 502 crypto.auth_failed', T, async () => {
      const { stored } = await seed('tm-flip', 71);
      const b = envelopeBytes(stored.ssn);
      b[b.length - 20] ^= 0x01; // inside the ciphertext
      await d.tamper.items.upsert({ ...stored, ssn: envelopeString(b) });
      const r = await pointRead('tm-flip');
      assertLocalError(r, 502, 'crypto.auth_failed', 'point read');
      await assert.rejects(c.tamper.item('tm-flip', 'tt').read(), (e) => e.code === 502);
      assertLocalError(await starQuery('tm-flip'), 502, 'crypto.auth_failed', 'SELECT *');
      // Randomized envelope, header byte (the path tag is authenticated too).
      const { stored: s2 } = await seed('tm-flip2', 72);
      const b2 = envelopeBytes(s2.address);
      b2[25] ^= 0x80;
      await d.tamper.items.upsert({ ...s2, address: envelopeString(b2) });
      assertLocalError(await pointRead('tm-flip2'), 502, 'crypto.auth_failed', 'randomized envelope header');
      front.assertClean();
    });

    test('the ssn envelope copied into email (same key, both deterministic) -> 502 crypto.path_mismatch', T, async () => {
      const { stored } = await seed('tm-move', 73);
      await d.tamper.items.upsert({ ...stored, email: stored.ssn });
      const r = await pointRead('tm-move');
      assertLocalError(r, 502, 'crypto.path_mismatch', 'point read');
      assertLocalError(await starQuery('tm-move'), 502, 'crypto.path_mismatch', 'SELECT * (rows are documents)');
      // An envelope from another container's field (same key, same field name) is a mismatch too.
      const other = await readDirect('customers', 'rd-1', 'r1');
      const { stored: s2 } = await seed('tm-move2', 74);
      await d.tamper.items.upsert({ ...s2, ssn: other.ssn });
      assertLocalError(await pointRead('tm-move2'), 502, 'crypto.path_mismatch', 'envelope from shop/customers');
      front.assertClean();
    });

    test('the address envelope pasted into unprotected /note -> 502 crypto.path_mismatch (red-team finding 5)', T, async () => {
      const { doc, stored } = await seed('tm-paste', 77);
      await d.tamper.items.upsert({ ...stored, note: stored.address });
      assertLocalError(await pointRead('tm-paste'), 502, 'crypto.path_mismatch', 'point read');
      await assert.rejects(c.tamper.item('tm-paste', 'tt').read(), (e) => e.code === 502);
      assertLocalError(await starQuery('tm-paste'), 502, 'crypto.path_mismatch', 'SELECT *');
      // Nested and in an array: the place is still known.
      await d.tamper.items.upsert({ ...stored, note: undefined, meta: { list: [1, stored.ssn] } });
      assertLocalError(await pointRead('tm-paste'), 502, 'crypto.path_mismatch', 'nested in an array');
      // A projection does not know where a value came from: it opens there (DESIGN.md section 5).
      await d.tamper.items.upsert({ ...stored, note: stored.address });
      const q = await rawVia(stack, 'POST', TDOCS, {
        headers: queryHeaders(),
        body: JSON.stringify({ query: "SELECT c.note FROM c WHERE c.id = 'tm-paste'" }),
      });
      assert.equal(q.status, 200, q.text.slice(0, 300));
      assert.deepStrictEqual(q.json.Documents, [{ note: doc.address }]);
      await d.tamper.items.upsert(stored);
      front.assertClean();
    });

    test('an unknown key id -> 502 crypto.unknown_key', T, async () => {
      const { stored } = await seed('tm-key', 75);
      const b = envelopeBytes(stored.ssn);
      for (let i = 2; i < 6; i++) b[i] ^= 0x5a;
      await d.tamper.items.upsert({ ...stored, ssn: envelopeString(b) });
      assertLocalError(await pointRead('tm-key'), 502, 'crypto.unknown_key', 'point read');
      front.assertClean();
    });

    test('legacy plaintext at protected paths is returned as is', T, async () => {
      // Written before cosmoseal existed: plaintext (not canaries: they are in the store on purpose).
      const legacy = {
        id: 'tm-legacy',
        tenant: 'tt',
        ssn: 'legacy ssn 000',
        email: 'legacy@old.test',
        address: { city: 'Legacy Town' },
        cards: [{ number: 'legacy card' }],
      };
      await d.tamper.items.create(legacy);
      const r = await pointRead('tm-legacy');
      assert.equal(r.status, 200, r.text.slice(0, 300));
      assert.deepStrictEqual(strip(r.json), legacy);
      assert.deepStrictEqual(strip((await c.tamper.item('tm-legacy', 'tt').read()).resource), legacy);
      const q = await starQuery('tm-legacy');
      assert.equal(q.status, 200);
      assert.deepStrictEqual(q.json.Documents.map(strip), [legacy]);
      front.assertClean();
    });

    test('a lookalike "csx1:garbage" in an unprotected field of a stored document is returned as is', T, async () => {
      const { doc, stored } = await seed('tm-look', 76);
      const notes = ['csx1:garbage', 'csx1:AQIAAAAB', `csx1:${Buffer.alloc(40, 7).toString('base64')}`];
      await d.tamper.items.upsert({ ...stored, note: notes, other: { x: 'csx1:' } });
      const r = await pointRead('tm-look');
      assert.equal(r.status, 200, `${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 300)}`);
      assert.deepStrictEqual(strip(r.json), { ...doc, note: notes, other: { x: 'csx1:' } });
      const q = await starQuery('tm-look');
      assert.equal(q.status, 200, q.text.slice(0, 300));
      assert.deepStrictEqual(q.json.Documents[0].note, notes);
      front.assertClean();
    });
  });

  // ---- request shapes other SDKs use ------------------------------------------------------------

  test('query/upsert/batch signal variants and a chunked body are transformed like the JS SDK shapes', T, async () => {
    const doc = customer('sv-1', 'sv', 81);
    canaries(doc);
    await c.customers.items.create(doc);
    const q = JSON.stringify({ query: `SELECT * FROM c WHERE c.ssn = '${doc.ssn}'` });
    const variants = [
      ['content-type application/query+json only', { 'content-type': 'application/query+json' }],
      ['x-ms-documentdb-isquery: True', { 'content-type': 'application/query+json', 'x-ms-documentdb-isquery': 'True' }],
      ["Go's x-ms-documentdb-query: True", { 'content-type': 'application/query+json', 'x-ms-documentdb-query': 'True' }],
      ['isquery with content-type application/json', { 'content-type': 'application/json', 'x-ms-documentdb-isquery': 'true' }],
    ];
    for (const [what, h] of variants) {
      const r = await rawVia(stack, 'POST', DOCS, { headers: { ...h, 'x-ms-documentdb-query-enablecrosspartition': 'true' }, body: q });
      assert.equal(r.status, 200, `${what}: ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''} ${r.text.slice(0, 200)}`);
      assert.deepStrictEqual(r.json.Documents.map(strip), [doc], `${what}: found and decrypted`);
    }
    const up = customer('sv-2', 'sv', 82);
    canaries(up);
    const ru = await rawVia(stack, 'POST', DOCS, { headers: { ...JSON_HEADERS, ...pkHeader('sv'), 'x-ms-documentdb-is-upsert': 'True' }, body: JSON.stringify(up) });
    assert.equal(ru.status, 201, ru.text.slice(0, 200));
    assertStoredEncrypted(await readDirect('customers', 'sv-2', 'sv'), up, CUSTOMER_FIELDS, 'upsert: True');
    const bt = customer('sv-3', 'sv', 83);
    canaries(bt);
    const rb = await rawVia(stack, 'POST', DOCS, {
      headers: { ...JSON_HEADERS, ...pkHeader('sv'), 'x-ms-cosmos-is-batch-request': 'True', 'x-ms-cosmos-batch-atomic': 'True' },
      body: JSON.stringify([{ operationType: 'Create', resourceBody: bt }]),
    });
    assert.equal(rb.status, 200, rb.text.slice(0, 200));
    assert.deepStrictEqual(strip(rb.json[0].resourceBody), bt);
    assertStoredEncrypted(await readDirect('customers', 'sv-3', 'sv'), bt, CUSTOMER_FIELDS, 'batch: True');
    // A chunked create body.
    const ch = customer('sv-4', 'sv', 84);
    canaries(ch);
    const body = JSON.stringify(ch);
    const head = buildRequest({
      method: 'POST',
      path: DOCS,
      host: 'localhost',
      key: stack.clientKeys.app,
      headers: [['content-type', 'application/json'], ['x-ms-documentdb-partitionkey', '["sv"]'], ['transfer-encoding', 'chunked']],
    });
    const half = Math.floor(body.length / 2);
    const chunks = [body.slice(0, half), body.slice(half)].map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('');
    const x = await rawExchange({ port: stack.proxy.port, tls: { ca: stack.pki.ca }, data: [head, chunks, '0\r\n\r\n'], expectResponses: 1, timeoutMs: 10000 });
    assert.equal(x.responses[0]?.status, 201, `chunked create: ${x.text.slice(0, 300)}`);
    assert.deepStrictEqual(strip(JSON.parse(x.responses[0].body.toString('utf8'))), ch);
    assertStoredEncrypted(await readDirect('customers', 'sv-4', 'sv'), ch, CUSTOMER_FIELDS, 'chunked');
    front.assertClean();
  });

  test('a 1.4 MB protected value (about 1.9 MB once encrypted) is stored and read back identical', T, async () => {
    const big = { id: 'big-ok', tenant: 'big', address: { blob: `BIG-OK-SECRET ${'\u00e9x'.repeat(1000)}${'y'.repeat(1_400_000)}` }, ssn: 'SSN-BIG-OK-1' };
    addCanaries(front, ['BIG-OK-SECRET', 'SSN-BIG-OK-1']);
    const r = await c.customers.items.create(big);
    assert.equal(r.statusCode, 201);
    assert.deepStrictEqual(strip(r.resource), big);
    const stored = await readDirect('customers', 'big-ok', 'big');
    assertStoredEncrypted(stored, big, CUSTOMER_FIELDS, 'big');
    assert.ok(stored.address.length > 1_800_000, `stored envelope is ${stored.address.length} characters`);
    const back = await c.customers.item('big-ok', 'big').read();
    assert.deepStrictEqual(strip(back.resource), big);
    await c.customers.item('big-ok', 'big').delete();
    front.assertClean();
  });

  test('self-check: the canary watch sees a protected value sent in plaintext (unprotected container)', T, async () => {
    const secret = 'SELFCHECK-CANARY-1';
    addCanaries(front, [secret]);
    await c.plain.items.create({ id: 'selfcheck', tenant: 'p1', ssn: secret });
    const hits = front.takeCanaryHits((h) => h.canary === secret);
    assert.ok(hits.length >= 1 && hits.every((h) => h.where === 'body'), `the front saw the canary: ${JSON.stringify(hits)}`);
    front.assertClean();
  });

  // ---- control ------------------------------------------------------------------------------------

  test('unprotected control container: stored exactly as written, nothing transformed', T, async () => {
    const doc = { ...customer('pl-1', 'p1', 90), ssn: 'control-ssn', email: 'control@mail', address: { city: 'control' }, cards: [{ number: 'control-card' }] };
    const r = await c.plain.items.create(doc);
    assert.deepStrictEqual(strip(r.resource), doc);
    assert.deepStrictEqual(strip(await readDirect('plain', 'pl-1', 'p1')), doc, 'stored as written');
    const { resources } = await c.plain.items.query("SELECT * FROM c WHERE c.ssn > 'a' ORDER BY c.ssn").fetchAll();
    assert.ok(resources.some((x) => x.id === 'pl-1'), 'range and ORDER BY on the same field name work on the control');
    const sent = lastUpstream((x) => x.method === 'POST' && x.url === '/dbs/shop/colls/plain/docs' && x.bodyJson?.id === 'pl-1');
    assert.deepStrictEqual(sent.bodyJson, doc, 'forwarded unchanged');
    front.assertClean();
  });

  test('every upstream request came through cosmoseal, signed with the account key', () => {
    front.assertNoBypass();
    assert.ok(front.proxiedRequests.every((r) => r.signedWith === 'account'));
    front.assertClean();
  });
});
