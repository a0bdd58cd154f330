// Raw HTTP/1.1 over TCP or TLS: send exact bytes, collect the exact bytes that come back, know
// whether the peer closed the connection. Plus a small response parser, a builder for signed
// requests (exact framing under our control), and a one-request HTTPS helper.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { signedHeaders } from './auth.mjs';

/**
 * Parses as many HTTP/1.x responses as `buf` holds.
 * @param {Buffer} buf
 * @param {{headRequest?: boolean}} [o]
 * @returns {{responses: Array<{httpVersion: string, status: number, reason: string,
 *   headers: Record<string, string|string[]>, rawHead: string, body: Buffer, complete: boolean}>,
 *   rest: Buffer, error?: string}}
 */
export function parseResponses(buf, o = {}) {
  const responses = [];
  let off = 0;
  while (off < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', off);
    if (headEnd < 0) break;
    const rawHead = buf.subarray(off, headEnd).toString('latin1');
    const lines = rawHead.split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) return { responses, rest: buf.subarray(off), error: `bad status line: ${JSON.stringify(lines[0].slice(0, 80))}` };
    const headers = {};
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const k = line.slice(0, c).trim().toLowerCase();
      const v = line.slice(c + 1).trim();
      if (k in headers) headers[k] = [].concat(headers[k], v);
      else headers[k] = v;
    }
    const status = Number(m[2]);
    const r = { httpVersion: m[1], status, reason: m[3] || '', headers, rawHead, body: Buffer.alloc(0), complete: false };
    let p = headEnd + 4;
    const noBody = o.headRequest || status === 204 || status === 304 || (status >= 100 && status < 200);
    const te = String(headers['transfer-encoding'] || '').toLowerCase();
    if (noBody) {
      r.complete = true;
    } else if (te.includes('chunked')) {
      const parts = [];
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) return { responses, rest: buf.subarray(off), error: 'bad chunk size in response' };
        if (size === 0) {
          const end = buf.indexOf('\r\n\r\n', le); // after optional trailer fields
          if (end < 0) break;
          p = end + 4;
          r.complete = true;
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      r.body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number([].concat(headers['content-length'])[0]);
      r.body = buf.subarray(p, Math.min(buf.length, p + n));
      r.complete = p + n <= buf.length;
      p = Math.min(buf.length, p + n);
    } else {
      // Delimited by close: everything that is left.
      r.body = buf.subarray(p);
      p = buf.length;
      r.complete = !!o.closed;
    }
    responses.push(r);
    if (!r.complete) return { responses, rest: Buffer.alloc(0) };
    off = p;
  }
  return { responses, rest: buf.subarray(off) };
}

