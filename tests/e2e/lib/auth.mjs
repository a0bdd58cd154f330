// Cosmos DB master-key authorization: derive (verb, resourceType, resourceLink) from a request
// path, compute the HMAC-SHA256 signature, build and parse the `authorization` header, and
// verify a request against a key. Rules: shared/ref/cosmos-protocol.md §1 (test vectors §1.3,
// checked in harness.test.mjs). Used by the signature-checking upstream front, by raw requests
// that the tests sign themselves, and by the demo.

import crypto from 'node:crypto';

export const X_MS_VERSION = '2020-07-15';

// Tokens are accepted from about now-30 min to now+15 min (ref §1.1: 900 s lifetime + 900 s skew).
export const MAX_PAST_SKEW_MS = 30 * 60 * 1000;
export const MAX_FUTURE_SKEW_MS = 15 * 60 * 1000;

function decodeSegment(seg) {
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg; // a malformed escape is signed as sent; verification will then simply fail
  }
}

/**
 * Splits a request target (path, optionally with a query string) into the resource type and
 * link that the signature covers, by the odd/even segment rule (ref §1.2).
 * @param {string} target e.g. "/dbs/db%20full/colls/Items/docs?x=1"
 * @returns {{type: string, link: string, segments: string[]}}
 */
export function resourceFromPath(target) {
  let path = target;
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  path = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '') return { type: '', link: '', segments: [] };
  const segments = path.split('/').map(decodeSegment);
  // /offers/{rid} is signed with the lowercased RID alone (ref §1.2 exception).
  if (segments.length === 2 && segments[0].toLowerCase() === 'offers') {
    return { type: 'offers', link: segments[1].toLowerCase(), segments };
  }
  if (segments.length % 2 === 1) {
    return { type: segments[segments.length - 1], link: segments.slice(0, -1).join('/'), segments };
  }
  return { type: segments[segments.length - 2], link: segments.join('/'), segments };
}

/** The exact string that is HMAC'd (ref §1.1). */
export function stringToSign(verb, type, link, date) {
  return `${verb.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${date.toLowerCase()}\n\n`;
}

/** base64(HMAC-SHA256(base64decode(key), stringToSign)). */
export function computeSignature(keyBase64, verb, type, link, date) {
  return crypto
    .createHmac('sha256', Buffer.from(keyBase64, 'base64'))
    .update(stringToSign(verb, type, link, date), 'utf8')
    .digest('base64');
}

/** The authorization header value as the JS SDK sends it (encodeURIComponent, upper-case hex). */
export function authorizationHeader(sig) {
  return encodeURIComponent(`type=master&ver=1.0&sig=${sig}`);
}

/**
 * Headers for a request signed with `key` (x-ms-date, authorization, x-ms-version).
 * @param {{method: string, path: string, key: string, date?: Date|string}} o
 *   path: the request target as sent (percent-encoded); date: defaults to now.
 */
export function signedHeaders({ method, path, key, date }) {
  const xmsdate = typeof date === 'string' ? date : (date ?? new Date()).toUTCString();
  const { type, link } = resourceFromPath(path);
  const sig = computeSignature(key, method, type, link, xmsdate);
  return { 'x-ms-date': xmsdate, authorization: authorizationHeader(sig), 'x-ms-version': X_MS_VERSION };
}

/**
 * Parses an authorization header value: percent-decoded (hex in either case, '+' kept as '+'),
 * split on '&', each part on its first '='.
 * @returns {{type?: string, ver?: string, sig?: string} | null}
 */
export function parseAuthorization(value) {
  if (typeof value !== 'string' || value === '') return null;
  let decoded;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  const out = {};
  for (const part of decoded.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

function timingSafeEqualStr(a, b) {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

/**
 * Verifies a request's master-key signature against `key`.
 * @param {{method: string, url: string, headers: Record<string, string|string[]|undefined>}} req
 *   headers with lower-case names (node's req.headers).
 * @param {string} key base64 key
 * @param {{now?: number, checkDate?: boolean}} [opts]
 * @returns {{ok: boolean, reason: string, type: string, link: string, date: string|undefined,
 *            skewMs?: number}} reason: 'ok' | 'missing' | 'malformed' | 'unsupported_token' |
 *            'no_date' | 'bad_signature' | 'date_skew'
 */
// True when the link's database segment has the shape of a database RID (base64 of 4 bytes) or its
// collection segment that of a collection RID (8 bytes); '-' stands for '/' in RIDs.
function ridAddressed(link) {
  const seg = link.split('/');
  const shaped = (s, bytes) => s !== undefined &&
    new RegExp(`^[A-Za-z0-9+/-]{${Math.floor(bytes / 3) * 4 + (bytes % 3 ? bytes % 3 + 1 : 0)}}={${(3 - (bytes % 3)) % 3}}$`).test(s);
  return seg[0] === 'dbs' && (shaped(seg[1], 4) || (seg[2] === 'colls' && shaped(seg[3], 8)));
}

export function verifyRequest(req, key, opts = {}) {
  const { type, link } = resourceFromPath(req.url);
  const first = (v) => (Array.isArray(v) ? v[0] : v);
  const date = first(req.headers['x-ms-date']) || first(req.headers.date);
  const base = { type, link, date };
  const auth = first(req.headers.authorization);
  if (!auth) return { ...base, ok: false, reason: 'missing' };
  const parsed = parseAuthorization(auth);
  if (!parsed || !parsed.type || !parsed.sig) return { ...base, ok: false, reason: 'malformed' };
  if (parsed.type !== 'master' || parsed.ver !== '1.0') return { ...base, ok: false, reason: 'unsupported_token' };
  if (!date) return { ...base, ok: false, reason: 'no_date' };
  const expected = computeSignature(key, req.method, type, link, date);
  // Requests addressed by resource ids (/dbs/{dbRid}/colls/{collRid}/...) are signed by the .NET
  // and Java SDKs over the addressed RID in lowercase, and the service accepts that (.NET
  // AuthorizationHelper): so does the front.
  const ridLink = ridAddressed(link) ? link.slice(link.lastIndexOf('/') + 1).toLowerCase() : null;
  const ok = timingSafeEqualStr(expected, parsed.sig) ||
    (ridLink !== null && timingSafeEqualStr(computeSignature(key, req.method, type, ridLink, date), parsed.sig));
  if (!ok) return { ...base, ok: false, reason: 'bad_signature' };
  if (opts.checkDate !== false) {
    const t = Date.parse(date);
    const now = opts.now ?? Date.now();
    if (Number.isNaN(t)) return { ...base, ok: false, reason: 'date_skew' };
    const skewMs = t - now;
    if (skewMs < -MAX_PAST_SKEW_MS || skewMs > MAX_FUTURE_SKEW_MS) return { ...base, ok: false, reason: 'date_skew', skewMs };
    return { ...base, ok: true, reason: 'ok', skewMs };
  }
  return { ...base, ok: true, reason: 'ok' };
}
