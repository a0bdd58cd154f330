// The test upstream: the real @vercel/cosmosdb-server (plain HTTP on an inner loopback port)
// behind a signature-checking TLS front that behaves like the Cosmos gateway where it matters:
//
// * every request's master-key signature is verified with the REAL account key (a request signed
//   with anything else, e.g. a client key that leaked through, is a signature failure and gets
//   401 like the real service would give);
// * every request is recorded (listener, method, url, headers, body, verification result, which
//   known key signed it) and scanned for registered canary strings (literal, JSON-escaped,
//   \u-escaped and percent-encoded forms) in the request line, the headers and the body;
// * raw bytes read from the TCP sockets (i.e. TLS bytes) are counted, so a test can assert that
//   "0 bytes reached the upstream" while something happened;
// * account discovery (GET /) is answered like a real multi-region account: every
//   databaseAccountEndpoint points at a second "regional" listener of the front (cosmosdb-server
//   itself would advertise its inner plain-HTTP port), and thinClient*Locations are added, as
//   newer accounts have them. A request arriving on the regional listener did not come through
//   cosmoseal's configured upstream endpoint, so it is a bypass unless it was the tests' own
//   direct client (which marks its requests with the x-e2e-origin header).

import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { cosmosdbServer } from './deps.mjs';
import { verifyRequest } from './auth.mjs';

/** Header the tests' direct client adds to every request (stripped before forwarding). */
export const ORIGIN_HEADER = 'x-e2e-origin';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);
const MAX_BODY = 16 * 1024 * 1024;

