// Process lifecycle of the real cosmoseal binary (RELIABILITY.md T37): health endpoints, graceful
// drain on SIGTERM (in-flight requests finish, new connections are refused, /readyz turns 503,
// exit 0 before timeouts.drain), the drain deadline, a second SIGTERM, configuration reload by
// POST /reload and by SIGHUP (valid -> applied; invalid -> 422 / rejected with file:line:col, the
// old configuration keeps serving), and `cosmoseal check` on broken configs.
//
// The upstream is the scripted one (lib/scripted-upstream.mjs), so "slow" and "stuck" requests
// are exact. Every drain test starts its own cosmoseal, since it ends with the process gone.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test, before, after, afterEach } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultStack, adminRequest, since } from './lib/fault-stack.mjs';
import { httpResponse } from './lib/scripted-upstream.mjs';
import { writeConfig, checkConfig } from './lib/cosmoseal.mjs';
import { waitExit } from './lib/procs.mjs';
import { randomKey, writeKeyFile } from './lib/keys.mjs';
import { toYaml } from './lib/yaml.mjs';
import { buildRequest } from './lib/raw.mjs';

const SLACK_MS = 2500;

/** Connects to 127.0.0.1:port: 'refused', 'closed' (accepted then closed without a byte), 'open' (still open after ms), or 'data'. */
function probeConnect(port, ms = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let state = 'connecting';
    const done = (v) => {
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(state === 'connected' ? 'open' : 'timeout'), ms);
    sock.on('connect', () => (state = 'connected'));
    sock.on('data', () => done('data'));
    sock.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : state === 'connected' ? 'closed' : `error ${e.code}`));
    sock.on('close', () => done(state === 'connected' ? 'closed' : 'refused'));
  });
}

/** An upstream handler answering 200 after `ms`. */
function slow(ms, body = '{"slow":true}') {
  return async (req, conn) => {
    await sleep(ms);
    conn.write(httpResponse(200, { headers: { 'Content-Type': 'application/json' }, body }));
  };
}

/** A handler that never answers (until the connection closes). */
const stuck = (req, conn) => conn.waitClosed(60000);

function lifecycleStack(name, o = {}) {
  return startFaultStack({
    name,
    upstreamExtra: { response_timeout: '30s' },
    ...o,
  });
}

