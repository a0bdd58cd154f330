// The mixed state, end to end (docs/QUERIES.md "While a migration runs"): a container whose
// policy has `migration:` holds documents written before the policy (plaintext, put there
// directly) and documents written through cosmoseal (sealed). cosmoseal reads the migration's
// state document from the lease container (here written directly, as `cosmoseal migrate` would):
//   * phase running, `equality: refuse`: the SDK's equality query on the deterministic /ssn is
//     refused with 400 query.migration_in_progress naming the job, and no query reaches the
//     account (no plaintext literal either: the canary scan is clean);
//   * phase running, `equality: match_both`: the same query finds both the plaintext and the
//     sealed document (the literal goes upstream in plaintext too: the documented opt-in);
//   * phase verified: the query is sealed-only again (finds the sealed document alone).

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { startCosmoseal } from './lib/cosmoseal.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { makeKeyring, rawVia, queryHeaders, addCanaries, isEnvelope } from './lib/enc.mjs';

const T = { timeout: 60000 };
const FIELDS = [{ path: '/ssn', mode: 'deterministic', key: 'pii' }];
const POLICIES = [
  { database: 'shop', container: 'mixed_refuse', partition_key: '/tenant', fields: FIELDS, migration: { poll: '1s' } },
  { database: 'shop', container: 'mixed_both', partition_key: '/tenant', fields: FIELDS, migration: { equality: 'match_both', poll: '1s' } },
];
const SAME = 'SSN-MIXED-SAME-1';
const JOB = 'e2e-encrypt-job';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stateDoc(container, phase) {
  return {
    id: `state.shop.${container}`,
    kind: 'cosmoseal.migration.state',
    database: 'shop',
    container,
    job: JOB,
    operation: 'encrypt',
    phase,
    started_at: '2026-12-06T18:00:00Z',
    updated_at: new Date().toISOString(),
    report: {},
  };
}

