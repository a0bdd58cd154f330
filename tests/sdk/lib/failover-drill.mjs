#!/usr/bin/env node
// Failover drill (issue 15 §7): the JS SDK (@azure/cosmos from tests/simulator/node_modules)
// writes and reads in a loop against a two-region simulator account, directly or through the
// built cosmoseal; at T the write region moves (`failover`) or the write region goes down and the
// account fails over (`outage`). It prints a per-second timeline (SDK operations ok/failed, where
// the upstream received them) and the time from the failover to the first write the new write
// region accepted that the SDK saw succeed.
//
//   node tests/sdk/lib/failover-drill.mjs [--via direct|cosmoseal|both] [--scenario failover|outage]
//       [--duration 20] [--failover-at 6] [--regions "West US,East US"] [--region-ports auto|P1,P2]
//       [--interval-ms 50] [--op-timeout-ms 5000] [--endpoint-refresh-ms N] [--json FILE]
//       [--expect-recovery-ms N] [--endpoint global|first-region] [--cwd DIR] [-- CLIENT ARGV...]
//
// Another SDK runs the same loop when its program follows `--` (e.g. `-- tests/sdk/python/.venv/
// bin/python tests/sdk/python/failover_drill.py`): the launcher sets up the stack, the database
// and the seed document, then starts the program with COSMOSEAL_DRILL_ENDPOINT, _KEY, _CA_FILE,
// _PREFERRED (the read region), _DATABASE, _CONTAINER, _DURATION_MS, _INTERVAL_MS and
// _OP_TIMEOUT_MS. The program prints `{"ready": true}` once its client is up, then one JSON line
// per operation: {"kind": "w"|"r", "id", "start", "end" (epoch ms), "ok", "error"?}, and exits.
// The launcher moves the write region `--failover-at` seconds after "ready". A write creates
// {id, pk, ssn}; a read reads id "r0" in partition "p0".
//
// The account endpoint (the SDK's, or cosmoseal's upstream.endpoint) is by default the
// simulator's global listener, which stands for the account host name: it serves as the write
// region and each connection keeps the region it was opened to, as a DNS answer does (warm
// connections reach the old write region after a failover). `first-region` uses the first
// region's own listener instead.
//
// Reads use preferredLocations = [second region]; the failover moves the write region to the
// second region. --region-ports gives cosmoseal listen.region_ports (one local port per region;
// `auto` picks free ports). Through cosmoseal: COSMOSEAL_BIN or build/proxy/cosmoseal.
// --expect-recovery-ms makes the exit status 1 when a run did not recover within N ms.
// --endpoint-refresh-ms sets the SDK's background account refresh (its default is 5 minutes: after
// an outage that resets connections, the JS SDK only learns the new write region that way).
// --scenario both runs failover then outage. DRILL_DEBUG=1 adds the url, headers and body of the
// distinct upstream errors to the summary.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import readline from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { startSimulator } from '../../simulator/lib/server.mjs';
import { createPki } from '../../e2e/lib/pki.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIM_DIR = path.resolve(HERE, '..', '..', 'simulator');

/** @azure/cosmos as installed for the simulator's tests (tests/simulator/node_modules). */
export function loadCosmos() {
  return createRequire(path.join(SIM_DIR, 'package.json'))('@azure/cosmos');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describeError(e) {
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || /abort/i.test(String(e?.message))) return 'timeout';
  const code = e?.code ?? e?.statusCode;
  const sub = e?.substatus ?? e?.headers?.['x-ms-substatus'];
  return code !== undefined ? `${code}${sub !== undefined ? `/${sub}` : ''}` : String(e?.message ?? e).slice(0, 40);
}

/**
 * One drill run. Returns {via, scenario, regions, failoverAtMs, timeline, summary}.
 * @param {object} o
 * @param {'direct'|'cosmoseal'} [o.via='direct']
 * @param {'failover'|'outage'} [o.scenario='failover']
 * @param {number} [o.durationMs=20000] @param {number} [o.failoverAtMs=6000]
 * @param {string[]} [o.regions=['West US','East US']]
 * @param {'auto'|number[]} [o.regionPorts] cosmoseal listen.region_ports
 * @param {number} [o.intervalMs=50] pause between two operations of one loop
 * @param {number} [o.opTimeoutMs=5000] an SDK operation longer than this counts as failed
 * @param {'global'|'first-region'} [o.endpoint='global'] the account endpoint used
 * @param {number} [o.endpointRefreshMs] connectionPolicy.endpointRefreshRateInMs (SDK default if absent)
 * @param {string[]} [o.client] another SDK's drill program (argv), run instead of the JS loop
 * @param {string} [o.clientCwd] its working directory
 * @param {string} [o.sdk] a label for the table ('js' by default, or the program's name)
 * @param {(s: string) => void} [o.log]
 */