describe('lifecycle: health and graceful drain', () => {
  let s;
  afterEach(async () => {
    await s?.stop({ checkExit: false });
    s = null;
  });

  test('/healthz 200 and /readyz 200 while running; unknown admin path 404; GET /reload 405', async () => {
    s = await lifecycleStack('life-health');
    assert.equal((await s.proxy.admin('/healthz')).status, 200);
    assert.equal((await s.proxy.admin('/readyz')).status, 200);
    assert.equal((await s.proxy.admin('/nope')).status, 404);
    assert.equal((await s.proxy.admin('/reload')).status, 405, 'reload needs POST');
  });

  test('SIGTERM with a slow request in flight: it completes with 200, new connections are refused, /readyz 503, exit 0 before timeouts.drain', async () => {
    const DRAIN_MS = 5000;
    s = await lifecycleStack('life-drain', { extra: { timeouts: { drain: `${DRAIN_MS}ms` } } });
    s.up.handler = slow(1500);
    const c = await s.open();
    const idle = await s.open(); // a keep-alive connection with nothing in flight
    s.up.next((req, conn) => conn.write(httpResponse(200, { body: '{}' })));
    idle.write(s.req({ path: '/dbs/shop/colls/c1/docs/warm' }));
    assert.equal((await idle.response(4000))?.status, 200);
    c.write(s.req());
    assert.ok(await s.up.waitFor(() => s.up.requests.length === 2, 3000), 'the slow request reached the upstream');

    const t0 = performance.now();
    s.proxy.child.kill('SIGTERM');
    await sleep(250);
    assert.ok(s.proxy.running, 'still running while a request is in flight');
    const ready = await s.proxy.admin('/readyz');
    assert.equal(ready.status, 503, `/readyz during drain: ${ready.status} ${ready.body}`);
    const health = await s.proxy.admin('/healthz');
    assert.equal(health.status, 200, 'liveness stays 200 while draining');
    const probe = await probeConnect(s.proxy.port, 1000);
    assert.ok(probe === 'refused' || probe === 'closed', `a new connection during drain: ${probe}`);
    assert.ok(await idle.waitClosed(2000), 'an idle keep-alive connection is closed when the drain starts');

    const r = await c.response(DRAIN_MS);
    assert.equal(r?.status, 200, `in-flight request: ${r ? r.rawHead : `none (closed=${c.closed})`}`);
    assert.equal(r.body.toString(), '{"slow":true}');
    assert.equal(String(r.headers.connection).toLowerCase(), 'close', 'Connection: close on the last response');
    assert.ok(await c.waitClosed(3000), 'closed after the response');
    const ex = await waitExit(s.proxy.child, DRAIN_MS + SLACK_MS);
    const ms = since(t0);
    assert.ok(ex, `cosmoseal still running ${ms} ms after SIGTERM\n${s.proxy.logTail(10)}`);
    assert.deepEqual(ex, { code: 0, signal: null });
    assert.ok(ms < DRAIN_MS, `exited ${ms} ms after SIGTERM: must not wait for the drain deadline (${DRAIN_MS} ms) once idle`);
  });

  test('SIGTERM with a request stuck longer than timeouts.drain: exit within drain + slack, the stuck request is cut', async () => {
    const DRAIN_MS = 1000;
    s = await lifecycleStack('life-drain-deadline', { extra: { timeouts: { drain: `${DRAIN_MS}ms` } } });
    s.up.handler = stuck;
    const c = await s.open();
    c.write(s.req());
    assert.ok(await s.up.waitFor(() => s.up.requests.length === 1, 3000));
    const t0 = performance.now();
    s.proxy.child.kill('SIGTERM');
    const ex = await waitExit(s.proxy.child, DRAIN_MS + SLACK_MS + 2000);
    const ms = since(t0);
    assert.ok(ex, `cosmoseal still running ${ms} ms after SIGTERM (drain ${DRAIN_MS} ms)\n${s.proxy.logTail(10)}`);
    assert.equal(ex.signal, null, `killed by ${ex.signal}`);
    assert.ok(ex.code === 0 || ex.code === 1, `exit code ${ex.code}`);
    assert.ok(ms >= DRAIN_MS * 0.7, `exited after ${ms} ms, before the drain deadline`);
    assert.ok(ms < DRAIN_MS + SLACK_MS, `exited after ${ms} ms (drain ${DRAIN_MS} ms)`);
    const r = await c.response(500);
    assert.notEqual(r?.status, 200, 'the stuck request cannot have succeeded');
    assert.ok(await c.waitClosed(1000), 'the app connection is closed');
    assert.ok(await s.up.conns[0].waitClosed(1000), 'the upstream connection is closed');
  });

  test('a second SIGTERM during the drain exits immediately', async () => {
    s = await lifecycleStack('life-double', { extra: { timeouts: { drain: '20s' } } });
    s.up.handler = stuck;
    const c = await s.open();
    c.write(s.req());
    assert.ok(await s.up.waitFor(() => s.up.requests.length === 1, 3000));
    s.proxy.child.kill('SIGTERM');
    await sleep(400);
    assert.ok(s.proxy.running, 'first SIGTERM: draining, not exited');
    const t0 = performance.now();
    s.proxy.child.kill('SIGTERM');
    const ex = await waitExit(s.proxy.child, 3000);
    const ms = since(t0);
    assert.ok(ex, 'no exit within 3 s of the second SIGTERM');
    assert.equal(ex.signal, null);
    assert.ok(ex.code === 0 || ex.code === 1, `exit code ${ex.code}`);
    assert.ok(ms < 1500, `exited ${ms} ms after the second SIGTERM`);
    assert.ok(await c.waitClosed(1000));
  });

  test('SIGTERM when idle: exit 0 promptly', async () => {
    s = await lifecycleStack('life-idle');
    const t0 = performance.now();
    s.proxy.child.kill('SIGTERM');
    const ex = await waitExit(s.proxy.child, 3000);
    assert.deepEqual(ex, { code: 0, signal: null });
    assert.ok(since(t0) < 1500, `idle drain took ${since(t0)} ms`);
  });
});

