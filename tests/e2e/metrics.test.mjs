// Prometheus metrics on the admin listener (proxy/server.cc metricsText(), docs/OPERATIONS.md
// "Metrics"): after a mix of traffic (ok, refused, throttled, unauthenticated, encrypted writes and
// reads, a corrupted envelope, reloads) GET /metrics passes `promtool check metrics` and carries
// every documented family with plausible values.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir, REPO_ROOT } from './lib/paths.mjs';
import { request } from './lib/raw.mjs';
import { randomKey } from './lib/keys.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import {
  clone, keyringShow, makeKeyring, metricSamples, metricSum, promtoolCheck, scrape, sdkStatus, waitFor, writeConfigAtomic,
} from './lib/ops.mjs';

const FAMILIES = {
  cosmoseal_build_info: 'gauge',
  cosmoseal_requests_total: 'counter',
  cosmoseal_refusals_total: 'counter',
  cosmoseal_crypto_failures_total: 'counter',
  cosmoseal_throttled_total: 'counter',
  cosmoseal_request_duration_seconds: 'histogram',
  cosmoseal_upstream_duration_seconds: 'histogram',
  cosmoseal_fields_encrypted_total: 'counter',
  cosmoseal_fields_decrypted_total: 'counter',
  cosmoseal_envelope_lookalikes_total: 'counter',
  cosmoseal_plaintext_at_protected_total: 'counter',
  cosmoseal_key_seals_total: 'counter',
  cosmoseal_key_opens_total: 'counter',
  cosmoseal_key_budget_exhausted: 'gauge',
  cosmoseal_connections_open: 'gauge',
  cosmoseal_buffered_bytes: 'gauge',
  cosmoseal_connections_accepted_total: 'counter',
  cosmoseal_connections_rejected_total: 'counter',
  cosmoseal_client_bytes_received_total: 'counter',
  cosmoseal_client_bytes_sent_total: 'counter',
  cosmoseal_upstream_errors_total: 'counter',
  cosmoseal_upstream_retries_total: 'counter',
  cosmoseal_upstream_pool_idle: 'gauge',
  cosmoseal_upstream_pool_connections: 'gauge',
  cosmoseal_discovery_rewrites_total: 'counter',
  cosmoseal_config_generation: 'gauge',
  cosmoseal_reloads_total: 'counter',
  cosmoseal_reload_failures_total: 'counter',
  cosmoseal_workers: 'gauge',
  cosmoseal_draining: 'gauge',
  cosmoseal_audit_records_total: 'counter',
  cosmoseal_audit_dropped_total: 'counter',
  cosmoseal_audit_write_failures_total: 'counter',
  cosmoseal_audit_refused_total: 'counter',
};