/** JSON body of a parsed response, or undefined. */
export function jsonBody(r) {
  try {
    return JSON.parse(r.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Connects, writes `data`, and collects what comes back until the peer closes, `expectResponses`
 * complete responses have arrived, or `timeoutMs` passes. The write side is never half-closed
 * (a FIN from us could make the server close for the wrong reason).
 * @param {object} o
 * @param {number} o.port @param {string} [o.host='127.0.0.1']
 * @param {null|{ca?: Buffer, servername?: string, ALPNProtocols?: string[]}} [o.tls] null = plain TCP
 * @param {Buffer|string|Array<Buffer|string|{delayMs: number}>} o.data pieces written in order
 * @param {number} [o.timeoutMs=3000] @param {number} [o.expectResponses]
 * @returns {Promise<{bytes: Buffer, text: string, closed: boolean, reset: boolean, timedOut: boolean,
 *   error?: string, handshakeError?: string, alpn?: string|false, responses: Array}>}
 */
export function rawExchange(o) {
  const host = o.host || '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? 3000;
  const pieces = Array.isArray(o.data) ? o.data : [o.data];
  return new Promise((resolve) => {
    const chunks = [];
    let settled = false;
    let secure = !o.tls;
    const result = { closed: false, reset: false, timedOut: false };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      const parsed = parseResponses(bytes, { closed: result.closed });
      sock.destroy();
      resolve({ ...result, bytes, text: bytes.toString('latin1'), responses: parsed.responses, parseError: parsed.error });
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      finish();
    }, timeoutMs);
    const sock = o.tls
      ? tls.connect({
          host,
          port: o.port,
          ca: o.tls.ca,
          servername: o.tls.servername ?? 'localhost',
          ALPNProtocols: o.tls.ALPNProtocols ?? ['http/1.1'],
          rejectUnauthorized: o.tls.rejectUnauthorized ?? true,
        })
      : net.connect({ host, port: o.port });
    const writeAll = async () => {
      for (const p of pieces) {
        if (settled) return;
        if (p && typeof p === 'object' && !Buffer.isBuffer(p) && 'delayMs' in p) {
          await new Promise((r) => setTimeout(r, p.delayMs));
        } else if (!sock.destroyed) {
          sock.write(p);
        }
      }
    };
    sock.once(o.tls ? 'secureConnect' : 'connect', () => {
      secure = true;
      if (o.tls) result.alpn = sock.alpnProtocol;
      writeAll().catch(() => {});
    });
    sock.on('data', (c) => {
      chunks.push(c);
      if (o.expectResponses) {
        const parsed = parseResponses(Buffer.concat(chunks));
        if (parsed.responses.filter((r) => r.complete).length >= o.expectResponses) finish();
      }
    });
    sock.on('end', () => {
      result.closed = true;
      finish();
    });
    sock.on('close', () => {
      result.closed = true;
      finish();
    });
    sock.on('error', (err) => {
      if (!secure) result.handshakeError = err.code || err.message;
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') result.reset = true;
      result.error = err.code || err.message;
      result.closed = true;
      finish();
    });
  });
}

/**
 * Builds the exact bytes of one request signed with `key` (if given): request line, Host,
 * x-ms-date, authorization, x-ms-version, extra headers in order, Content-Length when a body is
 * given, blank line, body.
 * @param {{method: string, path: string, host: string, key?: string, date?: Date|string,
 *          headers?: Array<[string,string]>|Record<string,string>, body?: Buffer|string,
 *          contentLength?: boolean}} o
 */
export function buildRequest(o) {
  const lines = [`${o.method} ${o.path} HTTP/1.1`, `Host: ${o.host}`];
  if (o.key) {
    const h = signedHeaders({ method: o.method, path: o.path, key: o.key, date: o.date });
    lines.push(`x-ms-date: ${h['x-ms-date']}`, `authorization: ${h.authorization}`, `x-ms-version: ${h['x-ms-version']}`);
  }
  const extra = Array.isArray(o.headers) ? o.headers : Object.entries(o.headers || {});
  for (const [k, v] of extra) lines.push(`${k}: ${v}`);
  const body = o.body === undefined ? null : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body, 'utf8');
  if (body && o.contentLength !== false) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body || Buffer.alloc(0)]);
}

/**
 * One request with node's HTTP client (fresh connection, no keep-alive), for requests the SDK
 * cannot make: signed with `key` unless `headers.authorization` is given or `sign === false`.
 * @param {{url: string, method?: string, key?: string, date?: Date|string, headers?: object,
 *          body?: string|Buffer|object, ca?: Buffer, sign?: boolean, timeoutMs?: number}} o
 * @returns {Promise<{status: number, headers: object, body: Buffer, text: string, json: any}>}
 */
export function request(o) {
  const u = new URL(o.url);
  const method = o.method || 'GET';
  const pathQ = `${u.pathname}${u.search}`;
  const headers = { accept: 'application/json', ...(o.headers || {}) };
  if (o.key && o.sign !== false && !headers.authorization) Object.assign(headers, signedHeaders({ method, path: pathQ, key: o.key, date: o.date }));
  let body = o.body;
  if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['content-type'] ??= 'application/json';
  }
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: u.hostname,
        port: u.port,
        path: pathQ,
        method,
        headers,
        agent: false,
        ca: o.ca,
        servername: u.hostname === '127.0.0.1' ? undefined : u.hostname,
        timeout: o.timeoutMs ?? 10000,
      },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const b = Buffer.concat(parts);
          const text = b.toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: b, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${o.url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}
