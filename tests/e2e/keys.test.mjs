// Key operations (RELIABILITY.md T26/T27, docs/OPERATIONS.md "Key rotation"):
// * key budget: keys.alert_after_seals logs a warning; past keys.refuse_after_seals randomized
//   writes get 503 crypto.key_budget (the check runs once a second), deterministic-only writes
//   and reads keep working;
// * rotation: `cosmoseal keygen` adds pii v2 as primary, a reload makes new writes use v2 (key id
//   bytes of the stored envelopes, the audit "keys" field, the key metrics), documents written
//   under v1 still decrypt; retiring v1 (removing it from the keyring) makes them fail with
//   crypto.unknown_key;
// * client key rotation: a replaced client key file + reload -> the old key gets 401, the new
//   one works.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { request } from './lib/raw.mjs';
import { randomKey, writeKeyFile } from './lib/keys.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { proxyClient, closeClient } from './lib/sdk.mjs';
import { runCosmoseal } from './lib/cosmoseal.mjs';
import {
  envelopeInfo, keygen, keyringShow, makeKeyring, metricNow, readAudit, scrape, metricSum, sdkStatus, waitFor,
} from './lib/ops.mjs';

const REFUSE_AFTER = 5;
const ALERT_AFTER = 3;

describe('key budget, key rotation, client key rotation', () => {
  let s;
  let keys;
  let v1;
  let v2;
  let auditFile;
  let cust;
  let ids;
  const written = []; // [{id, ssn, street}] written under v1

  before(async () => {
    const dir = makeWorkDir('keys');
    keys = await makeKeyring(dir, ['pii']);
    v1 = (await keyringShow(keys)).find((k) => k.name === 'pii' && k.version === 1);
    auditFile = path.join(dir, 'audit.log');
    s = await startStack({
      dir,
      keys: { ...keys, alert_after_seals: ALERT_AFTER, refuse_after_seals: REFUSE_AFTER },
      policies: [
        { database: 'shop', container: 'customers', partition_key: '/pk', fields: [
          { path: '/ssn', mode: 'deterministic', key: 'pii' },
          { path: '/address', mode: 'randomized', key: 'pii' },
        ] },
        { database: 'shop', container: 'ids', partition_key: '/pk', fields: [{ path: '/ssn', mode: 'deterministic', key: 'pii' }] },
        { database: 'shop', container: 'bypk', partition_key: '/tenant', fields: [{ path: '/tenant', mode: 'deterministic', key: 'pii' }] },
      ],
      extra: { workers: 2, audit: { path: auditFile } },
    });
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    for (const id of ['customers', 'ids']) await database.containers.createIfNotExists({ id, partitionKey: { paths: ['/pk'] } });
    await database.containers.createIfNotExists({ id: 'bypk', partitionKey: { paths: ['/tenant'] } });
    const app = s.client('app');
    cust = app.database('shop').container('customers');
    ids = app.database('shop').container('ids');
  });

  after(async () => {
    s?.front.assertClean();
    await s?.stop();
  });

  const doc = (id) => ({ id, pk: 'p', ssn: `ssn-${id}`, address: { street: `street-${id}` } });
  const stored = async (coll, id) => (await s.direct().database('shop').container(coll).item(id, 'p').read()).resource;

  test(`key budget: randomized writes succeed until ${REFUSE_AFTER} seals, then 503 crypto.key_budget within ~2 s; deterministic-only writes and reads keep working; alert logged`, async () => {
    let ok = 0;
    let refused = null;
    const t0 = Date.now();
    let t5 = null;
    for (let i = 0; i < 60 && !refused; i++) {
      const d = doc(`b${i}`);
      const r = await sdkStatus(cust.items.create(d));
      if (r.status === 201) {
        ok++;
        written.push({ id: d.id, ssn: d.ssn, street: d.address.street });
        if (ok === REFUSE_AFTER) t5 = Date.now();
      } else {
        refused = r;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(refused, `no refusal after ${ok} randomized writes in ${Date.now() - t0} ms\n${s.proxy.logTail(10)}`);
    assert.equal(refused.status, 503, `${refused.status} ${refused.message}`);
    assert.equal(refused.detail, 'crypto.key_budget');
    assert.match(refused.message, /rotate/);
    assert.ok(ok >= REFUSE_AFTER, `only ${ok} writes succeeded before the budget refusal`);
    const lag = Date.now() - t5;
    assert.ok(lag < 5000, `refusal came ${lag} ms after the ${REFUSE_AFTER}th seal (checked once a second)`);

    // From now on every randomized write is refused, before anything goes upstream.
    const m = await s.front.quiesce();
    const again = await request({
      url: `${s.proxy.url}dbs/shop/colls/customers/docs`, method: 'POST', key: s.clientKeys.app, ca: s.pki.ca,
      headers: { 'x-ms-documentdb-partitionkey': '["p"]' }, body: doc('refused-raw'),
    });
    assertLocalError(again, 503, 'crypto.key_budget', 'randomized write past the budget');
    assert.equal(s.front.since(m).requests.length, 0, 'the refused write reached the upstream');

    // Deterministic-only container, same key: still works. Reads still decrypt.
    const bypk = s.client('app').database('shop').container('bypk');
    assert.equal((await sdkStatus(bypk.items.create({ id: 't1', tenant: 'tenant-one', n: 1 }))).status, 201, 'protected partition key under v1');
    const det = await sdkStatus(ids.items.create({ id: 'd1', pk: 'p', ssn: 'ssn-d1' }));
    assert.equal(det.status, 201, `deterministic-only write: ${det.status} ${det.message}`);
    assert.equal(envelopeInfo((await stored('ids', 'd1')).ssn).alg, 'deterministic');
    const { resource } = await cust.item(written[0].id, 'p').read();
    assert.equal(resource.ssn, written[0].ssn);
    assert.equal(resource.address.street, written[0].street);

    const mt = await scrape(s.proxy);
    assert.equal(metricSum(mt.samples, 'cosmoseal_key_budget_exhausted'), 1);
    assert.ok(metricSum(mt.samples, 'cosmoseal_key_seals_total', { key: 'pii', version: 1, mode: 'randomized' }) >= REFUSE_AFTER);
    assert.ok(metricSum(mt.samples, 'cosmoseal_refusals_total', { detail: 'crypto.key_budget' }) >= 2);
    const log = s.proxy.log();
    assert.match(log, /warn .*key 'pii' version 1 has sealed \d+ randomized values .*alert_after_seals/);
    assert.match(log, /error .*past keys\.refuse_after_seals/);
  });

  test('rotation: keygen adds pii v2 (primary); after a reload new randomized writes use v2, deterministic ones stay on v1, v1 documents still decrypt', async () => {
    const out = await keygen(keys, 'pii');
    assert.match(out, /version 2/);
    assert.match(out, /deterministic values of 'pii' stay on version 1/);
    const ring = await keyringShow(keys);
    v2 = ring.find((k) => k.name === 'pii' && k.version === 2);
    const r1 = ring.find((k) => k.version === 1);
    assert.ok(v2?.primary && !r1.primary, JSON.stringify(ring));
    assert.ok(r1.deterministic && !v2.deterministic, `deterministic seals stay pinned to v1: ${JSON.stringify(ring)}`);
    assert.notEqual(v2.id, v1.id);

    // Before the reload the running keyring is unchanged: still v1 (and still over budget).
    assert.equal((await sdkStatus(cust.items.create(doc('pre-reload')))).detail, 'crypto.key_budget');

    const r = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(r.status, 200, r.body);

    const isCreate = (x) => x.operation === 'create' && x.status === 201 && x.container === 'customers';
    const createsBefore = readAudit(auditFile).filter(isCreate).length;
    const c = await sdkStatus(cust.items.create(doc('v2-a')));
    assert.equal(c.status, 201, `write after rotation: ${c.status} ${c.message}`);
    const st = await stored('customers', 'v2-a');
    assert.deepEqual(envelopeInfo(st.address), { id: v2.id, alg: 'randomized' });
    // Equal plaintext keeps equal ciphertext across the rotation: the deterministic field stays on v1.
    assert.deepEqual(envelopeInfo(st.ssn), { id: v1.id, alg: 'deterministic' });
    const old = await stored('customers', written[0].id);
    assert.deepEqual(envelopeInfo(old.address), { id: v1.id, alg: 'randomized' });

    // Old and new documents both decrypt through cosmoseal.
    for (const w of [...written, { id: 'v2-a', ssn: 'ssn-v2-a', street: 'street-v2-a' }]) {
      const { resource } = await cust.item(w.id, 'p').read();
      assert.equal(resource.ssn, w.ssn, `ssn of ${w.id}`);
      assert.equal(resource.address.street, w.street, `address of ${w.id}`);
    }
    const feed = await cust.items.readAll().fetchAll();
    assert.equal(feed.resources.length, written.length + 1);
    assert.ok(feed.resources.every((d) => d.ssn === `ssn-${d.id}`), 'read feed decrypts v1 and v2');

    // Audit and metrics name v2 for the new write.
    const rec = await waitFor(() => readAudit(auditFile).filter(isCreate)[createsBefore]);
    assert.deepEqual([...rec.keys].sort(), [v1.id, v2.id].sort(), `audit keys of the write after rotation: ${JSON.stringify(rec)}`);
    assert.ok(await waitFor(async () => (await metricNow(s.proxy, 'cosmoseal_key_seals_total', { key: 'pii', version: 2, id: v2.id, mode: 'randomized' })) >= 1),
      'cosmoseal_key_seals_total{version="2"}');
    assert.ok(await waitFor(async () => (await metricNow(s.proxy, 'cosmoseal_key_opens_total', { key: 'pii', version: 1, id: v1.id })) >= written.length),
      'v1 opens counted');
    // The gauge counts spent key versions, v1 included (it stays spent after the rotation).
    assert.equal(await metricNow(s.proxy, 'cosmoseal_key_budget_exhausted'), 1);
  });

  test('rotation: an equality query on a deterministic field still finds documents written under v1', async () => {
    const w = written[1];
    const q = await cust.items.query({ query: 'SELECT * FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: w.ssn }] }).fetchAll();
    assert.deepEqual(q.resources.map((d) => d.id), [w.id],
      `after rotating pii to v2, WHERE c.ssn = '${w.ssn}' finds ${JSON.stringify(q.resources.map((d) => d.id))}`);
    // ...and the document written after the rotation matches the same way.
    const q2 = await cust.items.query({ query: 'SELECT c.id FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: 'ssn-v2-a' }] }).fetchAll();
    assert.deepEqual(q2.resources.map((d) => d.id), ['v2-a']);
  });

  test('rotation: a point read by a protected (deterministic) partition key still finds a document written under v1', async () => {
    const bypk = s.client('app').database('shop').container('bypk');
    const r = await sdkStatus(bypk.item('t1', 'tenant-one').read());
    assert.equal(r.status, 200,
      `after rotating pii to v2, reading id t1 with partition key 'tenant-one' gives ${r.status}`);
    assert.equal(r.res.resource.tenant, 'tenant-one');
  });

  test('retiring v1: refused while v1 is still the deterministic version; after re-pinning deterministic to v2, v1 documents fail with crypto.unknown_key and new writes use v2 only', async () => {
    const writeRing = (text) => {
      const tmp = `${keys.keyring_file}.tmp`;
      fs.writeFileSync(tmp, text, { mode: 0o600 });
      fs.renameSync(tmp, keys.keyring_file);
    };
    const text = fs.readFileSync(keys.keyring_file, 'utf8');
    const lines = text.split('\n');
    const start = lines.findIndex((l) => /^\s*- version: 1\s*$/.test(l));
    assert.ok(start > 0, `no "- version: 1" entry in the keyring:\n${text}`);
    const indent = lines[start].indexOf('-');
    let end = start + 1;
    while (end < lines.length && lines[end].trim() !== '' && lines[end].search(/\S/) > indent) end++;
    const withoutV1 = [...lines.slice(0, start), ...lines.slice(end)].join('\n');

    // 1. Only the version removed: the keyring still pins deterministic seals to v1 -> refused,
    //    with the file position; the running keyring stays (v1 documents still read).
    writeRing(withoutV1);
    const show = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file]);
    assert.equal(show.code, 1);
    assert.match(show.stderr, /keyring\.yaml:\d+:\d+: key 'pii' names deterministic version 1, which is not among its versions \[keys\.unknown_version\]/);
    const refused = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(refused.status, 422, refused.body);
    assert.match(refused.body, /keyring\.yaml:\d+:\d+: key .pii. names deterministic version 1, which is not among its versions/);
    assert.equal((await cust.item(written[0].id, 'p').read()).resource.ssn, written[0].ssn, 'v1 document after the refused reload');

    // 2. Re-pinned to v2: the reload applies. (Deterministic values sealed under v1 now no longer
    //    open: the documented price of moving them without re-encrypting first.)
    writeRing(withoutV1.replace(/^(\s*)deterministic: 1$/m, '$1deterministic: 2'));
    const ring = await keyringShow(keys);
    assert.deepEqual(ring.map((k) => [k.version, k.primary, k.deterministic]), [[2, true, true]]);
    const r = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(r.status, 200, r.body);
    const old = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/${written[0].id}`, key: s.clientKeys.app, ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
    const j = assertLocalError(old, 502, 'crypto.unknown_key', 'v1 document after retiring v1');
    assert.ok(!old.text.includes(written[0].ssn) && !old.text.includes('csx1:'), 'neither plaintext nor envelope returned');
    assert.match(j.message, new RegExp(v1.id));

    const c = await sdkStatus(cust.items.create(doc('v2-b')));
    assert.equal(c.status, 201, `write after retiring v1: ${c.status} ${c.message}`);
    const st = await stored('customers', 'v2-b');
    assert.deepEqual(envelopeInfo(st.ssn), { id: v2.id, alg: 'deterministic' });
    assert.deepEqual(envelopeInfo(st.address), { id: v2.id, alg: 'randomized' });
    const { resource } = await cust.item('v2-b', 'p').read();
    assert.equal(resource.ssn, 'ssn-v2-b');
    const q = await cust.items.query({ query: 'SELECT c.id FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: 'ssn-v2-b' }] }).fetchAll();
    assert.deepEqual(q.resources.map((d) => d.id), ['v2-b']);
    assert.ok((await metricNow(s.proxy, 'cosmoseal_crypto_failures_total', { detail: 'crypto.unknown_key' })) >= 1);
  });

  test('client key rotation: new key file + reload -> the old key gets 401, the new key works (SDK)', async () => {
    const oldKey = s.clientKeys.app;
    const newKey = randomKey();
    writeKeyFile(s.proxy.clientKeyFiles.app, newKey);
    const url = `${s.proxy.url}dbs/shop/colls/customers/docs/v2-b`;
    const h = { 'x-ms-documentdb-partitionkey': '["p"]' };
    assert.equal((await request({ url, key: oldKey, ca: s.pki.ca, headers: h })).status, 200, 'old key works until the reload');
    s.proxy.child.kill('SIGHUP');
    const flipped = await waitFor(async () => (await request({ url, key: newKey, ca: s.pki.ca, headers: h })).status === 200, { timeoutMs: 4000 });
    assert.ok(flipped, `the new client key is not accepted after SIGHUP\n${s.proxy.logTail(5)}`);
    assertLocalError(await request({ url, key: oldKey, ca: s.pki.ca, headers: h }), 401, 'auth.bad_signature', 'old client key after rotation');
    const sdk = proxyClient(s.proxy, newKey);
    try {
      const { resource } = await sdk.database('shop').container('customers').item('v2-b', 'p').read();
      assert.equal(resource.ssn, 'ssn-v2-b');
    } finally {
      closeClient(sdk);
    }
    const oldSdk = proxyClient(s.proxy, oldKey);
    try {
      const r = await sdkStatus(oldSdk.database('shop').container('customers').item('v2-b', 'p').read());
      assert.equal(r.status, 401);
    } finally {
      closeClient(oldSdk);
    }
  });
});
