// Helpers for the operations tests (rules, throttling, audit, metrics, reload, key rotation):
// Prometheus text parsing and `promtool check metrics`, audit log reading, keyrings made with
// `cosmoseal keygen`, envelope key ids, SDK calls reduced to a status, polling.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCosmoseal, writeConfig } from './cosmoseal.mjs';

// ---------------------------------------------------------------- metrics

/**
 * Parses Prometheus text format into samples [{name, labels: {k: v}, value}] (comments skipped).
 * Label values are unescaped (\\ \" \n).
 */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    assert.ok(m, `unparseable metrics line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let lm;
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every pair in `labels` (0 if none). */
export function metricSum(samples, name, labels = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === String(v))) sum += s.value;
  }
  return sum;
}

/** Samples named `name` (optionally filtered by labels). */
export function metricSamples(samples, name, labels = {}) {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === String(v)));
}

/** GET /metrics from cosmoseal's admin listener: {text, samples}. */
export async function scrape(proxy) {
  const r = await proxy.admin('/metrics');
  assert.equal(r.status, 200, `GET /metrics: ${r.status} ${r.body.slice(0, 200)}`);
  return { text: r.body, samples: parseMetrics(r.body) };
}

/** One metric value (sum over matching labels) from a fresh scrape. */
export async function metricNow(proxy, name, labels = {}) {
  return metricSum((await scrape(proxy)).samples, name, labels);
}

/** Pipes `text` to `promtool check metrics`: {code, stdout, stderr}. */
export function promtoolCheck(text) {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(text);
  });
}

// ---------------------------------------------------------------- audit

/** The audit file's lines (non-empty), raw text. */
export function auditLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
}

/** The audit file's records, parsed (a line that is not JSON fails the test). */
export function readAudit(file) {
  return auditLines(file).map((l, i) => {
    try {
      return JSON.parse(l);
    } catch {
      assert.fail(`${file}:${i + 1} is not JSON: ${l.slice(0, 200)}`);
    }
  });
}

/** `cosmoseal audit verify FILE...`: {code, stdout, stderr}. */
export function auditVerify(...files) {
  return runCosmoseal(['audit', 'verify', ...files]);
}

// ---------------------------------------------------------------- keys

/**
 * Makes a KEK and a keyring with one version of each key name via `cosmoseal keygen`.
 * @returns {{keyring_file: string, kek_file: string}}
 */
export async function makeKeyring(dir, names = ['pii']) {
  const keys = { keyring_file: path.join(dir, 'keyring.yaml'), kek_file: path.join(dir, 'kek') };
  for (const n of names) await keygen(keys, n);
  return keys;
}

/** `cosmoseal keygen --keyring --kek-file --key NAME` (asserts exit 0); returns stdout. */
export async function keygen(keys, name) {
  const r = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', name]);
  assert.equal(r.code, 0, `keygen --key ${name}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `cosmoseal keyring show`: [{name, version, id, primary}]. */
export async function keyringShow(keys) {
  const r = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file]);
  assert.equal(r.code, 0, `keyring show: ${r.stdout}${r.stderr}`);
  // Columns by the header's offsets: PRIMARY and DETERMINISTIC are blank or 'yes'.
  const lines = r.stdout.split('\n');
  const header = lines[1] ?? '';
  const at = (name) => header.indexOf(name);
  const col = (line, name, next) => line.slice(at(name), next ? at(next) : undefined).trim();
  const rows = [];
  for (const line of lines.slice(2)) {
    const m = /^(\S+)\s+(\d+)\s+([0-9a-f]{8})\s/.exec(line);
    if (!m) continue;
    rows.push({
      name: m[1], version: Number(m[2]), id: m[3],
      primary: col(line, 'PRIMARY', 'DETERMINISTIC') === 'yes',
      deterministic: col(line, 'DETERMINISTIC', 'CREATED') === 'yes',
    });
  }
  return rows;
}

/** The key id (8 hex digits) and algorithm ('randomized' | 'deterministic') of an envelope string. */
export function envelopeInfo(s) {
  assert.ok(typeof s === 'string' && s.startsWith('csx1:'), `not an envelope: ${JSON.stringify(s)?.slice(0, 80)}`);
  const b = Buffer.from(s.slice(5), 'base64');
  assert.equal(b[0], 1, 'envelope format version');
  const alg = b[1] === 1 ? 'randomized' : b[1] === 2 ? 'deterministic' : `alg ${b[1]}`;
  return { id: b.readUInt32BE(2).toString(16).padStart(8, '0'), alg };
}

// ---------------------------------------------------------------- SDK and polling

/**
 * Awaits an SDK call and reduces it to {status, detail, message, res, err}: the SDK throws for
 * most failures (err.code = HTTP status) and resolves for some (statusCode).
 */
export async function sdkStatus(p) {
  try {
    const res = await p;
    return { status: res?.statusCode ?? 200, res };
  } catch (e) {
    // Batch and bulk wrap the service error: new Error('Batch request error: ...', {cause}).
    const err = typeof e.code !== 'number' && e.cause ? e.cause : e;
    const h = err.headers || {};
    return {
      status: typeof err.code === 'number' ? err.code : Number(err.code) || 0,
      detail: h['x-cosmoseal-detail'],
      message: String(err.body?.message ?? err.message ?? ''),
      err,
    };
  }
}

/** Polls `fn` (async ok) until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

/** Writes a config atomically (temp file + rename), so a reload never reads half a file. */
export function writeConfigAtomic(file, cfg) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeConfig(tmp, cfg);
  fs.renameSync(tmp, file);
  return file;
}

/** Writes text atomically. */
export function writeTextAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return file;
}

/** Deep copy of a JSON-able value. */
export const clone = (v) => JSON.parse(JSON.stringify(v));