describe('mixed data while a migration runs', () => {
  let stack;
  let front;
  let leases;
  const through = {};

  /** Requests through cosmoseal that queried `container` since mark `m`. */
  const queriesSince = (m, container) =>
    front.since(m).requests.filter((r) => r.origin !== 'direct' && r.method === 'POST' && r.url.includes(`/colls/${container}/docs`));

  /** Waits until cosmoseal has read the state documents again (two polls). */
  const nextPolls = async () => {
    const m = front.mark();
    for (let i = 0; i < 100; i++) {
      const reads = front.since(m).requests.filter((r) => r.url.includes('/colls/cosmoseal-leases/docs/state.shop.'));
      if (reads.length >= 4) return;
      await sleep(100);
    }
    assert.fail('cosmoseal did not read the state documents again');
  };

  before(async () => {
    const dir = makeWorkDir('mixed');
    const keys = await makeKeyring(dir, ['pii']);
    // The account first: the database, the lease container with the state documents (as
    // `cosmoseal migrate` writes them) and the documents written before the policy (plaintext).
    // cosmosdb-server fails a read in a container that does not exist (instead of 404), so
    // cosmoseal starts once the lease container is there.
    stack = await startStack({ dir, keys, cosmoseal: false });
    front = stack.front;
    addCanaries(front, [SAME, 'SSN-MIXED-OLD-2', 'SSN-MIXED-NEW-3']);
    const direct = stack.direct();
    const { database: db } = await direct.databases.createIfNotExists({ id: 'shop' });
    leases = (await db.containers.createIfNotExists({ id: 'cosmoseal-leases', partitionKey: { paths: ['/id'] } })).container;
    for (const name of ['mixed_refuse', 'mixed_both']) {
      const plain = (await db.containers.createIfNotExists({ id: name, partitionKey: { paths: ['/tenant'] } })).container;
      await leases.items.upsert(stateDoc(name, 'running'));
      await plain.items.create({ id: 'old-1', tenant: 't1', ssn: SAME });
      await plain.items.create({ id: 'old-2', tenant: 't2', ssn: 'SSN-MIXED-OLD-2' });
    }
    stack.proxy = await startCosmoseal({
      dir, front, accountKey: stack.accountKey, pki: stack.pki, clients: stack.clients, keys, policies: POLICIES,
    });
    const client = stack.client('app');
    for (const name of ['mixed_refuse', 'mixed_both']) {
      // Since the policy: sealed, written through cosmoseal.
      through[name] = client.database('shop').container(name);
      await through[name].items.create({ id: 'new-1', tenant: 't1', ssn: SAME });
      await through[name].items.create({ id: 'new-3', tenant: 't3', ssn: 'SSN-MIXED-NEW-3' });
      const stored = (await db.container(name).item('new-1', 't1').read()).resource;
      assert.ok(isEnvelope(stored.ssn), 'written through cosmoseal: sealed');
    }
    await nextPolls();
    // The tests' own direct writes carry the canaries; requests through cosmoseal must not.
    front.takeCanaryHits((h, r) => r && r.origin === 'direct');
    front.assertClean();
  });
  after(async () => {
    await stack?.stop();
  });

  test('refuse: the equality query is refused with the job named; nothing is queried upstream', T, async () => {
    const m = await front.quiesce();
    await assert.rejects(
      through.mixed_refuse.items.query({ query: 'SELECT * FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: SAME }] }).fetchAll(),
      (e) => e.code === 400 && /query\.migration_in_progress/.test(e.message) && e.message.includes(JOB),
    );
    const r = await rawVia(stack, 'POST', '/dbs/shop/colls/mixed_refuse/docs', {
      headers: queryHeaders(),
      body: JSON.stringify({ query: `SELECT * FROM c WHERE c.ssn IN ('${SAME}')`, parameters: [] }),
    });
    const body = assertLocalError(r, 400, 'query.migration_in_progress', 'IN list');
    assert.match(body.message, new RegExp(`migration job '${JOB}' \\(encrypt\\) is in phase running`));
    assert.ok(!body.message.includes(SAME), 'the message never quotes the literal');
    assert.deepEqual(queriesSince(m, 'mixed_refuse'), [], 'no query reached the account');
    // Queries without an equality on /ssn, point reads and writes are unaffected.
    const all = (await through.mixed_refuse.items.query('SELECT * FROM c').fetchAll()).resources;
    assert.deepEqual(all.map((d) => d.id).sort(), ['new-1', 'new-3', 'old-1', 'old-2']);
    assert.equal((await through.mixed_refuse.item('new-1', 't1').read()).resource.ssn, SAME);
    front.assertClean();
  });

  test('match_both: the equality finds the plaintext and the sealed document', T, async () => {
    const m = await front.quiesce();
    const lit = (await through.mixed_both.items.query(`SELECT * FROM c WHERE c.ssn = '${SAME}'`).fetchAll()).resources;
    assert.deepEqual(lit.map((d) => d.id).sort(), ['new-1', 'old-1']);
    for (const d of lit) assert.equal(d.ssn, SAME, `${d.id}: the app reads its value`);
    const par = (await through.mixed_both.items
      .query({ query: 'SELECT * FROM c WHERE c.ssn = @s OR c.ssn IN (@t)', parameters: [{ name: '@s', value: 'SSN-MIXED-OLD-2' }, { name: '@t', value: 'SSN-MIXED-NEW-3' }] })
      .fetchAll()).resources;
    assert.deepEqual(par.map((d) => d.id).sort(), ['new-3', 'old-2']);
    // The opt-in sends the plaintext literal: exactly the canaries of these queries, nothing else.
    const hits = front.takeCanaryHits((h, r) => r && r.origin !== 'direct');
    assert.ok(hits.length > 0, 'match_both sends the plaintext form (documented)');
    assert.ok(queriesSince(m, 'mixed_both').length > 0);
    front.assertClean();
  });

  test('verified: sealed-only again', T, async () => {
    await leases.items.upsert(stateDoc('mixed_refuse', 'verified'));
    await leases.items.upsert(stateDoc('mixed_both', 'verified'));
    await nextPolls();
    for (const name of ['mixed_refuse', 'mixed_both']) {
      const got = (await through[name].items.query(`SELECT * FROM c WHERE c.ssn = '${SAME}'`).fetchAll()).resources;
      assert.deepEqual(got.map((d) => d.id), ['new-1'], `${name}: the sealed document only`);
    }
    front.takeCanaryHits((h, r) => r && r.origin === 'direct');
    front.assertClean(); // no plaintext literal went upstream
  });
});
