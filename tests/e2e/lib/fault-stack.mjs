// Fault-test stack: cosmoseal in front of a scripted upstream (lib/scripted-upstream.mjs) instead
// of the cosmosdb-server front, plus a keep-alive raw client connection that sends exact bytes
// and reads responses one at a time (so a test can prove that the SAME downstream connection
// still works after a fault).

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { makeWorkDir } from './paths.mjs';
import { createPki } from './pki.mjs';
import { randomKey } from './keys.mjs';
import { startCosmoseal } from './cosmoseal.mjs';
import { startScriptedUpstream } from './scripted-upstream.mjs';
import { buildRequest, parseResponses } from './raw.mjs';

/** Short proxy timeouts so fault tests stay fast; override per test file. */
export const FAST_UPSTREAM = { connect_timeout: '600ms', response_timeout: '800ms' };

/**
 * @param {object} [o]
 * @param {string} [o.name='faults']
 * @param {boolean} [o.tls=true] TLS on cosmoseal's listener
 * @param {object} [o.upstream] options for startScriptedUpstream (cert/key default to pki.upstream)
 * @param {string} [o.endpoint] upstream.endpoint to configure instead of the scripted upstream's URL
 * @param {string} [o.caFile] upstream.ca_file (default: the test CA)
 * @param {{cert: string, key: string}|((pki) => {cert: string, key: string})} [o.proxyCert] listener
 *   certificate, or a function making it from the stack's PKI (default: pki.proxy)
 * @param {object} [o.upstreamExtra] merged over FAST_UPSTREAM
 * @param {object} [o.extra] top-level config keys (workers defaults to 1)
 * @param {object} [o.listenExtra]
 * @param {Array} [o.clients] default [{name: 'app'}]
 */
export async function startFaultStack(o = {}) {
  const dir = makeWorkDir(o.name ?? 'faults');
  const s = new FaultStack(dir);
  try {
    s.pki = createPki(dir);
    s.accountKey = randomKey();
    s.clients = (o.clients ?? [{ name: 'app' }]).map((c) => ({ ...c, key: c.key ?? randomKey() }));
    s.clientKeys = Object.fromEntries(s.clients.map((c) => [c.name, c.key]));
    s.key = s.clients[0].key;
    if (o.proxyCert) s.proxyCert = typeof o.proxyCert === 'function' ? o.proxyCert(s.pki) : o.proxyCert;
    s.up = await startScriptedUpstream({
      cert: s.pki.upstream.cert,
      key: s.pki.upstream.key,
      accountKey: s.accountKey,
      ...(o.upstream || {}),
    });
    s.proxy = await startCosmoseal({
      dir,
      front: { url: o.endpoint ?? s.up.url },
      accountKey: s.accountKey,
      pki: { ...s.pki, caCert: o.caFile ?? s.pki.caCert, ...(s.proxyCert ? { proxy: s.proxyCert } : {}) },
      clients: s.clients,
      tls: o.tls,
      extra: { workers: 1, ...(o.extra || {}) },
      listenExtra: o.listenExtra,
      upstreamExtra: { ...FAST_UPSTREAM, ...(o.upstreamExtra || {}) },
      env: o.env,
    });
  } catch (err) {
    await s.stop({ checkExit: false, keep: true }).catch(() => {});
    throw err;
  }
  return s;
}

export class FaultStack {
  constructor(dir) {
    this.dir = dir;
    this._conns = [];
  }

  get host() {
    return `localhost:${this.proxy.port}`;
  }

  /** rawExchange() connection options for cosmoseal's listener. */
  conn() {
    return { port: this.proxy.port, tls: this.proxy.tls ? { ca: this.pki.ca } : null };
  }

  /** Exact bytes of a request signed with the app's key (see raw.buildRequest). */
  req(o) {
    return buildRequest({ method: 'GET', path: '/dbs/shop/colls/c1/docs/d1', host: this.host, key: this.key, ...o });
  }

  /** A new keep-alive connection to cosmoseal. */
  async open(o = {}) {
    const c = await KeepAliveConn.open({ ...this.conn(), ...o });
    this._conns.push(c);
    return c;
  }

  /** Proxy log lines matching `re` (for failure messages). */
  logLines(re) {
    try {
      return fs.readFileSync(this.proxy.logPath, 'utf8').split('\n').filter((l) => re.test(l));
    } catch {
      return [];
    }
  }

