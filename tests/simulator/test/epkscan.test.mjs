// The canary scan's plaintext-derived forms: an effective partition key (V2, V1, a MultiHash
// component) or a raw MurmurHash3 output of a canary, anywhere in a request, is found and marked
// `derived` — what an SDK sends when it hashes a protected partition key itself (issue 15).

import test from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { CosmosClient, ChangeFeedStartFrom } from '@azure/cosmos';
import { startSimulator, derivedForms } from '../lib/server.mjs';
import { epkMultiHash, epkV1, epkV2 } from '../lib/hash.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOCS = '/dbs/db1/colls/c1/docs';
const CANARY = 'SSN-078-05-1120';

test('derived forms of a canary', () => {
  const forms = derivedForms(CANARY);
  const by = Object.fromEntries(forms.map((f) => [f.form, f.value]));
  assert.equal(by['epk-v2'], epkV2([CANARY]));
  assert.equal(by['epk-v2-lower'], epkV2([CANARY]).toLowerCase());
  assert.equal(by['epk-v1'], epkV1([CANARY]));
  assert.equal(by['murmur3-x64-128-be'].slice(1), epkV2([CANARY]).slice(1), 'the EPK is the raw hash with the top two bits cleared');
  assert.equal(by['murmur3-x86-32-le'].match(/../g).reverse().join(''), by['murmur3-x86-32-be']);
  assert.ok(forms.every((f) => f.derived));
  assert.equal(derivedForms('5').filter((f) => f.form === 'epk-v2-number')[0].value, epkV2([5]), 'a numeric text is hashed as the number too');
});

test('scan() finds EPKs and raw hashes of a canary in url, headers and body', async (t) => {
  const sim = await startSimulator({ partitions: 3, tls: false });
  t.after(() => sim.stop());
  await makeCollection(sim);
  await makeCollection(sim, { db: 'db1', coll: 'h1', partitionKey: { paths: ['/t', '/u'], kind: 'MultiHash', version: 2 } });
  sim.clearRequests();
  const feed = (headers, path = DOCS) => call(sim, { path, headers: { 'a-im': 'Incremental Feed', 'x-ms-documentdb-partitionkeyrangeid': '0', ...headers } });

  // What Python's query_items_change_feed(partition_key=...) sends: EPK bounds, no key header
  // (the end bound, the EPK plus one, is not the EPK: only the start is a hit).
  const epk = epkV2([CANARY]);
  await feed({ 'x-ms-start-epk': epk, 'x-ms-end-epk': `${epk.slice(0, -1)}${(parseInt(epk.at(-1), 16) + 1).toString(16).toUpperCase()}` });
  // A hierarchical prefix: the canary is the second level, its V2 hash the second 32 digits.
  const multi = epkMultiHash(['tenant-a', CANARY]);
  await feed({ 'x-ms-start-epk': multi, 'x-ms-end-epk': `${multi}FF` }, '/dbs/db1/colls/h1/docs');
  // Lower-case EPK in a query body, V1 EPK in a URL, a raw hash in a header.
  await call(sim, { method: 'POST', path: DOCS, body: { query: `SELECT * FROM c WHERE c.x = "${epk.toLowerCase()}"` }, headers: { 'x-ms-documentdb-isquery': 'true', 'content-type': 'application/query+json', ...pkHeader('p') } });
  await call(sim, { path: `${DOCS}/${epkV1([CANARY])}`, headers: pkHeader('p') });
  const raw = derivedForms(CANARY).find((f) => f.form === 'murmur3-x64-128-le').value;
  await call(sim, { path: `${DOCS}/x`, headers: { ...pkHeader('p'), 'x-custom': raw } });
  await call(sim, { path: `${DOCS}/unrelated`, headers: pkHeader('p'), body: undefined });

  const hits = sim.scan(CANARY);
  const seq0 = sim.requests()[0].seq;
  assert.deepEqual(
    hits.map((h) => `${h.seq - seq0}:${h.where}:${h.form}:${h.derived}`),
    [
      '0:header:x-ms-start-epk:epk-v2:true',
      '1:header:x-ms-start-epk:epk-v2:true',
      '1:header:x-ms-end-epk:epk-v2:true',
      '2:body:epk-v2-lower:true',
      '3:url:epk-v1:true',
      '4:header:x-custom:murmur3-x64-128-le:true',
    ],
  );
  assert.deepEqual(sim.scan(CANARY, { derived: false }), [], 'no textual form was sent');
  assert.deepEqual(sim.scan('never-sent-4411'), []);

  const admin = (q) => call(sim, { path: `/_sim/scan?${q}`, sign: false });
  assert.equal((await admin(`s=${encodeURIComponent(CANARY)}`)).json.length, hits.length);
  assert.deepEqual((await admin(`s=${encodeURIComponent(CANARY)}&derived=false`)).json, []);
});

test('the JS SDK hashing a canary itself is caught: change feed on a hierarchical-key prefix', async (t) => {
  const sim = await startSimulator({ partitions: 3 });
  const agent = new https.Agent({ ca: sim.ca, keepAlive: true });
  const client = new CosmosClient({ endpoint: sim.endpoint, key: sim.key, agent });
  t.after(async () => {
    client.dispose();
    agent.destroy();
    await sim.stop();
  });
  const { database } = await client.databases.createIfNotExists({ id: 'db' });
  const { container } = await database.containers.createIfNotExists({ id: 'h', partitionKey: { paths: ['/t', '/u'], kind: 'MultiHash', version: 2 } });
  await container.items.create({ id: 'a', t: CANARY, u: 'x' });
  sim.clearRequests();
  // A prefix key: the SDK computes the EPK range of [CANARY] and sends it, with no key header.
  const it = container.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning([CANARY]) });
  assert.equal((await it.readNext()).result.length, 1);
  const hits = sim.scan(CANARY);
  assert.deepEqual(hits.map((h) => `${h.op}:${h.where}:${h.form}:${h.derived}`), ['changeFeed:header:x-ms-start-epk:epk-v2:true', 'changeFeed:header:x-ms-end-epk:epk-v2:true']);
  assert.deepEqual(sim.scan(CANARY, { derived: false }), [], 'no textual form: only the hash gives it away');
});
