// `cosmoseal migrate` (issue 17, items 1-3 and 5; docs/MIGRATION.md) on the multi-partition
// simulator (tests/simulator, 4 ranges): 10,000 plaintext documents written before cosmoseal are
// encrypted in place while an app writes through cosmoseal, the migrator is killed (SIGKILL)
// mid-way and resumed from its lease checkpoints, verify finds no plaintext left and no canary
// reaches the simulator; a rotation runs as two workers sharing one job, after which the old key
// version is retired and reads still work; decrypt writes everything back and the stored
// documents equal the originals byte for byte (system properties aside). Figures are printed as
// `[migrate-figures] {...}` lines for the closing note.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { cosmos } from './lib/deps.mjs';
import { createPki } from './lib/pki.mjs';
import { runCosmoseal, startCosmoseal } from './lib/cosmoseal.mjs';
import { randomKey } from './lib/keys.mjs';
import { envelopeKeyId, isEnvelope, makeKeyring } from './lib/enc.mjs';
import { figures, migrate } from './lib/migrate.mjs';
import { startSimulator } from '../simulator/lib/server.mjs';

const { CosmosClient, BulkOperationType } = cosmos;

const DOCS = 10000;
const DB = 'shop';
const COLL = 'people';
const LEASES = 'cosmoseal-leases';

const strip = (d) => Object.fromEntries(Object.entries(d).filter(([k]) => !k.startsWith('_')));
const original = (i) => ({
  id: `p${i}`,
  tenant: `t${i % 50}`,
  ssn: `SSN-CANARY-${100000 + i}`,
  note: `NOTE-CANARY-${i}-secret`,
  n: i,
  score: i / 4,
  profile: { email: `u${i}@canary.example`, age: i % 90 },
  tags: ['a', { t: i % 7 }],
});