describe('lifecycle: configuration reload', () => {
  let s;
  let baseCfg;

  before(async () => {
    s = await lifecycleStack('life-reload');
    baseCfg = JSON.parse(JSON.stringify(s.proxy.config));
  });
  after(async () => {
    await s?.stop();
  });

  function addClient(cfg, name) {
    const key = randomKey();
    const keyFile = writeKeyFile(path.join(s.dir, `client-${name}.key`), key);
    cfg.clients.push({ name, key_file: keyFile, allow: [{ database: 'shop', containers: ['*'], access: 'read-write' }] });
    return key;
  }

  /** One request signed with `key` on a fresh connection: the response or null. */
  async function ask(key, p = '/dbs/shop/colls/c1/docs/d1') {
    const c = await s.open();
    c.write(buildRequest({ method: 'GET', path: p, host: s.host, key }));
    const r = await c.response(4000);
    c.destroy();
    return r;
  }

  async function metric(name) {
    const m = await s.proxy.admin('/metrics');
    const line = m.body.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  }

  /** Writes YAML text with a syntax error on a known line; returns that line (1-based). */
  function writeBrokenYaml(cfg) {
    const text = `${toYaml(cfg)}timeouts:\n  header: [10s\n`;
    fs.writeFileSync(s.proxy.configPath, text);
    return text.split('\n').length - 1; // the "header: [10s" line (the text ends with a newline)
  }

  function assertPosition(text, file, line, what) {
    const re = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+)`);
    const m = re.exec(text);
    assert.ok(m, `${what}: no ${file}:LINE:COL in ${JSON.stringify(text)}`);
    const got = Number(m[1]);
    assert.ok(got >= line && got <= line + 1, `${what}: reported line ${got}, the error is on line ${line}`);
    return m;
  }

  test('POST /reload with a valid changed config (a new client) -> 200; the new client works, the old one too', async () => {
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    const key2 = addClient(cfg, 'app2');
    assert.equal((await ask(key2))?.status, 401, 'app2 is unknown before the reload');
    writeConfig(s.proxy.configPath, cfg);
    const gen0 = await metric('cosmoseal_config_generation');
    const r = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(r.status, 200, r.body);
    assert.equal((await ask(key2))?.status, 200, 'the new client works');
    assert.equal((await ask(s.key))?.status, 200, 'the old client still works');
    assert.equal(await metric('cosmoseal_config_generation'), gen0 + 1);
    baseCfg = cfg;
  });

  test('POST /reload with a YAML syntax error -> 422 with file:line:col; the old config keeps serving, /readyz 200', async () => {
    const before = await metric('cosmoseal_reload_failures_total');
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    const key3 = addClient(cfg, 'app3-never');
    const line = writeBrokenYaml(cfg);
    try {
      const r = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assertPosition(r.body, s.proxy.configPath, line, 'reload 422 body');
      assert.match(r.body, /syntax/i);
      assert.equal((await s.proxy.admin('/readyz')).status, 200);
      assert.equal((await ask(s.key))?.status, 200, 'old config still serving');
      assert.equal((await ask(key3))?.status, 401, 'nothing of the rejected config applies');
      assert.equal(await metric('cosmoseal_reload_failures_total'), before + 1);
    } finally {
      writeConfig(s.proxy.configPath, baseCfg);
    }
  });

  test('POST /reload with an invalid value (valid YAML) -> 422 naming key and position; old config serving', async () => {
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    cfg.timeouts = { header: 'fast' };
    writeConfig(s.proxy.configPath, cfg);
    try {
      const text = fs.readFileSync(s.proxy.configPath, 'utf8');
      const line = text.split('\n').findIndex((l) => l.includes('"fast"')) + 1;
      const r = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assertPosition(r.body, s.proxy.configPath, line, 'invalid value');
      assert.match(r.body, /timeouts\.header/);
      assert.equal((await ask(s.key))?.status, 200);
    } finally {
      writeConfig(s.proxy.configPath, baseCfg);
    }
  });

  test('POST /reload changing listen.port -> 422 (restart required); still serving on the old port', async () => {
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    cfg.listen = { ...cfg.listen, port: cfg.listen.port === 65000 ? 65001 : 65000 };
    writeConfig(s.proxy.configPath, cfg);
    try {
      const r = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(r.status, 422, r.body);
      assert.match(r.body, /restart/i);
      assert.equal((await ask(s.key))?.status, 200);
    } finally {
      writeConfig(s.proxy.configPath, baseCfg);
    }
  });

  test('a request in flight across a reload completes', async () => {
    s.up.next(slow(700));
    const c = await s.open();
    c.write(s.req({ path: '/dbs/shop/colls/c1/docs/inflight' }));
    assert.ok(await s.up.waitFor(() => s.up.requests.at(-1)?.target.endsWith('/inflight'), 3000));
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    cfg.limits = { max_body_bytes: '2MiB' };
    writeConfig(s.proxy.configPath, cfg);
    const rl = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(rl.status, 200, rl.body);
    const r = await c.response(4000);
    assert.equal(r?.status, 200);
    assert.equal(r.body.toString(), '{"slow":true}');
    baseCfg = cfg;
  });

  test('SIGHUP reloads a valid config (a new client works) and rejects a broken one (old config keeps serving)', async () => {
    const cfg = JSON.parse(JSON.stringify(baseCfg));
    const key4 = addClient(cfg, 'app4');
    writeConfig(s.proxy.configPath, cfg);
    s.proxy.child.kill('SIGHUP');
    let st = 0;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline && st !== 200) {
      await sleep(100);
      st = (await ask(key4))?.status;
    }
    assert.equal(st, 200, `the client added by SIGHUP reload: ${st}\n${s.proxy.logTail(5)}`);
    baseCfg = cfg;

    const failures = await metric('cosmoseal_reload_failures_total');
    const bad = JSON.parse(JSON.stringify(baseCfg));
    const key5 = addClient(bad, 'app5-never');
    const line = writeBrokenYaml(bad);
    try {
      s.proxy.child.kill('SIGHUP');
      let n = failures;
      const d2 = Date.now() + 3000;
      while (Date.now() < d2 && n === failures) {
        await sleep(100);
        n = await metric('cosmoseal_reload_failures_total');
      }
      assert.equal(n, failures + 1, 'the rejected SIGHUP reload is counted');
      assert.ok(s.proxy.running, 'a bad SIGHUP reload must not stop the process');
      assert.equal((await s.proxy.admin('/readyz')).status, 200);
      assert.equal((await ask(key4))?.status, 200, 'the previous config keeps serving');
      assert.equal((await ask(key5))?.status, 401);
      const logLine = s.logLines(/reload rejected/).at(-1) || '';
      assertPosition(logLine, s.proxy.configPath, line, 'SIGHUP reload log line');
    } finally {
      writeConfig(s.proxy.configPath, baseCfg);
    }
  });
});

describe('lifecycle: cosmoseal check on broken configs', () => {
  let s;
  let dir;
  before(async () => {
    s = await lifecycleStack('life-check');
    dir = path.join(s.dir, 'check');
    fs.mkdirSync(dir, { mode: 0o700 });
  });
  after(async () => {
    await s?.stop();
  });

  function lineOf(text, needle) {
    return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  }

  const cases = [
    ['YAML syntax error', (t) => `${t}timeouts:\n  header: [10s\n`, (t) => lineOf(t, 'header: [10s'), /syntax/i],
    ['unknown top-level key', (t) => t.replace(/^listen:/m, 'lisen:'), (t) => lineOf(t, 'lisen:'), /unknown key 'lisen'/],
    ['invalid duration', (t) => `${t}timeouts:\n  idle: "forever"\n`, (t) => lineOf(t, '"forever"'), /timeouts\.idle/],
    ['decimal size unit', (t) => `${t}limits:\n  max_body_bytes: "4MB"\n`, (t) => lineOf(t, '"4MB"'), /max_body_bytes/],
    ['duplicate key', (t) => `${t}workers: 1\n`, (t) => t.split('\n').map((l, i) => [l, i + 1]).filter(([l]) => l.startsWith('workers:')).at(-1)[1], /workers/],
  ];
  for (const [name, mutate, lineFn, msg] of cases) {
    test(`${name}: prints FILE:LINE:COL and exits 1`, async () => {
      const text = mutate(toYaml(s.proxy.config));
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      fs.writeFileSync(file, text);
      const line = lineFn(text);
      assert.ok(line > 0);
      const r = await checkConfig(file);
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 1, `exit code ${r.code}:\n${out}`);
      const m = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+): `, 'm').exec(out);
      assert.ok(m, `no ${file}:LINE:COL: in:\n${out}`);
      const got = Number(m[1]);
      assert.ok(got >= line && got <= line + 1, `${name}: reported line ${got}, expected ${line}:\n${out}`);
      assert.ok(Number(m[2]) >= 1);
      assert.match(out, msg);
    });
  }

  test('several errors: each printed on its own line, sorted by position', async () => {
    const text = `${toYaml(s.proxy.config).replace(/^listen:/m, 'lisen:')}timeouts:\n  header: "fast"\n  idle: "8d"\n`;
    const file = path.join(dir, 'multi.yaml');
    fs.writeFileSync(file, text);
    const r = await checkConfig(file);
    assert.equal(r.code, 1);
    const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith(`${file}:`));
    assert.ok(lines.length >= 3, `expected 3 errors, got:\n${r.stdout}${r.stderr}`);
    const pos = lines.map((l) => l.slice(file.length + 1).split(':').slice(0, 2).map(Number));
    const sorted = [...pos].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(pos, sorted);
  });

  test('the running config passes check (exit 0)', async () => {
    const r = await checkConfig(s.proxy.configPath);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  });
});