export async function runDrill(o = {}) {
  const via = o.via ?? 'direct';
  const scenario = o.scenario ?? 'failover';
  const regions = o.regions ?? ['West US', 'East US'];
  const durationMs = o.durationMs ?? 20000;
  const failoverAtMs = o.failoverAtMs ?? 6000;
  const intervalMs = o.intervalMs ?? 50;
  const opTimeoutMs = o.opTimeoutMs ?? 5000;
  const log = o.log ?? (() => {});
  const { CosmosClient } = loadCosmos();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `failover-drill-${via}-`));
  const cleanup = [];
  try {
    const pki = createPki(dir);
    const sim = await startSimulator({ partitions: 3, regions, pki, globalEndpoint: true });
    cleanup.push(() => sim.stop());
    const accountEndpoint = (o.endpoint ?? 'global') === 'global' ? sim.globalEndpoint : sim.endpoint;
    let endpoint = accountEndpoint;
    let key = sim.key;
    let proxy;
    if (via === 'cosmoseal') {
      const { startCosmoseal, freePort } = await import('../../e2e/lib/cosmoseal.mjs');
      const { randomKey } = await import('../../e2e/lib/keys.mjs');
      const { makeKeyring } = await import('../../e2e/lib/enc.mjs');
      key = randomKey();
      let ports;
      if (o.regionPorts === 'auto') {
        ports = [];
        while (ports.length < regions.length) {
          const p = await freePort();
          if (!ports.includes(p)) ports.push(p);
        }
      }
      else if (Array.isArray(o.regionPorts)) ports = o.regionPorts;
      // startCosmoseal picks its ports by binding port 0 and releasing it; two picks can collide
      // ("admin.port ... is also the listen port"): try again with fresh ones.
      const start = async (attempt = 1) => {
        try {
          return await startCosmoseal(proxyOptions);
        } catch (e) {
          if (attempt >= 3 || !/exited during startup/.test(String(e?.message))) throw e;
          log(`[drill] cosmoseal did not start (attempt ${attempt}): ${String(e.message).split('\n')[1] ?? ''}`);
          return start(attempt + 1);
        }
      };
      const proxyOptions = {
        dir,
        front: { url: accountEndpoint },
        accountKey: sim.key,
        pki,
        clients: [{ name: 'app', key }],
        keys: await makeKeyring(dir, ['pii']),
        policies: [{ database: 'shop', container: 'drill', fields: [{ path: '/ssn', mode: 'deterministic', key: 'pii' }] }],
        ...(ports ? { listenExtra: { region_ports: ports } } : {}),
      };
      proxy = await start();
      cleanup.unshift(() => proxy.stop().catch(() => proxy.kill()));
      endpoint = proxy.url;
      log(`[drill] cosmoseal ${proxy.url}${ports ? ` region_ports ${ports.join(',')}` : ' (no region ports)'}`);
    }
    const agent = new https.Agent({ ca: pki.ca ?? fs.readFileSync(pki.caCert), keepAlive: true });
    const connectionPolicy = { preferredLocations: [regions[1]], ...(o.endpointRefreshMs ? { endpointRefreshRateInMs: o.endpointRefreshMs } : {}) };
    const client = new CosmosClient({ endpoint, key, agent, connectionPolicy });
    cleanup.unshift(() => {
      client.dispose();
      agent.destroy();
    });

    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    const { container } = await database.containers.createIfNotExists({ id: 'drill', partitionKey: { paths: ['/pk'] } });
    await container.items.upsert({ id: 'r0', pk: 'p0', ssn: 'SSN-R0' });
    await container.item('r0', 'p0').read();
    sim.clearRequests();

    let ops = [];
    let t0 = Date.now();
    const now = () => Date.now() - t0;
    let failoverAt = null;
    let stop = false;
    let child;
    if (o.client) {
      const env = {
        ...process.env,
        COSMOSEAL_DRILL_ENDPOINT: endpoint,
        COSMOSEAL_DRILL_KEY: key,
        COSMOSEAL_DRILL_CA_FILE: pki.caCert,
        COSMOSEAL_DRILL_PREFERRED: regions[1],
        COSMOSEAL_DRILL_DATABASE: 'shop',
        COSMOSEAL_DRILL_CONTAINER: 'drill',
        COSMOSEAL_DRILL_DURATION_MS: String(durationMs),
        COSMOSEAL_DRILL_INTERVAL_MS: String(intervalMs),
        COSMOSEAL_DRILL_OP_TIMEOUT_MS: String(opTimeoutMs),
      };
      child = spawn(o.client[0], o.client.slice(1), { cwd: o.clientCwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
      cleanup.unshift(() => child.exitCode === null && child.kill('SIGKILL'));
      const lines = readline.createInterface({ input: child.stdout });
      const raw = [];
      const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      const ready = new Promise((resolve, reject) => {
        lines.on('line', (line) => {
          let m;
          try {
            m = JSON.parse(line);
          } catch {
            log(`[drill] client: ${line}`);
            return;
          }
          if (m.ready) resolve();
          else if (m.kind) raw.push(m);
        });
        exited.then((code) => reject(new Error(`the drill client exited (${code}) before it was ready`)));
      });
      await ready;
      t0 = Date.now();
      child.done = exited.then((code) => {
        ops = raw.map((m) => ({ kind: m.kind, id: m.id, start: Math.round(m.start - t0), end: Math.round(m.end - t0), ok: !!m.ok, ...(m.ok ? {} : { error: String(m.error ?? 'error') }) }));
        return code;
      });
    }
    const timer = setTimeout(() => {
      failoverAt = now();
      if (scenario === 'outage') sim.regionDown(regions[0], 'reset');
      sim.failover(regions[1]);
      log(`[drill] ${scenario}: write region ${regions[0]} -> ${regions[1]} at +${failoverAt} ms`);
    }, failoverAtMs);
    const loop = async (kind, fn) => {
      for (let i = 0; !stop; i++) {
        const start = now();
        const id = `${kind}${i}`;
        try {
          const r = await fn(i, id, AbortSignal.timeout(opTimeoutMs));
          if (r.statusCode >= 400) throw Object.assign(new Error(`status ${r.statusCode}`), { code: r.statusCode, substatus: r.substatus });
          ops.push({ kind, id, start, end: now(), ok: true });
        } catch (e) {
          ops.push({ kind, id, start, end: now(), ok: false, error: describeError(e) });
        }
        if (now() >= durationMs) break;
        await sleep(intervalMs);
      }
    };
    if (child) {
      const deadline = setTimeout(() => child.kill('SIGKILL'), durationMs + opTimeoutMs + 60000);
      const code = await child.done;
      clearTimeout(deadline);
      if (code !== 0) log(`[drill] the drill client exited with ${code}`);
    } else {
      await Promise.all([
        loop('w', (i, id, abortSignal) => container.items.create({ id, pk: `p${i % 8}`, ssn: `SSN-${i}` }, { abortSignal })),
        loop('r', (i, id, abortSignal) => container.item('r0', 'p0').read({ abortSignal })),
      ]);
    }
    stop = true;
    clearTimeout(timer);
    const upstream = sim.requests().map((r) => ({ ...r, t: r.at - t0 }));
    const sdk = o.sdk ?? (o.client ? path.basename(path.dirname(path.resolve(o.clientCwd ?? '.', o.client[o.client.length - 1]))) : 'js');
    return { sdk, via, scenario, regions, endpoint: o.endpoint ?? 'global', endpointRefreshMs: o.endpointRefreshMs ?? null, regionPorts: proxy ? (o.regionPorts ?? null) : null, failoverAtMs: failoverAt, ...summarize(ops, upstream, { regions, failoverAt, durationMs }) };
  } finally {
    for (const f of cleanup) {
      try {
        await f();
      } catch {
        // best effort
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(ops, upstream, { regions, failoverAt, durationMs }) {
  const seconds = Math.ceil(Math.max(durationMs, ...ops.map((x) => x.end)) / 1000);
  const timeline = [];
  const short = (name) => name.split(/\s+/).map((w) => w[0]).join('');
  for (let s = 0; s < seconds; s++) {
    const inSec = (t) => t >= s * 1000 && t < (s + 1) * 1000;
    const done = ops.filter((x) => inSec(x.end));
    const ups = upstream.filter((r) => inSec(r.t));
    const row = {
      s,
      writesOk: done.filter((x) => x.kind === 'w' && x.ok).length,
      writesFailed: done.filter((x) => x.kind === 'w' && !x.ok).length,
      readsOk: done.filter((x) => x.kind === 'r' && x.ok).length,
      readsFailed: done.filter((x) => x.kind === 'r' && !x.ok).length,
      upstreamWrites: Object.fromEntries(regions.map((n) => [short(n), ups.filter((r) => r.op === 'create' && r.region === n).length])),
      upstreamReads: Object.fromEntries(regions.map((n) => [short(n), ups.filter((r) => r.op === 'read' && r.region === n).length])),
      upstream403: ups.filter((r) => r.status === 403).length,
      errors: [...new Set(done.filter((x) => !x.ok).map((x) => x.error))].join(' '),
      failover: failoverAt !== null && inSec(failoverAt),
    };
    timeline.push(row);
  }
  // Recovery: the first write the new write region accepted (upstream 201 there) whose SDK call
  // succeeded, measured at the SDK (its completion) from the failover, and no write failed after
  // it (a lone write through a fresh connection while warm ones still fail is not recovery).
  let recoveryMs = null;
  let firstNewRegionOkMs = null;
  let firstUpstreamWriteMs = null;
  if (failoverAt !== null) {
    const accepted = upstream.filter((r) => r.op === 'create' && r.status === 201 && r.region === regions[1] && r.t >= failoverAt);
    if (accepted.length) firstUpstreamWriteMs = accepted[0].t - failoverAt;
    const ids = new Set(
      accepted.map((r) => {
        try {
          return JSON.parse(r.bodyText).id;
        } catch {
          return undefined;
        }
      }),
    );
    // Sustained: after the last write that failed (SDK error or timeout) since the failover.
    const lastFail = Math.max(failoverAt, ...ops.filter((x) => x.kind === 'w' && !x.ok && x.end >= failoverAt).map((x) => x.end));
    const inNew = ops.filter((x) => x.kind === 'w' && x.ok && ids.has(x.id)).sort((a, b) => a.end - b.end);
    if (inNew.length) firstNewRegionOkMs = inNew[0].end - failoverAt;
    const sustained = inNew.find((x) => x.end >= lastFail);
    if (sustained) recoveryMs = sustained.end - failoverAt;
  }
  const after = ops.filter((x) => failoverAt !== null && x.end >= failoverAt);
  const count = (list, kind, ok) => list.filter((x) => x.kind === kind && x.ok === ok).length;
  const errors = {};
  for (const x of ops) if (!x.ok) errors[x.error] = (errors[x.error] ?? 0) + 1;
  const summary = {
    writesOk: count(ops, 'w', true),
    writesFailed: count(ops, 'w', false),
    readsOk: count(ops, 'r', true),
    readsFailed: count(ops, 'r', false),
    writesOkAfterFailover: count(after, 'w', true),
    writesFailedAfterFailover: count(after, 'w', false),
    readsFailedAfterFailover: count(after, 'r', false),
    recoveryMs,
    firstWriteOkInNewRegionMs: firstNewRegionOkMs,
    firstUpstreamWriteInNewRegionMs: firstUpstreamWriteMs,
    upstream403: upstream.filter((r) => r.status === 403).length,
    // Distinct upstream errors other than the expected 403/3 (status, op, region, message).
    upstreamErrors: [
      ...new Set(
        upstream
          .filter((r) => r.status >= 400 && r.status !== 403)
          .map((r) => `${r.status} ${r.op} ${r.region}: ${String(r.response?.body ?? '').slice(0, 160)}${process.env.DRILL_DEBUG ? JSON.stringify({ url: r.url, h: r.headers, b: r.bodyText.slice(0, 200) }) : ''}`),
      ),
    ].slice(0, 5),
    upstreamRequests: upstream.length,
    errors,
  };
  return { timeline, summary };
}

/** The timeline as a fixed-width table plus a summary line. */
export function formatDrill(r) {
  const names = r.regions.map((n) => n.split(/\s+/).map((w) => w[0]).join(''));
  const lines = [];
  lines.push(`== failover drill (${r.sdk ?? 'js'} SDK): via ${r.via}${r.regionPorts ? ` (region ports ${Array.isArray(r.regionPorts) ? r.regionPorts.join(',') : r.regionPorts})` : ''}, ${r.scenario} ${r.regions[0]} -> ${r.regions[1]} at +${r.failoverAtMs} ms, reads prefer ${r.regions[1]}, account endpoint ${r.endpoint}${r.endpointRefreshMs ? `, SDK account refresh ${r.endpointRefreshMs} ms` : ''}`);
  lines.push(`   s | writes ok fail | reads ok fail | upstream writes ${names.join('/')} | reads ${names.join('/')} | 403 | SDK errors`);
  for (const row of r.timeline) {
    const w = names.map((n) => row.upstreamWrites[n]).join('/');
    const rd = names.map((n) => row.upstreamReads[n]).join('/');
    lines.push(
      `${String(row.s).padStart(4)}${row.failover ? '*' : ' '}|${String(row.writesOk).padStart(9)}${String(row.writesFailed).padStart(5)} |${String(row.readsOk).padStart(9)}${String(row.readsFailed).padStart(5)} | ${w.padStart(15 + names.join('/').length)} | ${rd.padStart(6 + names.join('/').length - 1)} | ${String(row.upstream403).padStart(3)} | ${row.errors}`,
    );
  }
  const s = r.summary;
  lines.push(
    `   summary: writes ${s.writesOk} ok / ${s.writesFailed} failed (after failover ${s.writesOkAfterFailover} ok / ${s.writesFailedAfterFailover} failed), reads ${s.readsOk} ok / ${s.readsFailed} failed; ` +
      `recovery ${s.recoveryMs === null ? 'NONE within the run' : `${s.recoveryMs} ms`} (first write ok in ${r.regions[1]}: ${s.firstWriteOkInNewRegionMs === null ? 'none' : `+${s.firstWriteOkInNewRegionMs} ms`}); ` +
      `upstream 403: ${s.upstream403} of ${s.upstreamRequests}; errors ${JSON.stringify(s.errors)}` +
      (s.upstreamErrors.length ? `\n   upstream errors: ${s.upstreamErrors.join(' | ')}` : ''),
  );
  return lines.join('\n');
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      via: { type: 'string', default: 'both' },
      scenario: { type: 'string', default: 'failover' },
      duration: { type: 'string', default: '20' },
      'failover-at': { type: 'string', default: '6' },
      regions: { type: 'string', default: 'West US,East US' },
      'region-ports': { type: 'string' },
      'interval-ms': { type: 'string', default: '50' },
      'op-timeout-ms': { type: 'string', default: '5000' },
      'endpoint-refresh-ms': { type: 'string' },
      endpoint: { type: 'string', default: 'global' },
      json: { type: 'string' },
      'expect-recovery-ms': { type: 'string' },
      cwd: { type: 'string' },
      sdk: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  const client = positionals.length ? positionals : undefined;
  if (values.help) {
    process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 37).join('\n') + '\n');
    return 0;
  }
  const vias = values.via === 'both' ? ['direct', 'cosmoseal'] : [values.via];
  const scenarios = values.scenario === 'both' ? ['failover', 'outage'] : [values.scenario];
  const regionPorts = values['region-ports'] === undefined ? undefined : values['region-ports'] === 'auto' ? 'auto' : values['region-ports'].split(',').map(Number);
  const results = [];
  for (const scenario of scenarios) {
    for (const via of vias) {
      const r = await runDrill({
        via,
        scenario,
        durationMs: Number(values.duration) * 1000,
        failoverAtMs: Number(values['failover-at']) * 1000,
        regions: values.regions.split(',').map((s) => s.trim()),
        regionPorts,
        intervalMs: Number(values['interval-ms']),
        opTimeoutMs: Number(values['op-timeout-ms']),
        endpoint: values.endpoint,
        client,
        clientCwd: values.cwd,
        sdk: values.sdk,
        endpointRefreshMs: values['endpoint-refresh-ms'] ? Number(values['endpoint-refresh-ms']) : undefined,
        log: (s) => process.stderr.write(`${s}\n`),
      });
      results.push(r);
      process.stdout.write(`${formatDrill(r)}\n\n`);
    }
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(results, null, 2));
  if (values['expect-recovery-ms'] !== undefined) {
    const limit = Number(values['expect-recovery-ms']);
    const bad = results.filter((r) => r.summary.recoveryMs === null || r.summary.recoveryMs > limit);
    for (const r of bad) process.stdout.write(`[drill] FAIL via ${r.via} ${r.scenario}: recovery ${r.summary.recoveryMs ?? 'none'} > ${limit} ms\n`);
    return bad.length ? 1 : 0;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${e?.stack ?? e}\n`);
      process.exit(2);
    },
  );
}