  async stop({ checkExit = true, keep = false } = {}) {
    for (const c of this._conns.splice(0)) c.destroy();
    let err = null;
    if (this.proxy) {
      try {
        if (checkExit) await this.proxy.stop();
        else await this.proxy.kill();
      } catch (e) {
        err = e;
        await this.proxy.kill();
      }
    }
    if (this.up) await this.up.close();
    if (!keep && !err && !process.env.E2E_KEEP_WORK) fs.rmSync(this.dir, { recursive: true, force: true });
    if (err) throw err;
  }
}

/**
 * One client connection kept open across requests: write exact bytes, read responses one by one.
 */
export class KeepAliveConn {
  /** @param {{port: number, host?: string, tls?: null|{ca?: Buffer, servername?: string, ALPNProtocols?: string[]}, timeoutMs?: number}} o */
  static open(o) {
    return new Promise((resolve, reject) => {
      const c = new KeepAliveConn();
      const host = o.host || '127.0.0.1';
      const sock = o.tls
        ? tls.connect({ host, port: o.port, ca: o.tls.ca, servername: o.tls.servername ?? 'localhost', ALPNProtocols: o.tls.ALPNProtocols ?? ['http/1.1'] })
        : net.connect({ host, port: o.port });
      c.sock = sock;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to 127.0.0.1:${o.port} timed out`));
      }, o.timeoutMs ?? 3000);
      sock.once(o.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        c.connected = true;
        resolve(c);
      });
      sock.on('data', (d) => {
        c.buf = Buffer.concat([c.buf, d]);
        c.bytesIn += d.length;
        c._wake();
      });
      sock.on('end', () => {
        c.ended = true;
        c._wake();
      });
      sock.on('error', (e) => {
        c.error = e.code || e.message;
        if (e.code === 'ECONNRESET') c.reset = true;
        if (!c.connected) {
          clearTimeout(timer);
          reject(e);
        }
      });
      sock.on('close', () => {
        c.closed = true;
        c.closedAt = Date.now();
        c._wake();
      });
    });
  }

  constructor() {
    this.buf = Buffer.alloc(0);
    this.bytesIn = 0;
    this.closed = false;
    this.ended = false;
    this.reset = false;
    this.error = null;
    this._waiters = [];
  }

  _wake() {
    for (const w of this._waiters.splice(0)) w();
  }

  _waitEvent(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this._waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data) {
    this.sock.write(data);
  }

  /**
   * The next complete response (1xx included), or null when the connection closed or `timeoutMs`
   * passed first (then this.closed / this.reset tell which; this.buf holds the partial bytes).
   */
  async response(timeoutMs = 3000, o = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponses(this.buf, { closed: this.closed || this.ended, ...o });
      const first = parsed.responses[0];
      if (first && first.complete) {
        const used = firstResponseLength(this.buf, { closed: this.closed || this.ended, ...o });
        this.buf = this.buf.subarray(used);
        return first;
      }
      if (this.closed || Date.now() >= deadline) return null;
      await this._waitEvent(Math.max(1, deadline - Date.now()));
    }
  }

  /** Resolves true when the peer closed the connection within `ms`. */
  async waitClosed(ms = 3000) {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await this._waitEvent(deadline - Date.now());
    return this.closed;
  }

  /** The bytes received and not consumed by response(). */
  get pending() {
    return this.buf;
  }

  destroy() {
    this.sock.destroy();
  }
}

/**
 * Length in bytes of the first complete response in `buf` (same framing rules as
 * raw.parseResponses), or -1 when it is not complete yet.
 */
export function firstResponseLength(buf, { closed = false, headRequest = false } = {}) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return -1;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number((/^HTTP\/\d\.\d (\d{3})/.exec(lines[0]) || [])[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let p = headEnd + 4;
  if (headRequest || status === 204 || status === 304 || (status >= 100 && status < 200)) return p;
  if (String(headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return -1;
      const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
      if (Number.isNaN(size)) return -1;
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', le);
        return end < 0 ? -1 : end + 4;
      }
      if (le + 2 + size + 2 > buf.length) return -1;
      p = le + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return p + n <= buf.length ? p + n : -1;
  }
  return closed ? buf.length : -1;
}

/** An admin request (any method) to cosmoseal: {status, headers, body}. */
export function adminRequest(proxy, method, pathname, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${proxy.adminUrl}${pathname.replace(/^\//, '')}`,
      { method, agent: false, timeout: timeoutMs },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`admin ${method} ${pathname} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Milliseconds since `t0` (a performance.now() value). */
export function since(t0) {
  return Math.round(performance.now() - t0);
}
