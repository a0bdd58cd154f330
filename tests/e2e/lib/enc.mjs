// Helpers for the field-encryption end-to-end tests (encryption.test.mjs, queries.test.mjs):
// a keyring made by `cosmoseal keygen`, policy path matching over plain JS values, checks of
// what is really stored (envelopes at protected paths, everything else as written), envelope
// byte surgery for tampering tests, raw signed requests through cosmoseal, and "refused with
// 0 bytes upstream" measurement.

import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCosmoseal } from './cosmoseal.mjs';
import { request } from './raw.mjs';
import { withoutSystemProperties } from './cosmos-json.mjs';

export const ENVELOPE_PREFIX = 'csx1:';

/**
 * Creates a KEK file and a keyring with one key version per name, with `cosmoseal keygen`
 * (the way an operator would). Returns the `keys:` config block {keyring_file, kek_file}.
 */
export async function makeKeyring(dir, names = ['pii']) {
  const keys = { keyring_file: path.join(dir, 'keyring.yaml'), kek_file: path.join(dir, 'kek') };
  for (const name of names) {
    const r = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', name]);
    assert.equal(r.code, 0, `cosmoseal keygen --key ${name} failed:\n${r.stdout}${r.stderr}`);
  }
  return keys;
}

/** True for a JSON string value holding an envelope. */
export function isEnvelope(v) {
  return typeof v === 'string' && v.startsWith(ENVELOPE_PREFIX) && v.length > ENVELOPE_PREFIX.length;
}

/** Envelope string -> its bytes (strict enough for tests). */
export function envelopeBytes(s) {
  assert.ok(isEnvelope(s), `not an envelope: ${JSON.stringify(s)}`);
  return Buffer.from(s.slice(ENVELOPE_PREFIX.length), 'base64');
}

/** Bytes -> envelope string. */
export function envelopeString(buf) {
  return `${ENVELOPE_PREFIX}${Buffer.from(buf).toString('base64')}`;
}

/** The envelope's key id (bytes 2..5, u32be) as 8 hex digits. */
export function envelopeKeyId(s) {
  return envelopeBytes(s).subarray(2, 6).toString('hex');
}

/** The envelope's algorithm byte: 1 = randomized (AES-GCM), 2 = deterministic (AES-SIV). */
export function envelopeAlgorithm(s) {
  return envelopeBytes(s)[1];
}