describe('cosmoseal migrate: 10,000 documents on 4 ranges with a live app', () => {
  let dir;
  let pki;
  let sim;
  let proxy;
  let agent;
  let direct;
  let app;
  let c;
  let keys;
  const expected = new Map(); // id -> the document as it must finally be (original or app's last write)
  const base = (extra) => ['--config', proxy.configPath, '--database', DB, '--container', COLL, ...extra];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-migrate-'));
    pki = createPki(dir);
    sim = await startSimulator({ partitions: 4, pki });
    // The existing app's data, written before cosmoseal: plaintext everywhere.
    agent = new https.Agent({ ca: pki.ca, keepAlive: true, maxSockets: 16 });
    direct = new CosmosClient({ endpoint: sim.endpoint, key: sim.key, agent });
    const { database } = await direct.databases.createIfNotExists({ id: DB });
    const { container: raw } = await database.containers.createIfNotExists({ id: COLL, partitionKey: { paths: ['/tenant'], version: 2 } });
    for (let start = 0; start < DOCS; start += 500) {
      const ops = [];
      for (let i = start; i < Math.min(DOCS, start + 500); i++) {
        const d = original(i);
        expected.set(d.id, d);
        ops.push({ operationType: BulkOperationType.Create, partitionKey: d.tenant, resourceBody: d });
      }
      const res = await raw.items.executeBulkOperations(ops);
      assert.ok(res.every((r) => r.response?.statusCode === 201), 'seeding');
    }
    assert.equal(sim.stored(DB, COLL).length, DOCS);
    keys = await makeKeyring(dir, ['pii']);
    const appKey = randomKey();
    proxy = await startCosmoseal({
      dir,
      front: { url: sim.endpoint },
      accountKey: sim.key,
      pki,
      clients: [{ name: 'app', key: appKey }],
      keys,
      policies: [
        {
          database: DB,
          container: COLL,
          fields: [
            { path: '/ssn', mode: 'deterministic', key: 'pii' },
            { path: '/note', mode: 'randomized', key: 'pii' },
            { path: '/profile/email', mode: 'deterministic', key: 'pii' },
          ],
        },
      ],
    });
    app = new CosmosClient({ endpoint: proxy.url, key: appKey, agent: new https.Agent({ ca: pki.ca, keepAlive: true }) });
    c = app.database(DB).container(COLL);
  });

  after(async () => {
    app?.dispose();
    direct?.dispose();
    agent?.destroy();
    await proxy?.stop();
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('usage: decrypt refuses without the confirmation flag; unknown operation; --help', async () => {
    const r = await runCosmoseal(['migrate', 'decrypt', ...base([])]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--i-understand-this-writes-plaintext/);
    assert.equal((await runCosmoseal(['migrate', 'shred', ...base([])])).code, 2);
    const h = await runCosmoseal(['migrate', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--max-ru-per-second/);
  });

  test('verify before: every document holds plaintext at protected paths (dry run writes nothing)', async () => {
    const v = await migrate(['verify', ...base(['--progress', 'json'])]).done;
    assert.equal(v.code, 1, v.stderr);
    assert.equal(v.summary.scanned, DOCS);
    assert.equal(v.summary.scan.plaintext_at_protected, DOCS * 3);
    assert.equal(v.summary.scan.would_change_encrypt, DOCS);
    const dry = await migrate(['encrypt', ...base(['--dry-run'])]).done;
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.summary.would_write, DOCS);
    assert.equal(dry.summary.written, 0);
    assert.ok(sim.stored(DB, COLL).every((d) => !isEnvelope(d.ssn)));
  });

  test('encrypt in place while the app writes; SIGKILL mid-way and resume; zero lost updates, zero plaintext, no canary', async () => {
    sim.clearRequests();
    // Make the retry paths certain: 412s on the migrator's replaces, 429s on its reads.
    const f412 = sim.addFault({ status: 412, count: 5, match: { op: 'replace', path: `/colls/${COLL}/docs/` } });
    const f429 = sim.addFault({ status: 429, retryAfterMs: 40, count: 10, match: { op: 'readFeed', path: `/colls/${COLL}/docs` } });
    let stop = false;
    let appWrites = 0;
    const writer = async (w) => {
      let k = 0;
      while (!stop) {
        const i = (w * 7919 + k * 104729) % DOCS;
        const doc = { ...original(i), n: -1 - k, note: `APP-NOTE-${w}-${k}`, score: k + 0.5 };
        await c.items.upsert(doc);
        expected.set(doc.id, doc);
        if (k % 10 === 0) {
          const fresh = { ...original(DOCS + w * 100000 + k), id: `app-${w}-${k}` };
          await c.items.create(fresh);
          expected.set(fresh.id, fresh);
        }
        appWrites++;
        k++;
      }
    };
    const writers = [0, 1, 2].map(writer);
    const t0 = Date.now();
    let killedAt = 0;
    // The first run is also held to a request-unit budget (the simulator charges 1 RU a request).
    const first = migrate(['encrypt', ...base(['--job', 'enc1', '--threads', '4', '--lease-seconds', '5', '--max-ru-per-second', '3000', '--progress', 'json'])], {
      onLine: (j, child) => {
        if (j.event === 'progress' && j.scanned >= 2500 && !killedAt) {
          killedAt = j.scanned;
          child.kill('SIGKILL');
        }
      },
    });
    const r1 = await first.done;
    assert.equal(r1.signal, 'SIGKILL', `the first run must be killed mid-way: ${JSON.stringify(r1.summary)} ${r1.stderr}`);
    const leases = sim.stored(DB, LEASES).filter((d) => d.kind === 'cosmoseal.migration.lease');
    assert.equal(leases.length, 4, JSON.stringify(leases));
    const checkpointed = leases.filter((l) => l.continuation || l.finished).length;
    assert.ok(checkpointed > 0, 'checkpoints were written before the kill');
    const state1 = sim.stored(DB, LEASES).find((d) => d.kind === 'cosmoseal.migration.state');
    assert.equal(state1.phase, 'running');
    const r2 = await migrate(['encrypt', ...base(['--job', 'enc1', '--threads', '4', '--lease-seconds', '5', '--progress', 'json'])]).done;
    const seconds = (Date.now() - t0) / 1000;
    stop = true;
    await Promise.all(writers);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.summary.phase, 'done');
    assert.ok(r2.summary.scanned < DOCS + appWrites, `the resumed run starts from the checkpoints (${r2.summary.scanned})`);
    assert.equal(f412.remaining, 0, 'the injected 412s were met (and retried)');
    assert.equal(f429.remaining, 0, 'the injected 429s were met (and honoured)');
    const state = sim.stored(DB, LEASES).find((d) => d.kind === 'cosmoseal.migration.state');
    assert.equal(state.phase, 'done');
    assert.equal(state.operation, 'encrypt');

    // Zero plaintext at protected paths (verify marks the migration verified).
    const v = await migrate(['verify', ...base([])]).done;
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.summary.phase, 'verified');
    assert.equal(v.summary.scan.plaintext_at_protected, 0);
    assert.equal(v.summary.scan.open_failures, 0);
    assert.equal(sim.stored(DB, LEASES).find((d) => d.kind === 'cosmoseal.migration.state').phase, 'verified');
    const stored = sim.stored(DB, COLL);
    assert.equal(stored.length, expected.size);
    assert.ok(stored.every((d) => isEnvelope(d.ssn) && isEnvelope(d.note) && isEnvelope(d.profile.email)), 'every protected value sealed');
    // Canaries: none of the original plaintext values was sent to the account during the migration.
    const sample = [0, 1, 2, 3, 4999, 9998, 9999, 1234, 4321, 7777].flatMap((i) => [original(i).ssn, original(i).note, original(i).profile.email]);
    const hits = sample.flatMap((s) => sim.scan(s, { derived: false }));
    assert.deepEqual(hits, [], 'canaries reached the simulator');
    // Zero lost updates: every app write's final value reads back through cosmoseal.
    // (One read feed through cosmoseal decrypts them all; a few point reads as well.)
    let lost = 0;
    const touched = [...expected.values()].filter((d) => d.id.startsWith('app-') || d.n < 0);
    const all = new Map((await c.items.readAll({ maxItemCount: 1000 }).fetchAll()).resources.map((d) => [d.id, strip(d)]));
    assert.equal(all.size, expected.size);
    for (const d of touched) {
      if (JSON.stringify(all.get(d.id)) !== JSON.stringify(d)) lost++;
    }
    for (const d of touched.slice(0, 20)) {
      const { resource } = await c.item(d.id, d.tenant).read();
      if (JSON.stringify(strip(resource)) !== JSON.stringify(d)) lost++;
    }
    assert.equal(lost, 0);
    // The killed run printed no summary: its 412s and 429s are counted from its progress lines.
    const lastProgress = r1.lines.filter((l) => l.event === 'progress').at(-1) ?? {};
    const retries412 = (lastProgress.conflicts_412 ?? 0) + r2.summary.conflicts_412;
    const throttled = (lastProgress.throttled_429 ?? 0) + r2.summary.throttled_429;
    figures('encrypt', {
      documents: DOCS,
      documents_at_end: stored.length,
      app_writes: appWrites,
      app_documents_checked: touched.length,
      seconds,
      killed_after_scanned: killedAt,
      resumed_scanned: r2.summary.scanned,
      written: r2.summary.written,
      retries_412: retries412,
      throttled_429_honoured: throttled,
      injected: { '412': f412.hits, '429': f429.hits },
      lost_updates: lost,
      request_units: r2.summary.request_units,
      verify_plaintext: v.summary.scan.plaintext_at_protected,
      canary_hits: hits.length,
    });
  });

  test('rotate as two workers sharing one job, then retire the old key version', async () => {
    const kg = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', 'pii']);
    assert.equal(kg.code, 0, kg.stderr);
    // Deterministic values move to v2 too, so v1 can be retired afterwards.
    const ring = fs.readFileSync(keys.keyring_file, 'utf8');
    fs.writeFileSync(keys.keyring_file, ring.replace('deterministic: 1', 'deterministic: 2'));
    proxy.child.kill('SIGHUP');
    await sleep(1500);
    const t0 = Date.now();
    const args = (i) => ['rotate', ...base(['--job', 'rot1', '--workers', '2', '--worker-index', String(i), '--threads', '2', '--progress', 'json'])];
    const [w0, w1] = await Promise.all([migrate(args(0)).done, migrate(args(1)).done]);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(w0.code, 0, w0.stderr);
    assert.equal(w1.code, 0, w1.stderr);
    assert.ok(w0.summary.scanned > 0 && w1.summary.scanned > 0, 'both workers took part');
    assert.equal(w0.summary.scanned + w1.summary.scanned, expected.size);
    assert.equal(w0.summary.written + w1.summary.written, expected.size);
    const v = await migrate(['verify', ...base([])]).done;
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.summary.scan.stale_envelopes, 0);
    assert.deepEqual(Object.keys(v.summary.scan.envelopes_by_key), ['pii v2']);
    // Retire v1 with `cosmoseal keyring retire`, then reload.
    const text = fs.readFileSync(keys.keyring_file, 'utf8');
    const v2id = /- version: 2\n\s+id: "?([0-9a-fx]+)"?/.exec(text)[1].replace(/^0x/, '');
    const rt = await runCosmoseal(['keyring', 'retire', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', 'pii', '--version', '1']);
    assert.equal(rt.code, 0, rt.stderr);
    assert.ok(!/- version: 1\n/.test(fs.readFileSync(keys.keyring_file, 'utf8')), 'version 1 is gone from the keyring');
    proxy.child.kill('SIGHUP');
    await sleep(1500);
    assert.ok(proxy.running);
    for (const id of ['p0', 'p5000', 'p9999']) {
      const d = expected.get(id);
      const { resource } = await c.item(id, d.tenant).read();
      assert.deepEqual(strip(resource), d);
    }
    const ids = new Set(sim.stored(DB, COLL).flatMap((d) => [d.ssn, d.note, d.profile.email].map(envelopeKeyId)));
    assert.deepEqual([...ids], [v2id.padStart(8, '0')]);
    figures('rotate', {
      documents: expected.size,
      seconds,
      workers: [w0.summary.scanned, w1.summary.scanned],
      written: w0.summary.written + w1.summary.written,
      retries_412: w0.summary.conflicts_412 + w1.summary.conflicts_412,
      throttled_429_honoured: w0.summary.throttled_429 + w1.summary.throttled_429,
      request_units: w0.summary.request_units + w1.summary.request_units,
      envelopes_by_key: v.summary.scan.envelopes_by_key,
    });
  });

  test('decrypt back: the stored documents equal the originals byte for byte', async () => {
    const t0 = Date.now();
    const d = await migrate(['decrypt', ...base(['--job', 'dec1', '--i-understand-this-writes-plaintext', '--progress', 'json'])]).done;
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.summary.written, expected.size);
    const v = await migrate(['verify', ...base([])]).done;
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.summary.scan.envelopes, 0);
    const stored = sim.stored(DB, COLL);
    assert.equal(stored.length, expected.size);
    let different = 0;
    for (const s of stored) {
      if (JSON.stringify(strip(s)) !== JSON.stringify(expected.get(s.id))) different++;
    }
    assert.equal(different, 0);
    figures('decrypt', { documents: stored.length, seconds: (Date.now() - t0) / 1000, byte_for_byte_differences: different });
  });
});