function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** Every textual form in which a canary could leak. */
export function canaryForms(s) {
  const forms = new Map();
  const add = (name, v) => {
    if (v && ![...forms.values()].includes(v)) forms.set(name, v);
  };
  add('literal', s);
  add('json', JSON.stringify(s).slice(1, -1));
  const uEsc = [...s]
    .map((ch) => {
      const cp = ch.codePointAt(0);
      if (cp > 0xffff) {
        const hi = Math.floor((cp - 0x10000) / 0x400) + 0xd800;
        const lo = ((cp - 0x10000) % 0x400) + 0xdc00;
        return `\\u${hi.toString(16).padStart(4, '0')}\\u${lo.toString(16).padStart(4, '0')}`;
      }
      return `\\u${cp.toString(16).padStart(4, '0')}`;
    })
    .join('');
  add('json-u-escaped', uEsc);
  add('json-u-escaped-upper', uEsc.replace(/\\u([0-9a-f]{4})/g, (_, h) => `\\u${h.toUpperCase()}`));
  const pct = encodeURIComponent(s);
  add('percent', pct);
  add('percent-lower', pct.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  add('percent-uri', encodeURI(s));
  add('form', pct.replace(/%20/g, '+'));
  return [...forms.entries()].map(([form, value]) => ({ form, value, bytes: Buffer.from(value, 'utf8') }));
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

class Front {
  constructor(opts) {
    this.opts = opts;
    this.accountKey = opts.accountKey;
    /** The test CA (PEM) that issued the front's certificate. */
    this.ca = opts.pki.ca;
    /** @type {Map<string, string>} name -> key; used only to name who signed a failed request */
    this.knownKeys = new Map(Object.entries(opts.clientKeys || {}));
    /** Every request seen, in arrival order. */
    this.requests = [];
    /** Every canary occurrence: {seq, canary, form, where, acknowledged}. */
    this._canaryHits = [];
    this.canaries = [];
    this._closedBytes = 0;
    this._liveSockets = new Set();
    this._connections = 0;
    this._bytesByListener = { main: 0, regional: 0 };
    this._seq = 0;
    this.innerAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  async start() {
    this.inner = cosmosdbServer.createHttpServer({ keepAlive: true });
    this.innerPort = await listen(this.inner);
    const tlsOpts = {
      cert: fs.readFileSync(this.opts.pki.upstream.cert),
      key: fs.readFileSync(this.opts.pki.upstream.key),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    };
    this.servers = {};
    for (const name of ['main', 'regional']) {
      const srv = https.createServer(tlsOpts, (req, res) => this._handle(name, req, res));
      srv.keepAliveTimeout = 30000;
      srv.on('connection', (sock) => this._track(name, sock));
      srv.on('tlsClientError', () => {}); // recorded as bytes; a failed handshake is not our business here
      this.servers[name] = srv;
    }
    this.port = await listen(this.servers.main);
    this.regionalPort = await listen(this.servers.regional);
    this.url = `https://localhost:${this.port}/`;
    this.regionalUrl = `https://localhost:${this.regionalPort}/`;
    return this;
  }

  _track(listener, sock) {
    this._connections++;
    this._liveSockets.add(sock);
    sock._e2eListener = listener;
    sock.on('close', () => {
      this._liveSockets.delete(sock);
      this._closedBytes += sock.bytesRead;
      this._bytesByListener[listener] += sock.bytesRead;
    });
  }

  /** Raw bytes read from all TCP sockets of both listeners so far (TLS records included). */
  get bytesReceived() {
    let n = this._closedBytes;
    for (const s of this._liveSockets) n += s.bytesRead;
    return n;
  }

  /** Raw bytes per listener: {main, regional}. */
  get bytesByListener() {
    const out = { ...this._bytesByListener };
    for (const s of this._liveSockets) out[s._e2eListener] += s.bytesRead;
    return out;
  }

  /** TCP connections accepted so far (both listeners). */
  get connections() {
    return this._connections;
  }

  /** Requests whose signature did not verify with the real account key (not yet taken). */
  get signatureFailures() {
    return this.requests.filter((r) => !r.verified && !r.acknowledged);
  }

  /** Canary occurrences {seq, canary, form, where} (not yet taken). */
  get canaryHits() {
    return this._canaryHits.filter((h) => !h.acknowledged);
  }

  /** Requests from the tests' own direct client. */
  get directRequests() {
    return this.requests.filter((r) => r.origin === 'direct');
  }

  /** Requests that did not come from the direct client (i.e. via cosmoseal, or a bypass). */
  get proxiedRequests() {
    return this.requests.filter((r) => r.origin !== 'direct');
  }

  /** Names a key, so a failed signature can be attributed ("signed with client key X"). */
  registerKey(name, key) {
    this.knownKeys.set(name, key);
  }

  /** Registers a canary string; every later request is scanned for it. */
  addCanary(s) {
    assert.ok(typeof s === 'string' && s.length >= 4, 'a canary must be a string of at least 4 characters');
    if (!this.canaries.some((c) => c.canary === s)) this.canaries.push({ canary: s, forms: canaryForms(s) });
    return s;
  }

  _scan(seq, where, buf) {
    for (const { canary, forms } of this.canaries) {
      for (const f of forms) {
        if (buf.indexOf(f.bytes) >= 0) {
          this._canaryHits.push({ seq, canary, form: f.form, where, acknowledged: false });
          break;
        }
      }
    }
  }

  _attribute(req) {
    if (this.accountKey && verifyRequest(req, this.accountKey, { checkDate: false }).ok) return 'account';
    for (const [name, key] of this.knownKeys) {
      if (verifyRequest(req, key, { checkDate: false }).ok) return `key:${name}`;
    }
    return null;
  }

  _handle(listener, req, res) {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const seq = ++this._seq;
      const origin = req.headers[ORIGIN_HEADER] === 'direct' ? 'direct' : 'proxy';
      const verdict = verifyRequest(req, this.accountKey);
      const record = {
        seq,
        at: Date.now(),
        listener,
        origin,
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: { ...req.headers },
        rawHeaders: [...req.rawHeaders],
        body,
        get bodyText() {
          return this.body.toString('utf8');
        },
        get bodyJson() {
          try {
            return JSON.parse(this.body.toString('utf8'));
          } catch {
            return undefined;
          }
        },
        resourceType: verdict.type,
        resourceLink: verdict.link,
        verified: verdict.ok,
        verifyReason: verdict.reason,
        signedWith: verdict.ok ? 'account' : this._attribute(req),
        response: null,
      };
      this.requests.push(record);
      // Canary scan: request line (as sent and percent-decoded), each header line, the body.
      this._scan(seq, 'request-line', Buffer.from(`${req.method} ${req.url} HTTP/${req.httpVersion}`, 'utf8'));
      this._scan(seq, 'request-line(decoded)', Buffer.from(safeDecode(req.url), 'utf8'));
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        this._scan(seq, `header:${req.rawHeaders[i].toLowerCase()}`, Buffer.from(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`, 'utf8'));
      }
      this._scan(seq, 'body', body);

      if (tooBig) return this._reply(record, res, 413, { code: 'RequestEntityTooLarge', message: 'e2e front: body over 16 MiB' });
      if (!verdict.ok && this.opts.rejectBadSignatures !== false) {
        return this._reply(record, res, 401, {
          code: 'Unauthorized',
          message: `e2e front: the authorization signature did not verify with the account key (${verdict.reason}; ` +
            `signed as ${req.method.toLowerCase()} '${verdict.type}' '${verdict.link}')`,
        });
      }
      this._forward(record, req, body, res);
    });
  }

  _reply(record, res, status, obj, extraHeaders = {}) {
    const body = Buffer.from(JSON.stringify(obj));
    record.response = { status, headers: { 'content-type': 'application/json', ...extraHeaders }, body };
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...extraHeaders });
    res.end(body);
  }

  _forward(record, req, body, res) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(k) || k === ORIGIN_HEADER || k === 'content-length') continue;
      headers[k] = v;
    }
    if (body.length > 0 || !['GET', 'HEAD', 'DELETE'].includes(req.method)) headers['content-length'] = String(body.length);
    const up = http.request(
      { host: '127.0.0.1', port: this.innerPort, method: req.method, path: req.url, headers, agent: this.innerAgent },
      (ures) => {
        const parts = [];
        ures.on('data', (c) => parts.push(c));
        ures.on('error', () => {});
        ures.on('end', () => {
          let out = Buffer.concat(parts);
          const isAccount = req.method === 'GET' && record.resourceType === '' && record.resourceLink === '';
          if (isAccount && ures.statusCode === 200) out = this._rewriteAccount(out);
          const rh = {};
          for (const [k, v] of Object.entries(ures.headers)) {
            if (HOP_BY_HOP.has(k) || k === 'content-length') continue;
            rh[k] = v;
          }
          rh['content-length'] = String(out.length);
          record.response = { status: ures.statusCode, headers: rh, body: out };
          res.writeHead(ures.statusCode, rh);
          res.end(out);
        });
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) this._reply(record, res, 502, { code: 'BadGateway', message: `e2e front: inner server: ${err.message}` });
    });
    up.end(body);
  }

  _rewriteAccount(buf) {
    let doc;
    try {
      doc = JSON.parse(buf.toString('utf8'));
    } catch {
      return buf;
    }
    const target = this.opts.advertise === 'main' ? this.url : this.regionalUrl;
    for (const k of ['writableLocations', 'readableLocations']) {
      for (const loc of doc[k] || []) loc.databaseAccountEndpoint = target;
    }
    if (this.opts.injectThinClient !== false) {
      const thin = new URL(this.regionalUrl);
      const thinUrl = `https://${thin.hostname}:${thin.port}/`;
      doc.thinClientWritableLocations = [{ name: 'South Central US', databaseAccountEndpoint: thinUrl }];
      doc.thinClientReadableLocations = [{ name: 'South Central US', databaseAccountEndpoint: thinUrl }];
    }
    return Buffer.from(JSON.stringify(doc));
  }

  /** A snapshot to measure what happens after it (see since()). */
  mark() {
    return { bytes: this.bytesReceived, requests: this.requests.length, connections: this._connections, canaryHits: this._canaryHits.length };
  }

  /** What arrived after `mark`: {bytes, requests: [...], connections, canaryHits: [...]}. */
  since(m) {
    return {
      bytes: this.bytesReceived - m.bytes,
      requests: this.requests.slice(m.requests),
      connections: this._connections - m.connections,
      canaryHits: this._canaryHits.slice(m.canaryHits),
    };
  }

  /**
   * Closes idle keep-alive connections (so that a later idle close_notify from cosmoseal cannot
   * count as "bytes received"), waits a little, and returns a mark().
   */
  async quiesce(ms = 50) {
    for (const s of Object.values(this.servers)) s.closeIdleConnections?.();
    await new Promise((r) => setTimeout(r, ms));
    return this.mark();
  }

  /**
   * Returns the signature failures seen so far and marks them as expected, so assertClean() no
   * longer counts them (for tests that cause them on purpose).
   */
  takeSignatureFailures() {
    const failed = this.signatureFailures;
    for (const r of failed) r.acknowledged = true;
    return failed;
  }

  /**
   * Returns the canary hits seen so far and marks them as expected (tests that leak on purpose).
   * `filter(hit, request)` (optional) limits it to some hits, e.g. those of direct requests.
   */
  takeCanaryHits(filter) {
    const hits = filter ? this.canaryHits.filter((h) => filter(h, this.requests.find((r) => r.seq === h.seq))) : this.canaryHits;
    for (const h of hits) h.acknowledged = true;
    return hits;
  }

  /** Fails (AssertionError) if any request failed signature verification or carried a canary. */
  assertClean() {
    const problems = [];
    for (const r of this.signatureFailures) {
      problems.push(
        `signature failure #${r.seq} on ${r.listener}: ${r.method} ${r.url} (${r.verifyReason}` +
          `${r.signedWith ? `, signed with ${r.signedWith}` : ''})`,
      );
    }
    for (const h of this.canaryHits) {
      const r = this.requests.find((x) => x.seq === h.seq);
      problems.push(`canary ${h.canary} reached the upstream in ${h.where} (${h.form}) of #${h.seq} ${r ? `${r.method} ${r.url}` : ''}`);
    }
    assert.ok(problems.length === 0, `upstream front is not clean:\n  ${problems.join('\n  ')}`);
  }

  /**
   * Fails unless every request other than the direct client's came through the configured upstream
   * endpoint (listener 'main') signed with the account key: no discovery bypass, no client key.
   */
  assertNoBypass() {
    const bad = this.proxiedRequests.filter((r) => !r.acknowledged && (r.listener !== 'main' || !r.verified));
    assert.ok(
      bad.length === 0,
      `requests that did not come through cosmoseal:\n  ${bad
        .map((r) => `#${r.seq} ${r.listener} ${r.method} ${r.url} verified=${r.verified} signedWith=${r.signedWith}`)
        .join('\n  ')}`,
    );
  }

  async close() {
    await Promise.all([...Object.values(this.servers || {}).map(closeServer), this.inner && closeServer(this.inner)]);
    this.innerAgent.destroy();
  }
}

/**
 * Starts cosmosdb-server + the signature-checking TLS front.
 * @param {object} o
 * @param {{upstream: {cert: string, key: string}}} o.pki from createPki()
 * @param {string} o.accountKey the real account key (base64)
 * @param {Record<string,string>} [o.clientKeys] name -> key, only to attribute failed signatures
 * @param {boolean} [o.rejectBadSignatures=true] answer 401 (and do not forward) on a bad signature
 * @param {'regional'|'main'} [o.advertise='regional'] which URL GET / advertises
 * @param {boolean} [o.injectThinClient=true] add thinClient*Locations to GET /
 * @returns {Promise<Front>}
 */
export async function startFront(o) {
  assert.ok(o && o.pki && o.accountKey, 'startFront needs {pki, accountKey}');
  return new Front(o).start();
}

