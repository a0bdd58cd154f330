// The tamper-evident audit log (proxy/audit.h, docs/OPERATIONS.md "Audit log"):
// one JSON line per request including refusals (401, 403, 429, framing 400s), the documented
// fields with correct values for known requests, no canary (protected values, keys, signatures)
// anywhere in the file, `cosmoseal audit verify` accepting the file and naming the line of a
// deleted / edited / swapped record, rotation by `mv` + SIGUSR1 (the chain continues across
// files), the chain continuing across a restart, and `audit.required` with an unwritable path
// (503 audit.unavailable, nothing forwarded).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { startCosmoseal } from './lib/cosmoseal.mjs';
import { request, rawExchange } from './lib/raw.mjs';
import { parseAuthorization, signedHeaders } from './lib/auth.mjs';
import { payloadBytes } from './lib/payloads.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { randomKey } from './lib/keys.mjs';
import { auditLines, auditVerify, keyringShow, makeKeyring, metricNow, readAudit, waitFor } from './lib/ops.mjs';

const FIELDS = ['seq', 'time', 'client', 'verb', 'resource', 'database', 'container', 'id', 'operation', 'status',
  'upstream_status', 'latency_us', 'request_charge', 'encrypted', 'decrypted', 'detail', 'keys', 'prev', 'hash'];

const SSN = '219-09-9999-AUDITCANARY';
const STREET = '77 Canary Wharf Audit Lane';