/** Splits a policy path ("/cards/*\/number") into unescaped segments. */
export function pointerSegments(p) {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Every concrete location matched by a policy path pattern in a parsed JSON value:
 * [{path: ['cards', 0, 'number'], value}]. `*` matches every member / element; a literal segment
 * matches the member of that name or the array element with that decimal index.
 */
export function matchesOf(doc, pattern) {
  const segs = pointerSegments(pattern);
  const out = [];
  const walk = (v, i, at) => {
    if (i === segs.length) {
      out.push({ path: at, value: v });
      return;
    }
    const s = segs[i];
    if (Array.isArray(v)) {
      if (s === '*') v.forEach((x, k) => walk(x, i + 1, [...at, k]));
      else if (/^(0|[1-9][0-9]*)$/.test(s) && Number(s) < v.length) walk(v[Number(s)], i + 1, [...at, Number(s)]);
    } else if (v && typeof v === 'object') {
      if (s === '*') for (const k of Object.keys(v)) walk(v[k], i + 1, [...at, k]);
      else if (Object.prototype.hasOwnProperty.call(v, s)) walk(v[s], i + 1, [...at, s]);
    }
  };
  walk(doc, 0, []);
  return out;
}

export function getAt(doc, p) {
  let v = doc;
  for (const s of p) v = v == null ? undefined : v[s];
  return v;
}

function setAt(doc, p, value) {
  let v = doc;
  for (const s of p.slice(0, -1)) v = v[s];
  v[p[p.length - 1]] = value;
}

/**
 * Checks a document as really stored (read directly, bypassing cosmoseal) against what the app
 * wrote: every protected location present in `written` holds an envelope (deterministic ones
 * with algorithm 2, randomized with 1), and everything else is exactly what was written.
 * @param {object} stored the stored document (system properties are ignored)
 * @param {object} written what the app wrote (plain values)
 * @param {Array<{path: string, mode: string}>} fields the container's policy fields
 * @returns {Map<string, string>} "/a/0/b" -> envelope, for further checks
 */
export function assertStoredEncrypted(stored, written, fields, what = '') {
  assert.ok(stored && typeof stored === 'object', `${what}: a stored document`);
  const expected = structuredClone(written);
  const envelopes = new Map();
  for (const f of fields) {
    for (const m of matchesOf(written, f.path)) {
      const s = getAt(stored, m.path);
      const where = `/${m.path.join('/')}`;
      assert.ok(isEnvelope(s), `${what}: stored ${where} must be an envelope, got ${JSON.stringify(s)?.slice(0, 120)}`);
      assert.equal(envelopeAlgorithm(s), f.mode === 'deterministic' ? 2 : 1, `${what}: ${where} is ${f.mode}`);
      setAt(expected, m.path, s);
      envelopes.set(where, s);
    }
  }
  assert.deepStrictEqual(withoutSystemProperties(stored), expected, `${what}: unprotected fields must be stored exactly as written`);
  return envelopes;
}

/** Every envelope string anywhere in a parsed JSON value. */
export function envelopesIn(v, out = []) {
  if (isEnvelope(v)) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => envelopesIn(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => envelopesIn(x, out));
  return out;
}

/**
 * A raw signed request through cosmoseal with the app's client key.
 * @returns {Promise<{status, headers, body, text, json}>}
 */
export function rawVia(stack, method, p, { headers = {}, body, key } = {}) {
  return request({
    url: `${stack.proxy.url}${p.replace(/^\//, '')}`,
    method,
    key: key ?? stack.clientKeys.app,
    ca: stack.pki.ca,
    headers,
    body,
    timeoutMs: 20000,
  });
}

/** A raw signed request straight to the front with the account key (a "direct" request). */
export function rawDirect(stack, method, p, { headers = {}, body } = {}) {
  return request({
    url: `${stack.front.url}${p.replace(/^\//, '')}`,
    method,
    key: stack.accountKey,
    ca: stack.front.ca,
    headers: { 'x-e2e-origin': 'direct', ...headers },
    body,
    timeoutMs: 20000,
  });
}

/** Headers of a query request as the JS SDK sends them. */
export function queryHeaders(pk) {
  return {
    'content-type': 'application/query+json',
    'x-ms-documentdb-isquery': 'true',
    'x-ms-documentdb-query-enablecrosspartition': 'true',
    ...(pk !== undefined ? { 'x-ms-documentdb-partitionkey': JSON.stringify([pk]) } : {}),
  };
}

/**
 * Runs `fn` and asserts that the upstream received 0 bytes meanwhile (idle upstream connections
 * are closed first, so an idle close cannot count). Returns fn's result.
 */
export async function nothingUpstream(front, fn, what = '') {
  const m = await front.quiesce();
  const r = await fn();
  await sleep(100);
  const d = front.since(m);
  assert.equal(
    d.bytes,
    0,
    `${what}: the upstream received ${d.bytes} bytes (${d.requests.map((x) => `${x.method} ${x.url} ${x.bodyText.slice(0, 200)}`).join('; ')})`,
  );
  return r;
}

/**
 * Registers canaries: every protected plaintext string of the tests. Short or base64-looking
 * strings could show up by chance inside ciphertext, so a canary must be at least 8 characters
 * or contain a character outside the base64 alphabet and be at least 5 characters.
 */
export function addCanaries(front, values) {
  for (const v of values) {
    assert.ok(
      typeof v === 'string' && (v.length >= 8 || (v.length >= 5 && /[^A-Za-z0-9+/=]/.test(v))),
      `canary too weak (could appear inside base64 by chance): ${JSON.stringify(v)}`,
    );
    front.addCanary(v);
  }
}

/** The string leaves (and long number tokens) of a value, as canary candidates. */
export function canaryCandidates(v, out = []) {
  if (typeof v === 'string') {
    if (v.length >= 8 || (v.length >= 5 && /[^A-Za-z0-9+/=]/.test(v))) out.push(v);
  } else if (typeof v === 'number') {
    const s = String(v);
    if (s.length >= 8) out.push(s);
  } else if (Array.isArray(v)) v.forEach((x) => canaryCandidates(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => canaryCandidates(x, out));
  return out;
}

/** Last lines of cosmoseal's log mentioning `needle` (for failure messages). */
export function logLines(stack, needle, n = 5) {
  try {
    return stack.proxy
      .log()
      .split('\n')
      .filter((l) => l.includes(needle))
      .slice(-n)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
