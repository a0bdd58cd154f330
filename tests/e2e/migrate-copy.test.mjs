// `cosmoseal migrate copy` (issue 17 item 2; docs/MIGRATION.md, "Protected partition keys") on the
// multi-partition simulator (4 ranges): a container partitioned by /tenant holds 2,000 plaintext
// documents; the new policy protects /tenant itself, which no in-place rewrite can do. The copier
// reads every document of the source by range and upserts it, sealed with the target's policy
// (partition key included), into a new container, while an app keeps writing to the source
// through cosmoseal; the copier is killed (SIGKILL) mid-way and resumed from its leases; after the
// app stops, a catch-up pass (--since the job's next_since) copies what the app wrote meanwhile;
// `verify --against` finds every source document in the copy, equal byte for byte once opened;
// then the app switches to the new container: point reads and equality queries on the sealed
// partition key and a deterministic field return the same documents, and no canary — partition
// key included, in any EPK form — reached the account on a request to the new container.
// Figures: `[migrate-figures] {...}` lines for the closing note.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cosmos } from './lib/deps.mjs';
import { createPki } from './lib/pki.mjs';
import { runCosmoseal, startCosmoseal } from './lib/cosmoseal.mjs';
import { randomKey } from './lib/keys.mjs';
import { isEnvelope, makeKeyring } from './lib/enc.mjs';
import { figures, migrate } from './lib/migrate.mjs';
import { startSimulator } from '../simulator/lib/server.mjs';

const { CosmosClient, BulkOperationType } = cosmos;

const DOCS = 2000;
const TENANTS = 40;
const DB = 'shop';
const SRC = 'people';
const DST = 'people_sealed';
const LEASES = 'cosmoseal-leases';

const strip = (d) => Object.fromEntries(Object.entries(d).filter(([k]) => !k.startsWith('_')));
const tenant = (i) => `TENANT-CANARY-${1000 + (i % TENANTS)}`;
const original = (i) => ({
  id: `p${i}`,
  tenant: tenant(i),
  ssn: `SSN-CANARY-${100000 + i}`,
  note: `NOTE-CANARY-${i}-secret`,
  n: i,
  score: i / 4,
  profile: { email: `u${i}@canary.example`, age: i % 90 },
});