describe('audit log', () => {
  let s;
  let keys;
  let file;
  let piiId;
  const sigs = []; // signatures sent by the tests (must never be logged)

  before(async () => {
    const dir = (await import('./lib/paths.mjs')).makeWorkDir('audit');
    keys = await makeKeyring(dir, ['pii']);
    piiId = (await keyringShow(keys)).find((k) => k.name === 'pii').id;
    s = await startStack({
      dir,
      clients: [
        { name: 'app' },
        { name: 'ro', allow: [{ database: 'shop', containers: ['orders'], access: 'read' }] },
        { name: 'lim', rate: { requests_per_second: 1, burst: 1 } },
      ],
      keys,
      policies: [{ database: 'shop', container: 'customers', fields: [
        { path: '/ssn', mode: 'deterministic', key: 'pii' },
        { path: '/address', mode: 'randomized', key: 'pii' },
      ] }],
      extra: { workers: 1, audit: { path: 'audit.log' } },
    });
    file = path.join(dir, 'audit.log');
    for (const c of [SSN, STREET]) s.front.addCanary(c);
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    for (const id of ['customers', 'orders']) await database.containers.createIfNotExists({ id, partitionKey: { paths: ['/pk'] } });
  });

  after(async () => {
    s?.front.assertClean();
    await s?.stop();
  });

  /**
   * Runs `fn` and returns the audit records it added, once `ready(records)` holds (default: at
   * least one record). Records are written asynchronously, and the SDK may send metadata requests
   * first, so tests wait for the record they are about.
   */
  async function recordsOf(fn, ready = (recs) => recs.length >= 1) {
    const before = auditLines(file).length;
    await fn();
    const got = await waitFor(() => {
      const recs = readAudit(file).slice(before);
      return ready(recs) ? recs : null;
    }, { timeoutMs: 4000 });
    assert.ok(got, `the expected audit record(s) did not arrive: ${JSON.stringify(readAudit(file).slice(before)).slice(0, 600)}`);
    return got;
  }
  const hasOp = (op) => (recs) => recs.some((r) => r.operation === op);

  /** One raw request signed here (so the test knows the signature it must never find logged). */
  const req = (o) => {
    const headers = { ...(o.headers || {}) };
    if (o.key) {
      const h = signedHeaders({ method: o.method ?? 'GET', path: `/${o.path ?? ''}`, key: o.key });
      sigs.push(parseAuthorization(h.authorization).sig);
      Object.assign(headers, h);
    }
    return request({ ca: s.pki.ca, method: o.method, body: o.body, headers, url: `${s.proxy.url}${o.path ?? ''}` });
  };

  test('known requests: fields and values (create with encryption, read with decryption, 404, 401, 403, 429, framing 400)', async () => {
    const app = s.client('app').database('shop').container('customers');
    await app.read(); // warm the SDK caches (account, container) so the next calls are single requests

    // 1. create with two protected fields
    const [create] = (await recordsOf(() => app.items.create({ id: 'au-1', pk: 'p1', ssn: SSN, address: { street: STREET }, name: 'Ada' }), hasOp('create')))
      .filter((r) => r.operation === 'create');
    assert.ok(create, 'a create record');
    for (const f of FIELDS) assert.ok(f in create, `field ${f} missing in ${JSON.stringify(create)}`);
    assert.equal(create.client, 'app');
    assert.equal(create.verb, 'POST');
    assert.equal(create.database, 'shop');
    assert.equal(create.container, 'customers');
    assert.equal(create.status, 201);
    assert.equal(create.upstream_status, 201);
    assert.equal(create.detail, '');
    assert.equal(create.encrypted, 2);
    assert.deepEqual(create.keys, [piiId]);
    assert.match(create.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(create.time) - Date.now()) < 60_000, `time ${create.time}`);
    assert.equal(typeof create.request_charge, 'string'); // x-ms-request-charge (the emulator sends none)
    assert.ok(create.latency_us > 0);
    assert.match(create.prev, /^[0-9a-f]{64}$/);
    assert.match(create.hash, /^[0-9a-f]{64}$/);

    // 2. point read, decrypted
    const [read] = (await recordsOf(() => app.item('au-1', 'p1').read(), hasOp('read'))).filter((r) => r.operation === 'read');
    assert.equal(read.resource, 'document');
    assert.equal(read.id, 'au-1');
    assert.equal(read.verb, 'GET');
    assert.equal(read.status, 200);
    assert.equal(read.upstream_status, 200);
    assert.equal(read.decrypted, 2);
    assert.equal(read.encrypted, 0);

    // 3. upstream 404 passes through: status and upstream_status 404, no detail
    const byId = (id) => (recs) => recs.some((r) => r.id === id);
    const nf = (await recordsOf(() => req({ path: 'dbs/shop/colls/gone/docs/nope', key: s.clientKeys.app, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } }), byId('nope')))
      .find((r) => r.id === 'nope');
    assert.equal(nf.status, 404);
    assert.equal(nf.upstream_status, 404);
    assert.equal(nf.detail, '');
    assert.equal(nf.id, 'nope');

    // 4. wrong key: 401, no client, nothing upstream
    const bad = (await recordsOf(async () => {
      const r = await req({ path: 'dbs/shop/colls/orders/docs/x1', key: randomKey(), headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
      assertLocalError(r, 401, 'auth.bad_signature', 'wrong key');
    }, byId('x1'))).find((r) => r.id === 'x1');
    assert.equal(bad.status, 401);
    assert.equal(bad.upstream_status, 0);
    assert.equal(bad.detail, 'auth.bad_signature');
    assert.equal(bad.client, '');
    assert.equal(bad.id, 'x1');

    // 5. rules: 403
    const denied = (await recordsOf(async () => {
      const r = await req({ path: 'dbs/shop/colls/customers/docs/au-1', key: s.clientKeys.ro, headers: { 'x-ms-documentdb-partitionkey': '["p1"]' } });
      assertLocalError(r, 403, 'rules.denied', 'ro on customers');
    }, (recs) => recs.some((r) => r.client === 'ro'))).find((r) => r.client === 'ro');
    assert.equal(denied.client, 'ro');
    assert.equal(denied.status, 403);
    assert.equal(denied.upstream_status, 0);
    assert.equal(denied.detail, 'rules.denied');
    assert.equal(denied.operation, 'read');
    assert.equal(denied.decrypted, 0);

    // 6. throttling: 429
    const lim = await recordsOf(async () => {
      await sleep(1100);
      const h = { 'x-ms-documentdb-partitionkey': '["p"]' };
      const a = await req({ path: 'dbs/shop/colls/gone/docs/l1', key: s.clientKeys.lim, headers: h });
      const b = await req({ path: 'dbs/shop/colls/gone/docs/l2', key: s.clientKeys.lim, headers: h });
      assert.equal(a.status, 404);
      assertLocalError(b, 429, 'throttle.rate', 'lim second request');
    }, (recs) => recs.some((r) => r.id === 'l2'));
    const thr = lim.find((r) => r.id === 'l2');
    assert.equal(thr.client, 'lim');
    assert.equal(thr.status, 429);
    assert.equal(thr.upstream_status, 0);
    assert.equal(thr.detail, 'throttle.rate');

    // 7. framing: CL + TE smuggling attempt -> 400 before any head is accepted
    const smug = (await recordsOf(async () => {
      const data = await payloadBytes('cl-te.http', { host: `localhost:${s.proxy.port}`, key: s.clientKeys.app });
      const x = await rawExchange({ port: s.proxy.port, tls: { ca: s.pki.ca }, data, timeoutMs: 3000 });
      assert.equal(x.responses[0]?.status, 400);
    }, (recs) => recs.some((r) => r.detail === 'http1.cl_and_te'))).find((r) => r.detail === 'http1.cl_and_te');
    assert.equal(smug.status, 400);
    assert.equal(smug.detail, 'http1.cl_and_te');
    assert.equal(smug.upstream_status, 0);
    assert.equal(smug.client, '');

    // Sequence numbers are consecutive over the whole file.
    const all = readAudit(file);
    all.forEach((r, i) => assert.equal(r.seq, all[0].seq + i, `seq at line ${i + 1}`));
    assert.equal(all[0].seq, 1);
    assert.equal(all[0].prev, '0'.repeat(64), 'the first record of a new log has prev = 64 zeros');
    for (let i = 1; i < all.length; i++) assert.equal(all[i].prev, all[i - 1].hash, `prev of line ${i + 1}`);
  });

  test('no canary anywhere in the file: protected values, client/account keys, KEK, signatures', async () => {
    // A few more requests with signatures we know.
    for (const k of ['app', 'ro']) {
      const r = await req({ path: 'dbs/shop/colls/gone/docs/sig', key: s.clientKeys[k], headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
      assert.ok(r.status === 404 || r.status === 403);
    }
    const direct = [...s.front.requests].map((q) => q.headers?.authorization).filter(Boolean);
    for (const a of direct) sigs.push(parseAuthorization(a).sig);
    const text = fs.readFileSync(file, 'utf8');
    const secrets = {
      ssn: SSN, street: STREET, 'account key': s.accountKey, kek: fs.readFileSync(keys.kek_file, 'utf8').trim(),
      ...Object.fromEntries(Object.entries(s.clientKeys).map(([n, k]) => [`client key ${n}`, k])),
      ...Object.fromEntries(sigs.map((g, i) => [`signature ${i}`, g])),
    };
    assert.ok(sigs.length > 3, 'signatures collected');
    for (const [what, v] of Object.entries(secrets)) {
      for (const form of [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1), v.slice(0, 24)]) {
        assert.ok(!text.includes(form), `${what} appears in the audit log`);
      }
    }
    assert.ok(!/csx1:/.test(text), 'an envelope appears in the audit log');
    // cosmoseal's own log (stderr) must not carry them either.
    const log = s.proxy.log();
    for (const [what, v] of Object.entries(secrets)) {
      for (const form of [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1)]) {
        assert.ok(!log.includes(form), `${what} appears in cosmoseal's log`);
      }
    }
    assert.ok(!/authorization|type%3dmaster|sig%3d/i.test(text), 'an authorization header appears in the audit log');
  });

  test('cosmoseal audit verify: exit 0 on the live file; names the line after a deletion, an edit, a swap', async () => {
    const ok = await auditVerify(file);
    assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}`);
    const n = auditLines(file).length;
    assert.match(ok.stdout, new RegExp(`OK: ${n} records`));

    const lines = auditLines(file);
    assert.ok(lines.length >= 8, `${lines.length} lines`);
    const tamper = async (name, mutated, line, re) => {
      const f = path.join(s.dir, `tampered-${name}.log`);
      fs.writeFileSync(f, `${mutated.join('\n')}\n`);
      const r = await auditVerify(f);
      assert.notEqual(r.code, 0, `${name}: verify passed:\n${r.stdout}`);
      const out = `${r.stdout}${r.stderr}`;
      assert.ok(out.includes(`${f}:${line}:`), `${name}: should name ${f}:${line}: ${out}`);
      assert.match(out, re, `${name}: ${out}`);
    };
    const k = 4; // 1-based line to tamper with
    await tamper('deleted', lines.filter((_, i) => i !== k - 1), k, /does not link|missing/);
    const edited = [...lines];
    edited[k - 1] = edited[k - 1].replace(/"status":(\d+)/, (_, v) => `"status":${v === '200' ? 201 : 200}`);
    assert.notEqual(edited[k - 1], lines[k - 1]);
    await tamper('edited', edited, k, /does not match its hash|edited/);
    const swapped = [...lines];
    [swapped[k - 1], swapped[k]] = [swapped[k], swapped[k - 1]];
    await tamper('swapped', swapped, k, /does not link|reordered/);
    const inserted = [...lines];
    inserted.splice(k, 0, lines[k - 1]);
    await tamper('duplicated', inserted, k + 1, /does not link|follows/);
    const truncated = [...lines];
    truncated[k - 1] = truncated[k - 1].slice(0, 60);
    await tamper('truncated', truncated, k, /not a chained audit record/);
  });

  test('rotation: mv audit.log audit.log.1 + SIGUSR1 -> a new audit.log; verify audit.log.1 audit.log passes', async () => {
    const rotated = `${file}.1`;
    fs.renameSync(file, rotated);
    // Requests between the mv and the signal still land in the renamed file (same inode).
    await req({ path: 'dbs/shop/colls/gone/docs/before-signal', key: s.clientKeys.app, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
    await waitFor(() => auditLines(rotated).some((l) => l.includes('before-signal')));
    s.proxy.child.kill('SIGUSR1');
    assert.ok(await waitFor(() => fs.existsSync(file), { timeoutMs: 3000 }), `${file} not reopened after SIGUSR1\n${s.proxy.logTail(5)}`);
    assert.equal(fs.statSync(file).mode & 0o077, 0, 'the new audit file is not group/other accessible');
    for (let i = 0; i < 3; i++) {
      await req({ path: `dbs/shop/colls/gone/docs/after-${i}`, key: s.clientKeys.app, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
    }
    assert.ok(await waitFor(() => auditLines(file).length >= 3), 'records in the new file');
    const old = readAudit(rotated);
    const neu = readAudit(file);
    assert.ok(neu.some((r) => r.id === 'after-0') && !old.some((r) => r.id === 'after-0'), 'new requests go to the new file');
    assert.equal(neu[0].seq, old.at(-1).seq + 1, 'seq continues across files');
    assert.equal(neu[0].prev, old.at(-1).hash, 'the new file links to the old one');
    const v = await auditVerify(rotated, file);
    assert.equal(v.code, 0, `${v.stdout}${v.stderr}`);
    const wrongOrder = await auditVerify(file, rotated);
    assert.notEqual(wrongOrder.code, 0, 'files in the wrong order must fail');
    assert.equal(await metricNow(s.proxy, 'cosmoseal_audit_write_failures_total'), 0);
  });

  test('a restart continues the chain of the existing file', async () => {
    const before = readAudit(file).at(-1);
    await s.proxy.stop();
    const old = s.proxy;
    s.proxy = await startCosmoseal({
      dir: s.dir, front: s.front, accountKey: s.accountKey, pki: s.pki, clients: s.clients, keys,
      policies: old.config.policies, extra: { workers: 1, audit: { path: 'audit.log' } }, logName: 'cosmoseal-2.log',
    });
    await req({ path: 'dbs/shop/colls/gone/docs/after-restart', key: s.clientKeys.app, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
    const first = await waitFor(() => readAudit(file).find((r) => r.seq === before.seq + 1));
    assert.ok(first, 'a record after the restart');
    assert.equal(first.prev, before.hash);
    const v = await auditVerify(`${file}.1`, file);
    assert.equal(v.code, 0, `${v.stdout}${v.stderr}`);
  });
});

describe('audit.required with an unwritable log', () => {
  let s;
  let px;
  before(async () => {
    s = await startStack({ name: 'audit-required', cosmoseal: false });
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/pk'] } });
    s.clients = [{ name: 'app', key: randomKey() }];
    s.clientKeys = { app: s.clients[0].key };
  });
  after(async () => {
    await px?.stop().catch(() => px.kill());
    await s?.stop();
  });

  const get = (id) => request({ url: `${px.url}dbs/shop/colls/gone/docs/${id}`, key: s.clientKeys.app, ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });

  test('audit {path: /dev/full, required: true}: cosmoseal refuses to start, so no request is ever forwarded unaudited', async () => {
    // The audit log is proven writable at startup (a synchronous audit_started record): with
    // required: true an unwritable log is a startup error, not something found by the first request.
    const m = await s.front.quiesce();
    const dir = path.join(s.dir, 'px');
    await assert.rejects(
      startCosmoseal({
        dir, front: s.front, accountKey: s.accountKey, pki: s.pki, clients: s.clients,
        extra: { workers: 1, audit: { path: '/dev/full', required: true } }, readyTimeoutMs: 4000,
      }),
      'cosmoseal must not become ready with an unwritable required audit log',
    );
    const log = fs.readFileSync(path.join(dir, 'cosmoseal.log'), 'utf8');
    assert.match(log, /cannot write the audit log '\/dev\/full'/, log);
    assert.match(log, /audit\.required: cosmoseal does not start without it/, log);
    assert.equal(s.front.since(m).requests.length, 0, 'nothing may reach the server');
  });

  test('audit {path: /dev/full, required: false}: cosmoseal serves, drops the records and counts the write failures', async () => {
    px = await startCosmoseal({
      dir: path.join(s.dir, 'px2'), front: s.front, accountKey: s.accountKey, pki: s.pki, clients: s.clients,
      extra: { workers: 1, audit: { path: '/dev/full', required: false } },
    });
    assert.match(px.log(), /audit: cannot write \/dev\/full/);
    const r = await get('served');
    assert.notEqual(r.status, 503, 'audit not required: requests keep flowing');
    assert.ok(await waitFor(async () => (await metricNow(px, 'cosmoseal_audit_write_failures_total')) >= 1, { timeoutMs: 4000 }),
      `no audit write failure counted\n${px.logTail(10)}`);
    assert.equal(await metricNow(px, 'cosmoseal_audit_refused_total'), 0);
    assert.equal((await px.admin('/readyz')).status, 200);
  });
});
