// A scripted fake Cosmos upstream for fault tests: a TCP listener that (optionally) speaks TLS
// with a certificate and protocol settings of the test's choosing, parses the requests cosmoseal
// sends with its own small HTTP/1.1 parser, and lets each test decide byte by byte what goes
// back: any status line, any framing (Content-Length, chunked, close-delimited, broken), stalls,
// resets, FIN with or without TLS close_notify.
//
// Everything is recorded: TCP connections, completed TLS handshakes, decrypted application bytes
// received per connection (so "no request byte reached the upstream" can be proven even when the
// TLS handshake itself happened), and every parsed request with its master-key signature checked
// against the real account key.
//
// Modes (settable at any time, apply to connections accepted afterwards):
//   'normal'    TLS (or plain) + HTTP; requests go to the handler
//   'blackhole' accept the TCP connection and never send a byte (no TLS either)
// refuse() closes the listening socket (connections get ECONNREFUSED), resume() listens again
// on the same port.

import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { verifyRequest } from './auth.mjs';

const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** A complete Content-Length response (bytes). */
export function httpResponse(status, { reason, headers = {}, body = '', contentLength = true } = {}) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const lines = [`HTTP/1.1 ${status} ${reason ?? reasonPhrase(status)}`];
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  for (const [k, v] of entries) lines.push(`${k}: ${v}`);
  if (contentLength) lines.push(`Content-Length: ${b.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), b]);
}

/** Encodes `parts` as chunked body bytes (ext: optional chunk extension added to each size line). */
export function chunked(parts, { ext = '', trailers = '' } = {}) {
  const out = [];
  for (const p of parts) {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8');
    if (b.length === 0) continue;
    out.push(Buffer.from(`${b.length.toString(16)}${ext}\r\n`, 'latin1'), b, Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`0\r\n${trailers}\r\n`, 'latin1'));
  return Buffer.concat(out);
}

function reasonPhrase(status) {
  return (
    {
      200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 429: 'Too Many Requests',
      500: 'Internal Server Error', 503: 'Service Unavailable',
    }[status] || 'Status'
  );
}

/**
 * Parses one request from `buf` (HTTP/1.1: Content-Length or chunked body).
 * @returns {null | {req: object, used: number} | {error: string}}
 */
export function parseRequest(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const rawHead = buf.subarray(0, headEnd).toString('latin1');
  const lines = rawHead.split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0]);
  if (!m) return { error: `bad request line ${JSON.stringify(lines[0].slice(0, 100))}` };
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) return { error: `bad header line ${JSON.stringify(line.slice(0, 100))}` };
    const name = line.slice(0, c);
    const value = line.slice(c + 1).trim();
    rawHeaders.push([name, value]);
    const k = name.toLowerCase();
    headers[k] = k in headers ? [].concat(headers[k], value) : value;
  }
  let p = headEnd + 4;
  let body = Buffer.alloc(0);
  let framing = 'none';
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    framing = 'chunked';
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
      if (Number.isNaN(size)) return { error: 'bad chunk size' };
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', le);
        if (end < 0) {
          if (buf.length >= le + 4 && buf.subarray(le, le + 4).toString() === '\r\n\r\n') break;
          return null;
        }
        p = end + 4;
        break;
      }
      if (buf.length < le + 2 + size + 2) return null;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (cl !== undefined) {
    framing = 'content-length';
    const n = Number([].concat(cl)[0]);
    if (!Number.isSafeInteger(n) || n < 0) return { error: `bad content-length ${cl}` };
    if (buf.length < p + n) return null;
    body = Buffer.from(buf.subarray(p, p + n));
    p += n;
  }
  return {
    used: p,
    req: { method: m[1], target: m[2], url: m[2], httpVersion: `1.${m[3]}`, headers, rawHeaders, rawHead, body, framing },
  };
}

class Connection {
  constructor(up, raw, id) {
    this.up = up;
    this.id = id;
    this.raw = raw;
    this.sock = raw; // the TLS socket once wrapped
    this.secure = false;
    this.appBytes = 0;
    this.requests = [];
    this.closed = false;
    this.openedAt = Date.now();
    this.closedAt = null;
    this.tlsError = null;
    this.tlsVersion = null;
    this._buf = Buffer.alloc(0);
    this._busy = false;
  }

  get rawBytes() {
    return this.raw.bytesRead;
  }

  write(data) {
    if (this.sock.destroyed || this.sock.writableEnded) return false;
    this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    return true;
  }

  /** Clean close: TLS close_notify (when TLS) then FIN. */
  end(data) {
    if (data !== undefined) this.write(data);
    if (!this.sock.destroyed) this.sock.end();
  }

  /** FIN without TLS close_notify (for plain TCP, same as end()). */
  fin() {
    if (this.up.tls) {
      // Let pending TLS records out first, then half-close the TCP socket underneath TLS.
      setImmediate(() => {
        if (!this.raw.destroyed) this.raw.end();
      });
    } else if (!this.sock.destroyed) {
      this.sock.end();
    }
  }

  /** TCP RST. */
  reset() {
    try {
      if (!this.raw.destroyed) this.raw.resetAndDestroy();
    } catch {
      this.raw.destroy();
    }
  }

  destroy() {
    if (!this.sock.destroyed) this.sock.destroy();
    if (!this.raw.destroyed) this.raw.destroy();
  }

  /** Resolves when this connection is closed (or after ms, false). */
  waitClosed(ms = 5000) {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.raw.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  _onData(chunk) {
    this.appBytes += chunk.length;
    this.up._appBytesTotal += chunk.length;
    this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
    if (this._buf.length > MAX_REQUEST_BYTES) {
      this.up.errors.push(`conn ${this.id}: request over ${MAX_REQUEST_BYTES} bytes`);
      this.destroy();
      return;
    }
    this._pump();
  }

  async _pump() {
    if (this._busy) return;
    this._busy = true;
    try {
      while (!this.closed) {
        const r = parseRequest(this._buf);
        if (!r) break;
        if (r.error) {
          this.up.errors.push(`conn ${this.id}: ${r.error}`);
          this.destroy();
          break;
        }
        this._buf = this._buf.subarray(r.used);
        const req = r.req;
        req.seq = ++this.up._seq;
        req.connId = this.id;
        req.indexOnConn = this.requests.length;
        req.at = Date.now();
        req.bodyText = req.body.toString('utf8');
        if (this.up.accountKey) {
          const v = verifyRequest({ method: req.method, url: req.target, headers: req.headers }, this.up.accountKey);
          req.verified = v.ok;
          req.verifyReason = v.reason;
        }
        this.requests.push(req);
        this.up.requests.push(req);
        const handler = this.up._queue.length ? this.up._queue.shift() : this.up.handler;
        try {
          await handler(req, this, this.up);
        } catch (err) {
          this.up.errors.push(`conn ${this.id}: handler threw: ${err.stack || err}`);
          this.destroy();
        }
      }
    } finally {
      this._busy = false;
    }
  }
}

/** The default handler: 200 with a small JSON body naming the request. */
export function okHandler(req, conn) {
  conn.write(
    httpResponse(200, {
      headers: { 'Content-Type': 'application/json', 'x-ms-request-charge': '1' },
      body: { ok: true, seq: req.seq, conn: conn.id, method: req.method, target: req.target },
    }),
  );
}

export class ScriptedUpstream {
  constructor(o) {
    this.o = o;
    this.tls = o.tls !== false;
    this.host = o.host || '127.0.0.1';
    this.hostname = o.hostname || 'localhost';
    this.accountKey = o.accountKey;
    /** Mode for new connections: 'normal' | 'blackhole'. */
    this.mode = 'normal';
    /** (req, conn, upstream) => void|Promise: writes the answer with conn.write/end/fin/reset. */
    this.handler = o.handler || okHandler;
    this._queue = [];
    this.conns = [];
    this.requests = [];
    this.errors = [];
    this.tlsErrors = [];
    this.handshakes = 0;
    this._appBytesTotal = 0;
    this._seq = 0;
    this._live = new Set();
    if (this.tls) this.setTls(o);
  }

  /**
   * Sets the certificate and TLS settings for connections accepted from now on.
   * @param {{cert: string, key: string, minVersion?: string, maxVersion?: string, ciphers?: string}} o
   *   cert/key are PEM file paths
   */
  setTls(o) {
    this.tls = true;
    this.secureContext = tls.createSecureContext({
      cert: fs.readFileSync(o.cert),
      key: fs.readFileSync(o.key),
      minVersion: o.minVersion || 'TLSv1.2',
      ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      ...(o.ciphers ? { ciphers: o.ciphers } : {}),
    });
  }

  async start() {
    this.server = net.createServer((raw) => this._onConnection(raw));
    this.server.on('error', (e) => this.errors.push(`listener: ${e.message}`));
    this.port = await this._listen(this.o.port ?? 0);
    this.url = `${this.tls ? 'https' : 'http'}://${this.hostname}:${this.port}/`;
    return this;
  }

  _listen(port) {
    return new Promise((resolve, reject) => {
      const onErr = (e) => reject(e);
      this.server.once('error', onErr);
      this.server.listen({ port, host: this.host, exclusive: true }, () => {
        this.server.off('error', onErr);
        resolve(this.server.address().port);
      });
    });
  }

  /** Stop listening (connects are refused); existing connections stay. */
  refuse() {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /** Listen again on the same port. */
  async resume() {
    if (this.server.listening) return;
    this.server = net.createServer((raw) => this._onConnection(raw));
    this.server.on('error', (e) => this.errors.push(`listener: ${e.message}`));
    await this._listen(this.port);
  }

  /** Queues handlers used (once each, in order) for the next requests, before `handler`. */
  next(...handlers) {
    this._queue.push(...handlers);
  }

  /** Clears queued handlers and restores the default handler and mode. */
  reset() {
    this._queue = [];
    this.handler = this.o.handler || okHandler;
    this.mode = 'normal';
  }

  _onConnection(raw) {
    const conn = new Connection(this, raw, this.conns.length + 1);
    this.conns.push(conn);
    this._live.add(conn);
    conn.mode = this.mode;
    raw.on('error', () => {});
    raw.on('close', () => {
      conn.closed = true;
      conn.closedAt = Date.now();
      this._live.delete(conn);
    });
    if (this.mode === 'blackhole') {
      raw.on('data', () => {}); // read and discard; answer nothing
      return;
    }
    if (!this.tls) {
      conn.secure = true;
      raw.on('data', (c) => conn._onData(c));
      raw.on('end', () => raw.end());
      return;
    }
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext: this.secureContext, ALPNProtocols: ['http/1.1'] });
    conn.sock = t;
    t.on('secure', () => {
      conn.secure = true;
      conn.tlsVersion = t.getProtocol();
      conn.servername = t.servername; // SNI sent by the client (false when none)
      conn.alpn = t.alpnProtocol;
      this.handshakes++;
    });
    t.on('error', (e) => {
      conn.tlsError = e.code || e.message;
      if (!conn.secure) this.tlsErrors.push(conn.tlsError);
    });
    t.on('data', (c) => conn._onData(c));
    t.on('end', () => {
      if (!t.destroyed) t.end();
    });
    t.on('close', () => {
      if (!raw.destroyed) raw.destroy();
    });
  }

  /** TCP connections accepted so far. */
  get connections() {
    return this.conns.length;
  }

  /** Decrypted application bytes received so far (all connections). */
  get appBytes() {
    return this._appBytesTotal;
  }

  get openConnections() {
    return [...this._live];
  }

  mark() {
    return { connections: this.conns.length, requests: this.requests.length, appBytes: this._appBytesTotal, handshakes: this.handshakes };
  }

  since(m) {
    return {
      connections: this.conns.length - m.connections,
      conns: this.conns.slice(m.connections),
      requests: this.requests.slice(m.requests),
      appBytes: this._appBytesTotal - m.appBytes,
      handshakes: this.handshakes - m.handshakes,
    };
  }

  /**
   * Closes every open connection cleanly (close_notify + FIN) and waits until the peer (cosmoseal)
   * has closed its side too, i.e. it has noticed; connections still open after `ms` are destroyed.
   */
  async quiesce(ms = 1000) {
    const live = [...this._live];
    for (const c of live) c.end();
    await Promise.all(live.map((c) => c.waitClosed(ms)));
    for (const c of live) c.destroy();
  }

  /** Destroys every open connection (e.g. between tests). */
  dropAll() {
    for (const c of this._live) c.destroy();
  }

  /** Waits until `pred()` is true (polling every 20 ms) or `ms` passed; returns the last value. */
  async waitFor(pred, ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v || Date.now() >= deadline) return v;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close() {
    this.dropAll();
    await this.refuse();
  }
}

/**
 * Starts a scripted upstream.
 * @param {object} o
 * @param {string} [o.cert] @param {string} [o.key] PEM files (required unless tls === false)
 * @param {boolean} [o.tls=true] @param {string} [o.minVersion] @param {string} [o.maxVersion] @param {string} [o.ciphers]
 * @param {string} [o.accountKey] verify each request's signature with it (req.verified)
 * @param {string} [o.hostname='localhost'] host name used in `url`
 * @param {number} [o.port] fixed port (default: random)
 * @param {Function} [o.handler] default request handler (okHandler)
 * @returns {Promise<ScriptedUpstream>}
 */
export function startScriptedUpstream(o) {
  return new ScriptedUpstream(o).start();
}