describe('cosmoseal migrate copy: a protected partition key, 2,000 documents on 4 ranges with a live app', () => {
  let dir;
  let sim;
  let proxy;
  let agent;
  let direct;
  let app;
  let src;
  const expected = new Map(); // id -> the document as it must be in the copy
  const figs = {};
  const base = (extra) => ['--config', proxy.configPath, '--database', DB, '--container', SRC, ...extra];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-migrate-copy-'));
    const pki = createPki(dir);
    sim = await startSimulator({ partitions: 4, pki });
    agent = new https.Agent({ ca: pki.ca, keepAlive: true, maxSockets: 16 });
    direct = new CosmosClient({ endpoint: sim.endpoint, key: sim.key, agent });
    const { database } = await direct.databases.createIfNotExists({ id: DB });
    // The app's data, written before cosmoseal: plaintext everywhere, partition key included.
    const { container: raw } = await database.containers.createIfNotExists({ id: SRC, partitionKey: { paths: ['/tenant'], version: 2 } });
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
    // The target, created by the owner (the migrator does not create containers: data-plane RBAC
    // cannot), and one with another partition key to be refused.
    await database.containers.createIfNotExists({ id: DST, partitionKey: { paths: ['/tenant'], version: 2 } });
    await database.containers.createIfNotExists({ id: 'wrong_pk', partitionKey: { paths: ['/region'], version: 2 } });
    const appKey = randomKey();
    const fields = [
      { path: '/ssn', mode: 'deterministic', key: 'pii' },
      { path: '/note', mode: 'randomized', key: 'pii' },
      { path: '/profile/email', mode: 'deterministic', key: 'pii' },
    ];
    proxy = await startCosmoseal({
      dir,
      front: { url: sim.endpoint },
      accountKey: sim.key,
      pki,
      clients: [{ name: 'app', key: appKey }],
      keys: await makeKeyring(dir, ['pii']),
      policies: [
        // Until the cut-over the app writes the old container: its partition key stays plaintext.
        { database: DB, container: SRC, fields },
        // The new container protects the partition key too (sealed deterministically).
        { database: DB, container: DST, fields: [{ path: '/tenant', mode: 'deterministic', key: 'pii' }, ...fields] },
        { database: DB, container: 'wrong_pk', fields },
        { database: DB, container: 'gone', fields },
      ],
    });
    app = new CosmosClient({ endpoint: proxy.url, key: appKey, agent: new https.Agent({ ca: pki.ca, keepAlive: true }) });
    src = app.database(DB).container(SRC);
  });

  after(async () => {
    app?.dispose();
    direct?.dispose();
    agent?.destroy();
    await proxy?.stop();
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('in place is refused; copy needs an existing target with the same partition key and a policy', async () => {
    // encrypt in place on the source with the target's policy would move documents between
    // logical partitions: refused (here the source's own policy does not protect /tenant, so
    // the refusal is shown on the target's policy by encrypting the (empty) target).
    const inPlace = await migrate(['encrypt', '--config', proxy.configPath, '--database', DB, '--container', DST]).done;
    assert.equal(inPlace.code, 1);
    assert.match(inPlace.stderr, /migrate\.protected_partition_key/);
    assert.equal((await runCosmoseal(['migrate', 'copy', ...base([])])).code, 2, 'copy needs --to-container');
    assert.equal((await runCosmoseal(['migrate', 'encrypt', ...base(['--to-container', DST])])).code, 2);
    const noPolicy = await migrate(['copy', ...base(['--to-container', 'nope'])]).done;
    assert.equal(noPolicy.code, 1);
    assert.match(noPolicy.stderr, /migrate\.no_policy/);
    const missing = await migrate(['copy', ...base(['--to-container', 'gone'])]).done;
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /migrate\.target_missing/);
    assert.match(missing.stderr, /RBAC/);
    const h = await runCosmoseal(['migrate', '--help']);
    assert.match(h.stdout, /--to-container/);
    assert.match(h.stdout, /--against/);
    const wrong = await migrate(['copy', ...base(['--to-container', 'wrong_pk'])]).done;
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /migrate\.target_partition_key/);
    assert.equal(sim.stored(DB, 'wrong_pk').length, 0);
    const dry = await migrate(['copy', ...base(['--to-container', DST, '--dry-run'])]).done;
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.summary.would_write, DOCS);
    assert.equal(sim.stored(DB, DST).length, 0, 'a dry run writes nothing');
  });

  test('copy while the app writes; SIGKILL mid-way and resume; catch-up; verify; no canary', async () => {
    sim.clearRequests();
    const f429read = sim.addFault({ status: 429, retryAfterMs: 40, count: 5, match: { op: 'readFeed', path: `/colls/${SRC}/docs` } });
    const f429write = sim.addFault({ status: 429, retryAfterMs: 40, count: 5, match: { op: 'upsert', path: `/colls/${DST}/docs` } });
    let stop = false;
    let appWrites = 0;
    const writer = async (w) => {
      let k = 0;
      while (!stop) {
        // The app rewrites documents among the first 300 (and adds new ones).
        const i = (w * 7919 + k * 104729) % 300;
        const doc = { ...original(i), n: -1 - k, note: `APP-NOTE-${w}-${k}`, score: k + 0.5 };
        await src.items.upsert(doc);
        expected.set(doc.id, doc);
        if (k % 10 === 0) {
          const fresh = { ...original(DOCS + w * 100000 + k), id: `app-${w}-${k}` };
          await src.items.create(fresh);
          expected.set(fresh.id, fresh);
        }
        appWrites++;
        k++;
      }
    };
    const writers = [0, 1, 2].map(writer);
    const t0 = Date.now();
    let killedAt = 0;
    const args = ['--job', 'copy1', '--threads', '4', '--page-size', '50', '--lease-seconds', '5', '--progress', 'json'];
    // The first run is held to a request-unit budget (the simulator charges 1 RU a request), so
    // the kill lands mid-way.
    const first = migrate(['copy', ...base(['--to-container', DST, ...args, '--max-ru-per-second', '400'])], {
      onLine: (j, child) => {
        if (j.event === 'progress' && j.scanned >= 300 && !killedAt) {
          killedAt = j.scanned;
          child.kill('SIGKILL');
        }
      },
    });
    const r1 = await first.done;
    assert.equal(r1.signal, 'SIGKILL', `the first run must be killed mid-way: ${JSON.stringify(r1.summary)} ${r1.stderr}`);
    const leases = sim.stored(DB, LEASES).filter((d) => d.kind === 'cosmoseal.migration.lease' && d.job === 'copy1');
    assert.equal(leases.length, 4, JSON.stringify(leases));
    assert.ok(leases.some((l) => l.continuation || l.finished), 'checkpoints were written before the kill');
    const copied1 = sim.stored(DB, DST).length;
    assert.ok(copied1 > 0 && copied1 < DOCS, `part of the copy is there (${copied1})`);
    const job = sim.stored(DB, LEASES).find((d) => d.id === 'copy.copy1');
    assert.equal(job.phase, 'running');
    // The source's state document (what the sidecar reads for a migration) is not touched.
    assert.equal(sim.stored(DB, LEASES).filter((d) => d.kind === 'cosmoseal.migration.state').length, 0);

    const r2 = await migrate(['copy', ...base(['--to-container', DST, ...args])]).done;
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.summary.phase, 'done');
    assert.ok(r2.summary.scanned < DOCS + appWrites, `the resumed run starts from the checkpoints (${r2.summary.scanned})`);
    assert.ok(r2.summary.next_since > 0);
    // The cut-over window opens: the app stops writing to the old container.
    stop = true;
    await Promise.all(writers);
    const catchUp = await migrate(['copy', ...base(['--to-container', DST, '--since', String(r2.summary.next_since), '--progress', 'json', '--verify'])]).done;
    assert.equal(catchUp.code, 0, catchUp.stderr);
    const [cu, cv] = catchUp.summaries;
    assert.equal(cu.phase, 'done');
    assert.equal(cu.since, r2.summary.next_since);
    assert.equal(cu.scanned, expected.size);
    assert.ok(cu.written > 0 && cu.written < expected.size / 2, `the catch-up writes only what changed since (${cu.written})`);
    assert.equal(cu.written + cu.unchanged, cu.scanned);
    assert.equal(cv.phase, 'verified');
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(f429read.remaining, 0, 'the injected 429s on reads were met (and honoured)');
    assert.equal(f429write.remaining, 0, 'the injected 429s on writes were met (and honoured)');

    // verify --against, on its own: every source document is in the copy, equal once opened.
    const v = await migrate(['verify', '--config', proxy.configPath, '--database', DB, '--container', DST, '--against', SRC, '--progress', 'json']).done;
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.summary.phase, 'verified');
    assert.equal(v.summary.matched, expected.size);
    assert.equal(v.summary.missing + v.summary.different + v.summary.target_plaintext, 0);
    assert.deepEqual(v.summary.mismatches, []);
    assert.equal(v.summary.scan.plaintext_at_protected, 0);

    // The stored copy: every protected value sealed, partition key included; the source as it was.
    const stored = sim.stored(DB, DST);
    assert.equal(stored.length, expected.size);
    assert.ok(stored.every((d) => isEnvelope(d.tenant) && isEnvelope(d.ssn) && isEnvelope(d.note) && isEnvelope(d.profile.email)), 'every protected value sealed');
    assert.ok(sim.stored(DB, SRC).every((d) => !isEnvelope(d.tenant)), 'the source is only read');
    // Canaries: on no request to the new container, in no form (EPK of the partition key included),
    // and nowhere in its stored documents.
    const toDst = new Set(sim.requests().filter((r) => r.url.includes(`/colls/${DST}`)).map((r) => r.seq));
    const sample = [0, 1, 2, 999, 1998, 1999, 1234].map(original);
    const canaries = [...new Set([...sample.flatMap((d) => [d.ssn, d.note, d.profile.email]), ...Array.from({ length: TENANTS }, (_, i) => tenant(i))])];
    const hits = canaries.flatMap((s) => sim.scan(s).filter((h) => toDst.has(h.seq)).map((h) => ({ s, ...h })));
    assert.deepEqual(hits, [], 'canaries reached the new container');
    const storedText = JSON.stringify(stored);
    assert.deepEqual(canaries.filter((s) => storedText.includes(s)), [], 'canaries stored in the new container');

    // Lost updates: every document of the old container, the app's last writes included, reads
    // back from the new one through cosmoseal as it must be.
    const dst = app.database(DB).container(DST);
    const all = new Map((await dst.items.readAll({ maxItemCount: 1000 }).fetchAll()).resources.map((d) => [d.id, strip(d)]));
    assert.equal(all.size, expected.size);
    let lost = 0;
    for (const [id, d] of expected) if (JSON.stringify(all.get(id)) !== JSON.stringify(d)) lost++;
    assert.equal(lost, 0);
    const lastProgress = r1.lines.filter((l) => l.event === 'progress').at(-1) ?? {};
    Object.assign(figs, {
      documents: DOCS,
      documents_at_end: expected.size,
      app_writes: appWrites,
      seconds,
      killed_after_scanned: killedAt,
      copied_before_kill: copied1,
      resumed_scanned: r2.summary.scanned,
      resumed_written: r2.summary.written,
      catch_up_scanned: cu.scanned,
      catch_up_written: cu.written,
      retries_412: (lastProgress.conflicts_412 ?? 0) + r2.summary.conflicts_412 + cu.conflicts_412,
      throttled_429_honoured: (lastProgress.throttled_429 ?? 0) + r2.summary.throttled_429 + cu.throttled_429,
      injected_429: { read: f429read.hits, write: f429write.hits },
      request_units: r2.summary.request_units + cu.request_units,
      verify: { matched: v.summary.matched, missing: v.summary.missing, different: v.summary.different, target_plaintext: v.summary.target_plaintext, seconds: v.summary.seconds },
      lost_updates: lost,
      canary_hits: hits.length,
    });
  });

  test('cut-over: the app reads and queries the new container through cosmoseal', async () => {
    const dst = app.database(DB).container(DST);
    const byTenant = new Map();
    for (const d of expected.values()) byTenant.set(d.tenant, (byTenant.get(d.tenant) ?? 0) + 1);
    // Point reads: the partition key sealed by the sidecar finds the copied document.
    for (const id of ['p0', 'p1', 'p777', 'p1999', [...expected.keys()].find((k) => k.startsWith('app-'))]) {
      const d = expected.get(id);
      const { resource } = await dst.item(id, d.tenant).read();
      assert.deepEqual(strip(resource), d);
    }
    // Equality on the sealed partition key: cross-partition and scoped to the partition.
    for (const t of [tenant(0), tenant(17), tenant(39)]) {
      const q = { query: 'SELECT * FROM c WHERE c.tenant = @t', parameters: [{ name: '@t', value: t }] };
      const cross = (await dst.items.query(q).fetchAll()).resources;
      assert.equal(cross.length, byTenant.get(t), `tenant ${t}`);
      assert.ok(cross.every((d) => JSON.stringify(strip(d)) === JSON.stringify(expected.get(d.id))));
      const scoped = (await dst.items.query(q, { partitionKey: t }).fetchAll()).resources;
      assert.equal(scoped.length, byTenant.get(t));
    }
    // Equality on another deterministic field.
    const d5 = expected.get('p5');
    const bySsn = (await dst.items.query({ query: 'SELECT * FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: d5.ssn }] }).fetchAll()).resources;
    assert.deepEqual(bySsn.map(strip), [d5]);
    // The app writes to the new container now: sealed, partition key included.
    await dst.items.create({ ...original(5000), id: 'after-cutover' });
    const after = sim.stored(DB, DST).find((d) => d.id === 'after-cutover');
    assert.ok(isEnvelope(after.tenant));
    figs.cutover_queries = 'ok';
  });

  test('verify --against lists a missing and a changed document by id and exits 1', async () => {
    const dst = app.database(DB).container(DST);
    await dst.item('p3', expected.get('p3').tenant).delete();
    await dst.items.upsert({ ...expected.get('p4'), n: 123456 });
    const v = await migrate(['verify', '--config', proxy.configPath, '--database', DB, '--container', DST, '--against', SRC]).done;
    assert.equal(v.code, 1);
    assert.equal(v.summary.phase, 'not_verified');
    assert.equal(v.summary.missing, 1);
    assert.equal(v.summary.different, 1);
    assert.deepEqual(
      v.summary.mismatches.sort((a, b) => a.id.localeCompare(b.id)),
      [
        { id: 'p3', reason: 'missing' },
        { id: 'p4', reason: 'different' },
      ],
    );
    figs.tampered_verify = { missing: v.summary.missing, different: v.summary.different };
    figures('copy', figs);
  });
});
