// Hot reload under load (docs/OPERATIONS.md "Reload"): for ~10 s several SDK clients write, read,
// replace and query documents of a protected container while 20 reloads happen, alternating a
// valid changed config (a client's rate, a new client) and an invalid one (YAML syntax error or
// an invalid value), by POST /reload and by SIGHUP. Expected: 0 failed requests, every invalid
// reload rejected with file:line:col (422 on /reload, the log line for SIGHUP), /readyz 200
// throughout, cosmoseal_reload_failures_total +10, generation +10.
// lifecycle.test.mjs covers single reloads (valid, syntax, value, restart-required, in-flight).
// Also here: reload errors that are found outside the YAML (client key file, keyring file) keep
// the old configuration and name the position of the offending key.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { request } from './lib/raw.mjs';
import { randomKey, writeKeyFile } from './lib/keys.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import { toYaml } from './lib/yaml.mjs';
import {
  clone, makeKeyring, metricSum, scrape, waitFor, writeConfigAtomic, writeTextAtomic,
} from './lib/ops.mjs';

const LOAD_MS = 10_000;
const RELOADS = 20;
const LOADERS = ['load-1', 'load-2', 'load-3', 'load-4'];

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('hot reload under load', () => {
  let s;
  let base;
  const newKeys = {};

  before(async () => {
    const dir = makeWorkDir('reload-load');
    const keys = await makeKeyring(dir, ['pii']);
    s = await startStack({
      dir,
      clients: [...LOADERS.map((name) => ({ name })), { name: 'spare', rate: { requests_per_second: 50, burst: 50 } }],
      keys,
      policies: [{ database: 'shop', container: 'customers', partition_key: '/pk', fields: [
        { path: '/ssn', mode: 'deterministic', key: 'pii' },
        { path: '/address', mode: 'randomized', key: 'pii' },
        { path: '/cards/*/number', mode: 'randomized', key: 'pii' },
      ] }],
      extra: { workers: 2 },
    });
    base = clone(s.proxy.config);
    for (let k = 1; k <= RELOADS; k++) {
      newKeys[`new-${k}`] = randomKey();
      writeKeyFile(path.join(dir, `client-new-${k}.key`), newKeys[`new-${k}`]);
    }
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    await database.containers.createIfNotExists({ id: 'customers', partitionKey: { paths: ['/pk'] } });
  });

  after(async () => {
    s?.front.assertClean();
    await s?.stop();
  });

  /** Valid config number k: spare's rate changes and clients new-1..new-k exist. */
  function validConfig(k) {
    const cfg = clone(base);
    cfg.clients.find((c) => c.name === 'spare').rate = { requests_per_second: 50 + k, burst: 50 + k };
    for (let j = 1; j <= k; j++) {
      cfg.clients.push({ name: `new-${j}`, key_file: path.join(s.dir, `client-new-${j}.key`), allow: [{ database: 'shop', containers: ['customers'], access: 'read' }] });
    }
    return cfg;
  }

  /** Writes an invalid config; returns the 1-based line of the error. */
  function writeInvalid(k, variant) {
    const cfg = validConfig(k);
    if (variant === 'syntax') {
      const text = `${toYaml(cfg)}timeouts:\n  header: [10s\n`;
      writeTextAtomic(s.proxy.configPath, text);
      return { line: text.split('\n').length - 1, kind: /syntax/i };
    }
    cfg.policies[0].fields[1].mode = 'sideways';
    const text = toYaml(cfg);
    writeTextAtomic(s.proxy.configPath, text);
    return { line: text.split('\n').findIndex((l) => l.includes('"sideways"')) + 1, kind: /policies\[0\]\.fields\[1\]\.mode/ };
  }

  function assertPosition(text, line, what) {
    const m = new RegExp(`${escapeRe(s.proxy.configPath)}:(\\d+):(\\d+)`).exec(text);
    assert.ok(m, `${what}: no ${s.proxy.configPath}:LINE:COL in ${JSON.stringify(text.slice(0, 400))}`);
    const got = Number(m[1]);
    assert.ok(got >= line && got <= line + 1 && Number(m[2]) >= 1, `${what}: reported ${m[1]}:${m[2]}, the error is on line ${line}`);
  }

  async function counters() {
    const m = await scrape(s.proxy);
    return {
      gen: metricSum(m.samples, 'cosmoseal_config_generation'),
      ok: metricSum(m.samples, 'cosmoseal_reloads_total'),
      failed: metricSum(m.samples, 'cosmoseal_reload_failures_total'),
      samples: m.samples,
    };
  }

  test(`${LOADERS.length} SDK clients for ${LOAD_MS / 1000} s on a protected container while ${RELOADS} reloads happen: 0 failures`, async () => {
    const before = await counters();
    let stop = false;
    const stats = { ops: 0, failures: [], byKind: {} };
    const note = (kind) => {
      stats.ops++;
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
    };
    const fail = (who, kind, e) => stats.failures.push(`${who} ${kind}: ${e?.code ?? ''} ${String(e?.message ?? e).split('\n')[0].slice(0, 200)}`);

    const loaders = LOADERS.map(async (name, w) => {
      const k = s.client(name).database('shop').container('customers');
      let i = 0;
      while (!stop) {
        const id = `${name}-${i}`;
        const pk = `p${i % 3}`;
        const ssn = `${w}${i}-ssn`;
        const d = { id, pk, ssn, address: { street: `${i} Reload Rd`, city: name }, cards: [{ number: `4111-${w}-${i}` }], n: i };
        try {
          const c = await k.items.create(d);
          note('create');
          if (c.statusCode !== 201) throw new Error(`create status ${c.statusCode}`);
          const { resource: r } = await k.item(id, pk).read();
          note('read');
          if (r?.ssn !== ssn || r.address?.street !== d.address.street || r.cards?.[0]?.number !== d.cards[0].number) {
            throw new Error(`read back ${JSON.stringify(r).slice(0, 200)}`);
          }
          const q = await k.items.query({ query: 'SELECT c.id, c.ssn FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: ssn }] }).fetchAll();
          note('query');
          if (q.resources.length !== 1 || q.resources[0].id !== id || q.resources[0].ssn !== ssn) throw new Error(`query ${JSON.stringify(q.resources)}`);
          if (i % 3 === 0) {
            const rep = await k.item(id, pk).replace({ ...d, n: -i, address: { street: 'replaced' } });
            note('replace');
            if (rep.resource?.address?.street !== 'replaced') throw new Error('replace echo');
          }
          if (i % 5 === 0) {
            const up = await k.items.upsert({ id: `${id}-u`, pk, ssn: `${ssn}-u` });
            note('upsert');
            if (up.resource?.ssn !== `${ssn}-u`) throw new Error('upsert echo');
          }
        } catch (e) {
          fail(name, `iteration ${i}`, e);
        }
        i++;
      }
    });

    const ready = { polls: 0, bad: [] };
    const readyPoller = (async () => {
      while (!stop) {
        const r = await s.proxy.admin('/readyz').catch((e) => ({ status: `error ${e.message}` }));
        ready.polls++;
        if (r.status !== 200) ready.bad.push(r.status);
        await sleep(100);
      }
    })();

    const reloadLog = [];
    const t0 = Date.now();
    try {
      for (let i = 0; i < RELOADS; i++) {
        const k = Math.floor(i / 2) + 1; // valid generation number
        const valid = i % 2 === 0;
        const viaSignal = i % 4 >= 2;
        let expectLine = null;
        if (valid) writeConfigAtomic(s.proxy.configPath, validConfig(k));
        else expectLine = writeInvalid(k, i % 8 < 4 ? 'syntax' : 'value');
        const c0 = await counters();
        if (viaSignal) {
          s.proxy.child.kill('SIGHUP');
          const c1 = await waitFor(async () => {
            const c = await counters();
            return c.ok + c.failed > c0.ok + c0.failed ? c : null;
          }, { timeoutMs: 3000, intervalMs: 30 });
          assert.ok(c1, `SIGHUP #${i} was not processed within 3 s\n${s.proxy.logTail(5)}`);
          assert.equal(c1.ok - c0.ok, valid ? 1 : 0, `SIGHUP #${i} (${valid ? 'valid' : 'invalid'})`);
          if (!valid) {
            const line = s.proxy.log().split('\n').filter((l) => /reload rejected/.test(l)).at(-1) ?? '';
            assertPosition(line, expectLine.line, `SIGHUP #${i} log line`);
            assert.match(line, expectLine.kind);
          }
        } else {
          const r = await adminRequest(s.proxy, 'POST', '/reload');
          assert.equal(r.status, valid ? 200 : 422, `POST /reload #${i}: ${r.body}`);
          if (!valid) {
            assertPosition(r.body, expectLine.line, `POST /reload #${i} body`);
            assert.match(r.body, expectLine.kind);
          }
        }
        reloadLog.push(`${valid ? 'valid' : 'invalid'}/${viaSignal ? 'SIGHUP' : 'POST'}`);
        await sleep(Math.max(0, t0 + ((i + 1) * LOAD_MS) / RELOADS - Date.now()));
      }
    } finally {
      stop = true;
      await Promise.all([...loaders, readyPoller]);
    }
    const elapsed = Date.now() - t0;
    writeConfigAtomic(s.proxy.configPath, validConfig(RELOADS / 2));

    const after = await counters();
    const httpRequests = (samples) => metricSamples(samples).reduce((a, x) => a + x.value, 0);
    const errs = (samples) => metricSamples(samples).filter((x) => Number(x.labels.status) >= 400).reduce((a, x) => a + x.value, 0);
    function metricSamples(samples) {
      return samples.filter((x) => x.name === 'cosmoseal_requests_total' && LOADERS.includes(x.labels.client));
    }
    const requests = httpRequests(after.samples) - httpRequests(before.samples);
    const httpErrors = errs(after.samples) - errs(before.samples);
    console.log(
      `# reload under load: ${elapsed} ms, ${stats.ops} SDK operations (${JSON.stringify(stats.byKind)}), ` +
      `${requests} HTTP requests from the load clients, ${stats.failures.length} failed operations, ${httpErrors} HTTP responses >= 400, ` +
      `${RELOADS} reloads (${after.ok - before.ok} applied, ${after.failed - before.failed} rejected; ${reloadLog.filter((x) => x.endsWith('SIGHUP')).length} by SIGHUP), ` +
      `generation ${before.gen} -> ${after.gen}, /readyz ${ready.polls} polls, ${ready.bad.length} not 200`,
    );
    assert.deepEqual(stats.failures, [], `${stats.failures.length} failed operations`);
    assert.equal(httpErrors, 0, 'HTTP responses >= 400 to the load clients (SDK retries would hide them)');
    assert.ok(stats.ops > 100, `only ${stats.ops} operations in ${elapsed} ms`);
    assert.deepEqual(ready.bad, [], '/readyz not 200 during reloads');
    assert.ok(ready.polls > 20);
    assert.equal(after.ok - before.ok, RELOADS / 2, 'reloads applied');
    assert.equal(after.failed - before.failed, RELOADS / 2, 'cosmoseal_reload_failures_total');
    assert.equal(after.gen - before.gen, RELOADS / 2, 'generation increases by the number of valid reloads');

    // The last valid config is in force: new-10 (added by it) works, read-only.
    const last = `new-${RELOADS / 2}`;
    const r = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/load-1-0`, key: newKeys[last], ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p0"]' } });
    assert.equal(r.status, 200, `${last}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(r.json.ssn, '00-ssn', 'decrypted for the new client');
    const unknown = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/load-1-0`, key: newKeys[`new-${RELOADS / 2 + 1}`], ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p0"]' } });
    assert.equal(unknown.status, 401, 'a client only present in rejected configs');
  });

  test('reload with a missing client key file: 422 naming FILE:LINE:COL of the key_file; the old config keeps serving', async () => {
    const cfg = validConfig(RELOADS / 2);
    cfg.clients.push({ name: 'ghost', key_file: path.join(s.dir, 'no-such.key'), allow: [{ database: 'shop', containers: ['*'], access: 'read' }] });
    writeConfigAtomic(s.proxy.configPath, cfg);
    try {
      const line = fs.readFileSync(s.proxy.configPath, 'utf8').split('\n').findIndex((l) => l.includes('no-such.key')) + 1;
      const r = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assert.match(r.body, /no-such\.key/);
      const ok = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/load-1-0`, key: s.clientKeys['load-1'], ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p0"]' } });
      assert.equal(ok.status, 200);
      assertPosition(r.body, line, 'missing key file');
    } finally {
      writeConfigAtomic(s.proxy.configPath, validConfig(RELOADS / 2));
    }
  });

  test('reload with a group-readable keyring: 422, the old keys keep working (T28)', async () => {
    const ring = base.keys.keyring_file;
    fs.chmodSync(ring, 0o644);
    try {
      const r = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assert.match(r.body, /chmod 600/);
      const ok = await request({ url: `${s.proxy.url}dbs/shop/colls/customers/docs/load-1-0`, key: s.clientKeys['load-1'], ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p0"]' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.ssn, '00-ssn', 'still decrypting with the old keyring');
      assert.match(s.proxy.log(), /reload rejected, previous configuration stays in force: .*mode 0644/);
    } finally {
      fs.chmodSync(ring, 0o600);
    }
    assert.equal((await adminRequest(s.proxy, 'POST', '/reload')).status, 200);
  });
});