describe('metrics', () => {
  let s;
  let keys;
  let pii;

  before(async () => {
    const dir = makeWorkDir('metrics');
    keys = await makeKeyring(dir, ['pii']);
    pii = (await keyringShow(keys)).find((k) => k.name === 'pii');
    s = await startStack({
      dir,
      clients: [
        { name: 'app' },
        { name: 'ro', allow: [{ database: 'shop', containers: ['orders'], access: 'read' }] },
        { name: 'slow', rate: { requests_per_second: 1, burst: 1 } },
      ],
      keys,
      policies: [{ database: 'shop', container: 'customers', partition_key: '/pk', fields: [
        { path: '/ssn', mode: 'deterministic', key: 'pii' },
        { path: '/address', mode: 'randomized', key: 'pii' },
      ] }],
      extra: { workers: 2, audit: { path: path.join(dir, 'audit.log') } },
    });
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    for (const id of ['customers', 'orders']) await database.containers.createIfNotExists({ id, partitionKey: { paths: ['/pk'] } });
  });

  after(async () => {
    await s?.stop();
  });

  test('a mix of traffic, then GET /metrics passes promtool check metrics and has plausible values', async () => {
    const cust = s.client('app').database('shop').container('customers');
    // ok + encrypted writes and decrypted reads
    for (let i = 0; i < 3; i++) {
      const r = await sdkStatus(cust.items.create({ id: `m${i}`, pk: 'p', ssn: `000-00-000${i}`, address: { street: `${i} Main St` } }));
      assert.equal(r.status, 201, r.message);
    }
    for (let i = 0; i < 3; i++) assert.equal((await sdkStatus(cust.item(`m${i}`, 'p').read())).status, 200);
    const q = await cust.items.query({ query: 'SELECT * FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: '000-00-0001' }] }).fetchAll();
    assert.deepEqual(q.resources.map((d) => d.id), ['m1']);
    // refused: rules, auth; throttled
    assert.equal((await sdkStatus(s.client('ro').database('shop').container('customers').item('m0', 'p').read())).status, 403);
    const bad = await request({ url: `${s.proxy.url}dbs/shop/colls/orders/docs/x`, key: randomKey(), ca: s.pki.ca });
    assert.equal(bad.status, 401);
    await sleep(1100);
    const h = { 'x-ms-documentdb-partitionkey': '["p"]' };
    const t1 = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/m0`, key: s.clientKeys.slow, ca: s.pki.ca, headers: h });
    const t2 = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/m0`, key: s.clientKeys.slow, ca: s.pki.ca, headers: h });
    assert.deepEqual([t1.status, t2.status], [200, 429]);
    // a corrupted envelope stored behind cosmoseal's back: a crypto failure on read
    const direct = s.direct().database('shop').container('customers');
    const { resource: stored } = await direct.item('m2', 'p').read();
    const env = stored.address;
    const flipped = env.slice(0, 40) + (env[40] === 'A' ? 'B' : 'A') + env.slice(41);
    await direct.item('m2', 'p').replace({ ...stored, address: flipped });
    const broken = await sdkStatus(cust.item('m2', 'p').read());
    assert.ok(broken.status >= 500, `reading a corrupted envelope: ${broken.status} ${broken.message}`);
    assert.match(String(broken.detail ?? broken.message), /crypto\./);
    // reloads: one valid, one rejected
    const cfg = clone(s.proxy.config);
    cfg.clients.find((c) => c.name === 'slow').rate = { requests_per_second: 2, burst: 2 };
    writeConfigAtomic(s.proxy.configPath, cfg);
    assert.equal((await adminRequest(s.proxy, 'POST', '/reload')).status, 200);
    writeConfigAtomic(s.proxy.configPath, { ...cfg, workers: 'many' });
    assert.equal((await adminRequest(s.proxy, 'POST', '/reload')).status, 422);
    writeConfigAtomic(s.proxy.configPath, cfg);

    // Key usage is refreshed by each worker once a second.
    let m = await waitFor(async () => {
      const x = await scrape(s.proxy);
      return metricSum(x.samples, 'cosmoseal_key_seals_total', { key: 'pii', mode: 'randomized' }) >= 3 ? x : null;
    }, { timeoutMs: 4000 });
    assert.ok(m, 'cosmoseal_key_seals_total{key="pii",mode="randomized"} never reached 3');

    // promtool: exit 0, no complaints
    const pc = await promtoolCheck(m.text);
    assert.equal(pc.code, 0, `promtool check metrics exit ${pc.code}:\n${pc.stdout}${pc.stderr}`);
    assert.equal(`${pc.stdout}${pc.stderr}`.trim(), '', `promtool check metrics output:\n${pc.stdout}${pc.stderr}`);

    // Every family, with its TYPE and HELP
    for (const [name, type] of Object.entries(FAMILIES)) {
      assert.ok(m.text.includes(`# TYPE ${name} ${type}\n`), `# TYPE ${name} ${type} missing`);
      assert.ok(new RegExp(`^# HELP ${name} \\S`, 'm').test(m.text), `# HELP ${name} missing`);
    }
    const v = (name, labels) => metricSum(m.samples, name, labels);
    assert.equal(metricSamples(m.samples, 'cosmoseal_build_info').length, 1);
    assert.ok(metricSamples(m.samples, 'cosmoseal_build_info')[0].labels.version);

    // requests by client / operation / status
    assert.ok(v('cosmoseal_requests_total', { client: 'app', operation: 'create', status: 201 }) >= 3);
    assert.ok(v('cosmoseal_requests_total', { client: 'app', operation: 'read', status: 200 }) >= 3);
    assert.ok(v('cosmoseal_requests_total', { client: 'app', operation: 'query', status: 200 }) >= 1);
    assert.ok(v('cosmoseal_requests_total', { client: 'ro', status: 403 }) >= 1);
    assert.ok(v('cosmoseal_requests_total', { client: '', operation: 'read', status: 401 }) >= 1, 'unauthenticated: client=""');
    assert.equal(v('cosmoseal_requests_total', { client: 'slow', status: 429 }), 1);
    assert.ok(v('cosmoseal_requests_total', { client: 'app', operation: 'account_read', status: 200 }) >= 1, 'discovery');
    for (const sm of metricSamples(m.samples, 'cosmoseal_requests_total')) {
      assert.match(sm.labels.status, /^[1-5]\d\d$/);
      assert.ok(Number.isInteger(sm.value) && sm.value > 0);
    }
    // refusals by detail, throttling, crypto failures
    assert.ok(v('cosmoseal_refusals_total', { detail: 'rules.denied' }) >= 1);
    assert.ok(v('cosmoseal_refusals_total', { detail: 'auth.bad_signature' }) >= 1);
    assert.equal(v('cosmoseal_refusals_total', { detail: 'throttle.rate' }), 1);
    assert.equal(v('cosmoseal_throttled_total', { client: 'slow', reason: 'rate' }), 1);
    assert.equal(v('cosmoseal_refusals_total', { detail: broken.detail }) >= 1, true, `refusals{detail="${broken.detail}"}`);
    assert.ok(v('cosmoseal_crypto_failures_total') >= 1, 'crypto failures counted');
    assert.ok(v('cosmoseal_crypto_failures_total', { detail: broken.detail }) >= 1, `crypto_failures{detail="${broken.detail}"}`);
    // fields and keys
    assert.ok(v('cosmoseal_fields_encrypted_total') >= 6 + 1, 'fields encrypted (3 docs x 2 fields + the query parameter)');
    assert.ok(v('cosmoseal_fields_decrypted_total') >= 6);
    const seals = metricSamples(m.samples, 'cosmoseal_key_seals_total', { key: 'pii', version: 1, id: pii.id });
    assert.deepEqual(seals.map((x) => x.labels.mode).sort(), ['deterministic', 'randomized']);
    assert.equal(v('cosmoseal_key_seals_total', { key: 'pii', version: 1, mode: 'randomized' }), 3);
    assert.ok(v('cosmoseal_key_seals_total', { key: 'pii', version: 1, mode: 'deterministic' }) >= 4);
    assert.ok(v('cosmoseal_key_opens_total', { key: 'pii', version: 1, id: pii.id }) >= 6);
    assert.equal(v('cosmoseal_key_budget_exhausted'), 0);
    // histograms: cumulative buckets, +Inf == count, per operation
    for (const fam of ['cosmoseal_request_duration_seconds', 'cosmoseal_upstream_duration_seconds']) {
      const ops = new Set(metricSamples(m.samples, `${fam}_count`).map((x) => x.labels.operation));
      assert.ok(ops.has('create') && ops.has('read'), `${fam}: operations ${[...ops]}`);
      for (const op of ops) {
        const b = metricSamples(m.samples, `${fam}_bucket`, { operation: op });
        assert.equal(b.length, 15, `${fam}{operation="${op}"}: 14 bounds + Inf`);
        for (let i = 1; i < b.length; i++) assert.ok(b[i].value >= b[i - 1].value, `${fam} ${op}: buckets not cumulative`);
        assert.equal(b.at(-1).labels.le, '+Inf');
        assert.equal(b.at(-1).value, v(`${fam}_count`, { operation: op }));
        assert.ok(v(`${fam}_sum`, { operation: op }) > 0);
        assert.ok(v(`${fam}_sum`, { operation: op }) < 60 * v(`${fam}_count`, { operation: op }));
      }
    }
    assert.ok(v('cosmoseal_request_duration_seconds_count', { operation: 'create' }) >= 3);
    assert.ok(!metricSamples(m.samples, 'cosmoseal_upstream_duration_seconds_count').some((x) => x.labels.operation === 'unclassified'),
      'refused-before-routing requests have no upstream time');
    // reloads and generation
    assert.equal(v('cosmoseal_config_generation'), 2);
    assert.equal(v('cosmoseal_reloads_total'), 1);
    assert.equal(v('cosmoseal_reload_failures_total'), 1);
    // process gauges and counters
    assert.equal(v('cosmoseal_workers'), 2);
    assert.equal(v('cosmoseal_draining'), 0);
    assert.ok(v('cosmoseal_connections_accepted_total') >= 5);
    assert.ok(v('cosmoseal_connections_open') >= 0);
    assert.equal(v('cosmoseal_connections_rejected_total'), 0);
    assert.ok(v('cosmoseal_client_bytes_received_total') > 1000);
    assert.ok(v('cosmoseal_client_bytes_sent_total') > 1000);
    assert.ok(v('cosmoseal_discovery_rewrites_total') >= 1);
    assert.ok(v('cosmoseal_upstream_pool_connections') >= v('cosmoseal_upstream_pool_idle'));
    // audit counters (audit is enabled here)
    assert.ok(v('cosmoseal_audit_records_total') >= 10);
    assert.equal(v('cosmoseal_audit_dropped_total'), 0);
    assert.equal(v('cosmoseal_audit_write_failures_total'), 0);
    assert.equal(v('cosmoseal_audit_refused_total'), 0);

    // Counters only go up: a second scrape after more traffic.
    await cust.item('m0', 'p').read();
    m = await scrape(s.proxy);
    assert.ok(metricSum(m.samples, 'cosmoseal_requests_total', { client: 'app', operation: 'read', status: 200 }) >= 4);
  });

  test('a crypto failure in a response is not counted as an upstream error (every upstream exchange here succeeded)', async () => {
    const m = await scrape(s.proxy);
    assert.ok(metricSum(m.samples, 'cosmoseal_crypto_failures_total') >= 1, 'runs after the traffic test');
    assert.equal(metricSum(m.samples, 'cosmoseal_upstream_errors_total'), 0,
      'cosmoseal_upstream_errors_total ("Failed upstream exchanges") counts the corrupted-envelope read, whose upstream ' +
      'exchange succeeded (200): an alert on upstream errors would fire for a data problem');
  });

  test('docs/OPERATIONS.md: every metric family is documented, every documented name exists, the alert rules pass promtool check rules', async () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
    const { text } = await scrape(s.proxy);
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]);
    assert.ok(families.length >= Object.keys(FAMILIES).length);
    for (const f of families) assert.ok(doc.includes(`\`${f}\``), `${f} is not documented in docs/OPERATIONS.md`);
    const mentioned = new Set([...doc.matchAll(/\bcosmoseal_[a-z_]+/g)].map((x) => x[0].replace(/_(bucket|sum|count)$/, '')));
    for (const n of mentioned) assert.ok(families.includes(n), `docs/OPERATIONS.md mentions ${n}, which /metrics does not have`);
    const block = /```yaml\n(# cosmoseal-alerts\.yaml\n[\s\S]*?)```/.exec(doc);
    assert.ok(block, 'the alert rules block (# cosmoseal-alerts.yaml) in docs/OPERATIONS.md');
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-rules-')), 'alerts.yaml');
    fs.writeFileSync(f, block[1]);
    const r = spawnSync('promtool', ['check', 'rules', f], { encoding: 'utf8' });
    fs.rmSync(path.dirname(f), { recursive: true, force: true });
    assert.equal(r.status, 0, `promtool check rules:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  test('/metrics is plain text format 0.0.4', async () => {
    const r = await s.proxy.admin('/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
  });
});
