// The raw smuggling payloads of tests/security/payloads/: the manifest of expected outcomes, and
// each payload's bytes ready to send (placeholders {{HOST}}, {{DATE}}, {{AUTH}} filled in; the
// run-time generated ones built).

import fs from 'node:fs';
import path from 'node:path';
import { PAYLOADS_DIR } from './paths.mjs';
import { signedHeaders } from './auth.mjs';

/** manifest.json: {defaults, payloads: {name: {status, detail, technique, generated?, ...}}}. */
export function loadManifest() {
  return JSON.parse(fs.readFileSync(path.join(PAYLOADS_DIR, 'manifest.json'), 'utf8'));
}

/** The .http files present in the payloads directory. */
export function payloadFiles() {
  return fs.readdirSync(PAYLOADS_DIR).filter((f) => f.endsWith('.http')).sort();
}

/** The generator module (PAYLOADS, GENERATED). */
export async function loadGenerator() {
  return import(path.join(PAYLOADS_DIR, 'generate.mjs'));
}

/** Method and origin-form path of the first request line ('' when it is not an HTTP/1 request line). */
export function firstRequestTarget(bytes) {
  const end = bytes.indexOf('\n');
  const line = bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1').replace(/\r$/, '');
  const m = /^([A-Z]+) (\S+) HTTP\/\d\.\d$/.exec(line);
  if (!m) return { method: '', path: '' };
  let p = m[2];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
    const u = new URL(p);
    p = `${u.pathname}${u.search}`;
  }
  return { method: m[1], path: p };
}

/**
 * Fills the placeholders: {{HOST}} -> host, {{DATE}} -> now (RFC 1123), {{AUTH}} -> a signature
 * with `key` for the first request line's method and path.
 * @param {Buffer} bytes @param {{host: string, key: string, date?: Date}} o
 */
export function materialize(bytes, { host, key, date }) {
  const { method, path: target } = firstRequestTarget(bytes);
  const h = method ? signedHeaders({ method, path: target, key, date }) : null;
  let text = bytes.toString('latin1');
  text = text.replaceAll('{{HOST}}', host);
  if (h) text = text.replaceAll('{{DATE}}', h['x-ms-date']).replaceAll('{{AUTH}}', h.authorization);
  return Buffer.from(text, 'latin1');
}

/**
 * The bytes to send for manifest entry `name`.
 * @param {string} name e.g. 'cl-te.http' or 'uri-too-long'
 * @param {{host: string, key: string}} o
 */
export async function payloadBytes(name, { host, key }) {
  if (name.endsWith('.http')) return materialize(fs.readFileSync(path.join(PAYLOADS_DIR, name)), { host, key });
  const { GENERATED } = await loadGenerator();
  const gen = GENERATED[name];
  if (!gen) throw new Error(`no generated payload named ${name}`);
  const sign = (method, target) => {
    const h = signedHeaders({ method, path: target, key });
    return [`x-ms-date: ${h['x-ms-date']}`, `authorization: ${h.authorization}`, `x-ms-version: ${h['x-ms-version']}`];
  };
  return gen({ host, sign });
}
