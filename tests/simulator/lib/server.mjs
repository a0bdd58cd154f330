// The simulator: HTTP(S) listeners on 127.0.0.1 (one per region) answering the Cosmos DB gateway
// REST surface the SDKs use, with the service's signature rules, several physical partition-key
// ranges, RID addressing, per-range session tokens, continuation tokens, query plans, change feed,
// transactional batch and bulk, injected faults (429 and others), and an inspection API.
// FIDELITY.md says what each behaviour follows and what is not modelled.

import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createPki } from '../../e2e/lib/pki.mjs';
import { pathSegments, verify, parseAuthorization, signedResource } from './auth.mjs';
import { AadAuthority, actionsFor, LOCAL_AUTH_DISABLED, RBAC_LEARN_MORE } from './aad.mjs';
import { Store, pkKey, newEtag } from './store.mjs';
import { analyze, execute, needsPlan, queryPlan, QueryError } from './query.mjs';
import { applyPatch, PatchError } from './patch.mjs';
import { epkV1, epkV2, murmur3x64_128, murmur3x86_32, v1HashInput, v2Component } from './hash.mjs';

export const DEFAULT_DATE_WINDOW_MS = 15 * 60 * 1000;
const MAX_BODY = 16 * 1024 * 1024;
const DEFAULT_PAGE = 100;

export class HttpError extends Error {
  constructor(status, code, message, { substatus, headers, extra } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.substatus = substatus;
    this.headers = headers ?? {};
    this.extra = extra;
  }
}

const notFound = () => new HttpError(404, 'NotFound', 'Resource Not Found. Learn more: https://aka.ms/cosmosdb-tsg-not-found');
const gone = (what) =>
  new HttpError(410, 'Gone', `The requested partition key range is gone (${what}). Refresh the partition key range cache and retry.`, { substatus: 1002 });
const badRequest = (message, substatus) => new HttpError(400, 'BadRequest', message, { substatus });
const preconditionFailed = () =>
  new HttpError(412, 'PreconditionFailed', 'Operation cannot be performed because one of the specified precondition is not met.');
const conflict = () => new HttpError(409, 'Conflict', 'Entity with the specified id already exists in the system.');

const truthy = (v) => typeof v === 'string' && v.toLowerCase() === 'true';

/** Partition-key header: a JSON array ([{}] is the None value). */
function parsePkHeader(v) {
  if (v === undefined) return undefined;
  let parsed;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw badRequest(`The partition key supplied in x-ms-documentdb-partitionkey header has an invalid format: ${v}`);
  }
  if (!Array.isArray(parsed)) parsed = [parsed];
  return parsed;
}

/** Range id header: "0" or "<collRid>,0". */
function rangeIdHeader(v) {
  if (v === undefined) return undefined;
  const parts = String(v).split(',');
  return parts[parts.length - 1].trim();
}

/** Session token header: Map rangeId -> global LSN. Accepts "0:-1#12", "0:1#12#3=10", "0:12". */
function parseSessionTokens(v) {
  const out = new Map();
  if (!v) return out;
  for (const part of String(v).split(',')) {
    const i = part.indexOf(':');
    if (i <= 0) continue;
    const tok = part.slice(i + 1);
    const segs = tok.split('#');
    const lsn = Number(segs.length > 1 ? segs[1] : segs[0]);
    if (Number.isFinite(lsn)) out.set(part.slice(0, i).trim(), lsn);
  }
  return out;
}

const sessionToken = (range) => `${range.id}:-1#${range.lsn}`;

function pageSize(headers) {
  const n = Number(headers['x-ms-max-item-count']);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1000) : DEFAULT_PAGE;
}

/** Continuation tokens: opaque to clients; "+S:<skip>" within a scope, plus the range for fan-out. */
function parseContinuation(v) {
  if (!v) return { skip: 0, rangeMin: undefined };
  let s = String(v);
  let rangeMin;
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s);
      s = String(o.token ?? '');
      rangeMin = o.range?.min;
    } catch {
      throw badRequest(`Invalid continuation token ${v}`);
    }
  }
  const m = /^\+S:(\d+)$/.exec(s);
  if (!m) throw badRequest(`Invalid continuation token ${v}`);
  return { skip: Number(m[1]), rangeMin };
}

class Simulator {
  constructor(opts) {
    this.opts = opts;
    this.key = opts.key ?? crypto.randomBytes(64).toString('base64');
    this.store = new Store({ partitions: opts.partitions ?? 3 });
    this.dateWindowMs = opts.dateWindowMs ?? DEFAULT_DATE_WINDOW_MS;
    this.accountName = opts.accountName ?? 'simulator';
    this.tls = opts.tls !== false;
    this.log = [];
    this.faults = [];
    this.seq = 0;
    this.multiWrite = opts.multipleWriteLocations === true;
    this.down = new Map(); // region name -> 'reset' | '503'
    this.failovers = [];
    // Entra ID (AAD) tokens: accepted when `aad` names the identity provider and tenant.
    this.aad = opts.aad ? new AadAuthority(opts.aad) : null;
    this.disableLocalAuth = opts.disableLocalAuth === true;
  }

  async start() {
    const regionNames = this.opts.regions?.length ? this.opts.regions : ['West US'];
    let tlsOpts;
    if (this.tls) {
      if (this.opts.pki) this.pki = this.opts.pki;
      else {
        this.workDir = fs.mkdtempSync(path.join(this.opts.dir ?? os.tmpdir(), 'cosmos-sim-'));
        this.pki = createPki(this.workDir);
      }
      tlsOpts = {
        cert: fs.readFileSync(this.pki.upstream.cert),
        key: fs.readFileSync(this.pki.upstream.key),
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
      };
    }
    this.regions = [];
    for (const [i, name] of regionNames.entries()) {
      const handler = (req, res) => this._handle(name, req, res);
      const srv = this.tls ? https.createServer(tlsOpts, handler) : http.createServer(handler);
      srv.keepAliveTimeout = 30000;
      srv.on('tlsClientError', () => {});
      const port = await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(i === 0 ? (this.opts.port ?? 0) : 0, '127.0.0.1', () => resolve(srv.address().port));
      });
      const scheme = this.tls ? 'https' : 'http';
      this.regions.push({ name, port, endpoint: `${scheme}://127.0.0.1:${port}/`, server: srv });
    }
    this.endpoint = this.regions[0].endpoint;
    // Failover priority order (0 = the write region), as the account's failoverPolicies.
    this.order = this.regions.map((r) => r.name);
    this.writeRegion = this.order[0];
    if (this.opts.globalEndpoint) {
      // The account's global host name resolves (DNS) to the current write region. A connection
      // keeps the region it resolved to when it was opened: warm connections still reach the old
      // write region after a failover, as a client that does not re-resolve sees it.
      const bound = new WeakMap();
      const handler = (req, res) => {
        if (!bound.has(req.socket)) bound.set(req.socket, this.writeRegion);
        this._handle(bound.get(req.socket), req, res, 'global');
      };
      const srv = this.tls ? https.createServer(tlsOpts, handler) : http.createServer(handler);
      srv.keepAliveTimeout = 30000;
      srv.on('tlsClientError', () => {});
      const port = await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
      });
      const scheme = this.tls ? 'https' : 'http';
      this.global = { name: 'global', port, endpoint: `${scheme}://127.0.0.1:${port}/`, server: srv };
    }
    return this;
  }

  _listeners() {
    return this.global ? [...this.regions, this.global] : this.regions;
  }

  _region(name) {
    const r = this.regions.find((x) => x.name === name);
    if (!r) throw new Error(`no region ${name} (regions: ${this.regions.map((x) => x.name).join(', ')})`);
    return r;
  }

  /**
   * Service-managed (or manual) failover: `writeRegion` gets failover priority 0, the others keep
   * their relative order. GET / then lists it first; writes at the old write region answer 403/3.
   */
  failover(writeRegion) {
    this._region(writeRegion);
    const from = this.writeRegion;
    this.order = [writeRegion, ...this.order.filter((n) => n !== writeRegion)];
    this.writeRegion = writeRegion;
    this.failovers.push({ at: Date.now(), from, to: writeRegion, seq: this.seq });
    return this.accountState();
  }

  /**
   * A regional outage: the region's listener resets every connection (`mode: 'reset'`, default)
   * or answers 503 to everything (`mode: '503'`). `regionUp` ends it.
   */
  regionDown(name, mode = 'reset') {
    this._region(name);
    if (mode !== 'reset' && mode !== '503') throw new Error(`regionDown mode must be 'reset' or '503' (got ${mode})`);
    this.down.set(name, mode);
    if (mode === 'reset') this._region(name).server.closeAllConnections?.();
    return this.accountState();
  }

  regionUp(name) {
    this._region(name);
    this.down.delete(name);
    return this.accountState();
  }

  accountState() {
    return {
      endpoint: this.endpoint,
      globalEndpoint: this.global?.endpoint ?? null,
      writeRegion: this.writeRegion,
      multipleWriteLocations: this.multiWrite,
      order: this.order.slice(),
      down: [...this.down].map(([name, mode]) => ({ name, mode })),
      regions: this.regions.map(({ name, endpoint }) => ({ name, endpoint })),
      failovers: this.failovers.slice(),
    };
  }

  async stop() {
    await Promise.all(
      this._listeners().map(
        (r) =>
          new Promise((resolve) => {
            r.server.close(() => resolve());
            r.server.closeAllConnections?.();
          }),
      ),
    );
    if (this.workDir) fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Raw stored documents (system properties included) of a collection, by name or RID. */
  stored(db, coll) {
    const c = this.store.collection(db, coll);
    if (!c) throw new Error(`no collection ${db}/${coll}`);
    return [...c.docs.values()].sort((a, b) => a.seq - b.seq).map((e) => structuredClone(e.doc));
  }

  /** Every request received so far (admin requests excluded). */
  requests() {
    return this.log.slice();
  }

  clearRequests() {
    this.log.length = 0;
  }

  /**
   * Where a string (a canary) arrived: every request whose URL, header values or body holds it
   * in any textual form (literal, JSON-escaped, \\u-escaped, percent-encoded) or in a form derived
   * from it by hashing, as an SDK computes it client-side (effective partition keys V1/V2 and
   * MultiHash components of ["text"], raw MurmurHash3 outputs; `derived: true` on those hits).
   * `{derived: false}` looks for the textual forms only.
   * @returns {{seq: number, op: string, where: string, form: string, derived?: boolean}[]}
   */
  scan(text, { derived = true } = {}) {
    const forms = derived ? [...textForms(text), ...derivedForms(text)] : textForms(text);
    const hits = [];
    for (const r of this.log) {
      const places = [['url', Buffer.from(r.url)], ...Object.entries(r.headers).map(([k, v]) => [`header:${k}`, Buffer.from(String(v))]), ['body', r.body]];
      for (const [where, buf] of places) {
        const f = forms.find((x) => buf.indexOf(x.bytes) >= 0);
        if (f) hits.push({ seq: r.seq, op: r.op, where, form: f.form, ...(f.derived ? { derived: true } : {}) });
      }
    }
    return hits;
  }

  /**
   * Fails the next `count` requests that match with `status` (429 by default, substatus 3200,
   * x-ms-retry-after-ms). match: {method, op, resourceType, path (substring), region} all optional.
   */
  addFault({ status = 429, substatus = status === 429 ? 3200 : undefined, retryAfterMs = 100, count = 1, match = {}, code, message } = {}) {
    const rule = { status, substatus, retryAfterMs, remaining: count, match, code, message, hits: 0 };
    this.faults.push(rule);
    return rule;
  }

  clearFaults() {
    this.faults.length = 0;
  }

  splitRange(db, coll, rangeId) {
    const c = this.store.collection(db, coll);
    if (!c) throw new Error(`no collection ${db}/${coll}`);
    return c.split(String(rangeId)).map((r) => r.id);
  }

  ranges(db, coll) {
    const c = this.store.collection(db, coll);
    if (!c) throw new Error(`no collection ${db}/${coll}`);
    return c.ranges.map((r) => ({ id: r.id, min: r.min, max: r.max, lsn: r.lsn }));
  }

  // ---- request handling ----

  _handle(region, req, res, via) {
    const outage = this.down.get(region);
    if (outage === 'reset' && pathSegments(req.url)[0] !== '_sim') {
      req.socket.destroy();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const ctx = { region, via, req, res, body, headers: req.headers, method: req.method, segments: pathSegments(req.url), out: {} };
      if (ctx.segments[0] === '_sim') {
        this._admin(ctx);
        return;
      }
      const record = {
        seq: ++this.seq,
        at: Date.now(),
        region,
        ...(via ? { via } : {}),
        method: req.method,
        url: req.url,
        headers: { ...req.headers },
        body,
        get bodyText() {
          return this.body.toString('utf8');
        },
        status: null,
      };
      ctx.record = record;
      this.log.push(record);
      if (this.aad) {
        // An AAD token signed by a key not seen yet: fetch the tenant's keys first (rate-limited).
        const auth = parseAuthorization(ctx.headers.authorization);
        if (auth?.type === 'aad' && auth.sig) await this.aad.prepare(auth.sig);
      }
      try {
        if (outage === '503') throw new HttpError(503, 'ServiceUnavailable', `Region ${region} is unavailable (simulated outage).`);
        size > MAX_BODY ? this._send(ctx, 413, { code: 'RequestEntityTooLarge', message: 'Request size is too large' }) : this._route(ctx);
      } catch (e) {
        this._error(ctx, e);
      }
    });
  }

  _error(ctx, e) {
    if (e instanceof HttpError) {
      const body = { code: e.code, message: e.message, ...(e.extra || {}) };
      this._send(ctx, e.status, body, { ...e.headers, ...(e.substatus !== undefined ? { 'x-ms-substatus': String(e.substatus) } : {}) });
    } else if (e instanceof QueryError || e instanceof PatchError) {
      this._send(ctx, 400, { code: 'BadRequest', message: e.message });
    } else {
      this._send(ctx, 500, { code: 'InternalServerError', message: String(e?.stack || e) });
    }
  }

  _send(ctx, status, body, headers = {}) {
    const { res, record } = ctx;
    if (record) record.status = status;
    const h = {
      'x-ms-request-charge': '1',
      'x-ms-activity-id': ctx.headers['x-ms-activity-id'] || crypto.randomUUID(),
      'x-ms-gatewayversion': 'version=2.14.0',
      'x-ms-serviceversion': 'version=2.14.0.0',
      'x-ms-schemaversion': '1.18',
      ...ctx.out,
      ...headers,
    };
    let payload = '';
    if (body !== null && body !== undefined && status !== 204 && status !== 304) {
      payload = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    h['content-length'] = String(Buffer.byteLength(payload));
    if (record) record.response = { status, headers: h, body: payload };
    res.writeHead(status, h);
    res.end(payload);
  }

  _json(ctx) {
    const text = ctx.body.toString('utf8');
    if (text.trim() === '') throw badRequest('The request payload is empty.');
    try {
      return JSON.parse(text);
    } catch {
      throw badRequest('The request payload is invalid JSON.');
    }
  }

  /** The operation name, used by fault matching and the request log. */
  _operation(ctx) {
    const { segments: s, method, headers } = ctx;
    if (s.length === 0) return 'account';
    if (s[0] !== 'dbs' || s.length < 5) return 'metadata';
    if (s[4] === 'pkranges') return 'pkranges';
    if (s[4] !== 'docs') return 'other';
    if (s.length === 6) return { GET: 'read', PUT: 'replace', PATCH: 'patch', DELETE: 'delete' }[method] ?? 'other';
    if (method === 'GET') return /incremental feed|full-fidelity feed/i.test(headers['a-im'] || '') ? 'changeFeed' : 'readFeed';
    if (truthy(headers['x-ms-cosmos-is-query-plan-request'])) return 'queryPlan';
    if (truthy(headers['x-ms-cosmos-is-batch-request'])) return truthy(headers['x-ms-cosmos-batch-atomic']) ? 'batch' : 'bulk';
    if (this._isQuery(ctx)) return 'query';
    return truthy(headers['x-ms-documentdb-is-upsert']) ? 'upsert' : 'create';
  }

  _isWrite(ctx) {
    const op = ctx.record.op;
    if (['create', 'upsert', 'replace', 'patch', 'delete', 'batch', 'bulk'].includes(op)) return true;
    return op === 'metadata' && ctx.method !== 'GET' && !(ctx.method === 'POST' && this._isQuery(ctx));
  }

  _isQuery({ headers }) {
    const ct = (headers['content-type'] || '').toLowerCase();
    return truthy(headers['x-ms-documentdb-isquery']) || truthy(headers['x-ms-documentdb-query']) || ct.startsWith('application/query+json') || ct.startsWith('application/sql');
  }

  _querySpec(ctx) {
    const ct = (ctx.headers['content-type'] || '').toLowerCase();
    if (ct.startsWith('application/sql')) return { query: ctx.body.toString('utf8'), parameters: [] };
    const spec = this._json(ctx);
    if (typeof spec.query !== 'string') throw badRequest('The query body must carry a "query" string.');
    return spec;
  }

  _route(ctx) {
    const s = ctx.segments;
    ctx.ridBased = this.store.isRidPath(s);
    ctx.record.op = this._operation(ctx);
    const auth = parseAuthorization(ctx.headers.authorization);
    if (auth?.type === 'aad' && this.aad) {
      this._authorizeAad(ctx, auth);
    } else {
      if (this.disableLocalAuth && ctx.headers.authorization) {
        ctx.record.verified = false;
        ctx.record.verifyReason = 'local_auth_disabled';
        throw new HttpError(401, 'Unauthorized', LOCAL_AUTH_DISABLED);
      }
      const v = verify({ method: ctx.method, headers: ctx.headers, segments: s, ridBased: ctx.ridBased, key: this.key, windowMs: this.dateWindowMs });
      ctx.record.verified = v.ok;
      if (!v.ok) {
        ctx.record.verifyReason = v.reason;
        throw new HttpError(401, 'Unauthorized', v.message);
      }
      ctx.record.authType = 'master';
      ctx.record.resourceType = v.type;
      ctx.record.resourceLink = v.link;
    }
    this._applyFaults(ctx);
    if (!this.multiWrite && ctx.region !== this.writeRegion && this._isWrite(ctx)) {
      // Single-write account: a read region refuses writes (WriteForbidden).
      throw new HttpError(403, 'Forbidden', 'The requested operation cannot be performed at this region', { substatus: 3 });
    }
    if (s.length === 0) {
      if (ctx.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'Only GET is allowed on the account.');
      return this._send(ctx, 200, this._account());
    }
    if (s[0] !== 'dbs') throw badRequest(`The simulator does not model /${s[0]}`);
    if (s.length === 1) return this._databases(ctx);
    const db = ctx.ridBased ? this.store.dbByRid(s[1]) : this.store.dbByName(s[1]);
    if (s.length === 2) return this._database(ctx, db);
    if (!db) throw notFound();
    if (s[2] !== 'colls') throw badRequest(`The simulator does not model /dbs/{db}/${s[2]}`);
    // The owner of what is addressed: SDKs build a resource's name-based link from it
    // (Java's RxDocumentServiceResponse: owner full name + "/colls/" + id).
    ctx.out['x-ms-alt-content-path'] = `dbs/${db.id}`;
    ctx.out['x-ms-content-path'] = db.rid;
    if (s.length === 3) return this._collections(ctx, db);
    const coll = ctx.ridBased ? this.store.collByRid(db, s[3]) : db.colls.get(s[3]);
    if (s.length === 4) return this._collection(ctx, db, coll);
    if (!coll) throw notFound();
    ctx.out['x-ms-alt-content-path'] = `dbs/${db.id}/colls/${coll.id}`;
    ctx.out['x-ms-content-path'] = coll.rid;
    if (s[4] === 'pkranges' && s.length === 5) return this._pkranges(ctx, coll);
    if (s[4] !== 'docs') throw badRequest(`The simulator does not model /dbs/{db}/colls/{coll}/${s[4]}`);
    if (s.length === 5) {
      switch (ctx.record.op) {
        case 'readFeed':
          return this._feed(ctx, coll, null);
        case 'changeFeed':
          return this._changeFeed(ctx, coll);
        case 'queryPlan':
          return this._send(ctx, 200, queryPlan(this._querySpec(ctx)));
        case 'query':
          return this._feed(ctx, coll, this._querySpec(ctx));
        case 'batch':
        case 'bulk':
          return this._batch(ctx, coll, ctx.record.op === 'batch');
        case 'create':
        case 'upsert':
          return this._create(ctx, coll, ctx.record.op === 'upsert');
        default:
          throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} is not allowed on a document feed`);
      }
    }
    if (s.length === 6) return this._document(ctx, coll, s[5]);
    throw badRequest('The simulator does not model attachments or deeper paths');
  }

  /**
   * What the account's own tokens may be for: its host names (a real account's endpoint has no
   * port, and the Python SDK asks for https://<host>/.default) and every listener's origin (the JS
   * SDK asks for the endpoint as given), as 127.0.0.1 and as localhost.
   */
  _audiences() {
    const out = [`${this.tls ? 'https' : 'http'}://127.0.0.1`, `${this.tls ? 'https' : 'http'}://localhost`];
    for (const r of this._listeners()) {
      const u = new URL(r.endpoint);
      out.push(u.origin, `${u.protocol}//localhost:${u.port}`);
    }
    return out;
  }

  /**
   * A `type=aad` request: the token (signature, audience, issuer, tenant, exp/nbf), then what Entra
   * data-plane RBAC allows: no control-plane operation (403/5300), and the operation's action in
   * the principal's role (403/5301).
   */
  _authorizeAad(ctx, auth) {
    const s = ctx.segments;
    const v = this.aad.verify(auth.sig ?? '', this._audiences(), this.accountName);
    ctx.record.authType = 'aad';
    ctx.record.verified = v.ok;
    if (!v.ok) {
      ctx.record.verifyReason = v.reason;
      throw new HttpError(v.status, 'Unauthorized', v.message, { substatus: v.substatus });
    }
    ctx.record.principal = v.principal;
    const { type, link } = signedResource(s, ctx.ridBased);
    ctx.record.resourceType = type;
    ctx.record.resourceLink = link;
    if (this._isControlPlane(ctx)) {
      const path = ctx.req.url.split('?')[0];
      throw new HttpError(403, 'Forbidden', `Request blocked by Auth ${this.accountName} : The given request [${ctx.method} ${path}] cannot be authorized by AAD token in data plane. ${RBAC_LEARN_MORE}`, { substatus: 5300 });
    }
    let batchOps = [];
    if (ctx.record.op === 'batch' || ctx.record.op === 'bulk') {
      try {
        const ops = JSON.parse(ctx.body.toString('utf8'));
        if (Array.isArray(ops)) batchOps = ops.map((o) => o?.operationType);
      } catch {
        batchOps = [];
      }
    }
    const scope = s[0] === 'dbs' ? `/${s.slice(0, Math.min(s.length, 4)).join('/')}` : '/';
    const denied = this.aad.authorize(v.principal, actionsFor(ctx.record.op, batchOps), this.accountName, scope);
    if (denied) throw new HttpError(denied.status, 'Forbidden', denied.message, { substatus: denied.substatus });
  }

  /**
   * What data-plane RBAC never covers (management operations): creating, replacing or deleting
   * databases and containers, throughput (offers), stored procedures, triggers, UDFs, users.
   * Reading database and container metadata (and querying their feeds) is readMetadata, allowed.
   */
  _isControlPlane(ctx) {
    const s = ctx.segments;
    if (s.length === 0) return false;
    if (s[0] === 'offers') return true;
    if (s[0] !== 'dbs') return false;
    if (s.length >= 3 && s[2] === 'users') return true;
    if (s.length >= 5 && ['sprocs', 'triggers', 'udfs'].includes(s[4])) return true;
    if (s.length <= 4) return ctx.method !== 'GET' && !(ctx.method === 'POST' && this._isQuery(ctx));
    return false;
  }

  /** Data-plane role of a principal (object id): 'reader', 'contributor', a list of actions, or null (none). */
  setRole(principal, role) {
    if (!this.aad) throw new Error('the simulator was started without aad');
    this.aad.roles ??= {};
    if (role === null) delete this.aad.roles[principal];
    else this.aad.roles[principal] = role;
    return { ...this.aad.roles };
  }

  setLocalAuth(enabled) {
    this.disableLocalAuth = !enabled;
    return { disableLocalAuth: this.disableLocalAuth };
  }

  _applyFaults(ctx) {
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      const m = f.match;
      if (m.method && m.method.toUpperCase() !== ctx.method) continue;
      if (m.region && m.region !== ctx.region) continue;
      if (m.op && m.op !== ctx.record.op) continue;
      if (m.resourceType && m.resourceType !== ctx.record.resourceType) continue;
      if (m.path && !ctx.req.url.includes(m.path)) continue;
      f.remaining--;
      f.hits++;
      ctx.record.fault = true;
      const headers = {};
      if (f.status === 429) headers['x-ms-retry-after-ms'] = String(f.retryAfterMs);
      const defaults = {
        429: ['TooManyRequests', 'Message: {"Errors":["Request rate is large. More Request Units may be needed, so no changes were made. Please retry this request later. Learn more: http://aka.ms/cosmosdb-error-429"]}'],
        410: ['Gone', 'The requested resource is no longer available at the server.'],
        503: ['ServiceUnavailable', 'Service is currently unavailable.'],
      };
      const [code, message] = defaults[f.status] ?? ['Error', 'Injected fault'];
      throw new HttpError(f.status, f.code ?? code, f.message ?? message, { substatus: f.substatus, headers });
    }
  }

  _account() {
    // Both lists in failover priority order (the write region first), as the service lists them.
    const locations = this.order.map((n) => ({ name: n, databaseAccountEndpoint: this._region(n).endpoint }));
    return {
      _self: '',
      id: this.accountName,
      _rid: `${this.accountName}.documents.azure.com`,
      media: '//media/',
      addresses: '//addresses/',
      _dbs: '//dbs/',
      writableLocations: this.multiWrite ? locations : locations.slice(0, 1),
      readableLocations: locations,
      enableMultipleWriteLocations: this.multiWrite,
      continuousBackupEnabled: false,
      enableNRegionSynchronousCommit: false,
      userReplicationPolicy: { asyncReplication: false, minReplicaSetSize: 3, maxReplicasetSize: 4 },
      userConsistencyPolicy: { defaultConsistencyLevel: 'Session' },
      systemReplicationPolicy: { minReplicaSetSize: 3, maxReplicasetSize: 4 },
      readPolicy: { primaryReadCoefficient: 1, secondaryReadCoefficient: 1 },
      queryEngineConfiguration: JSON.stringify({
        maxSqlQueryInputLength: 262144,
        maxJoinsPerSqlQuery: 5,
        maxLogicalAndPerSqlQuery: 500,
        maxLogicalOrPerSqlQuery: 500,
        maxUdfRefPerSqlQuery: 10,
        maxInExpressionItemsCount: 16000,
        queryMaxInMemorySortDocumentCount: 500,
        maxQueryRequestTimeoutFraction: 0.9,
        sqlAllowNonFiniteNumbers: false,
        sqlAllowAggregateFunctions: true,
        sqlAllowSubQuery: true,
        sqlAllowScalarSubQuery: true,
        allowNewKeywords: true,
        sqlAllowLike: true,
        sqlAllowGroupByClause: false,
        maxSpatialQueryCells: 12,
        spatialMaxGeometryPointCount: 256,
        sqlDisableOptimizationFlags: 0,
        sqlAllowTop: true,
        enableSpatialIndexing: true,
      }),
    };
  }

  // ---- databases and collections ----

  _list(ctx, items, key, parentRid) {
    let rows = items.map((x) => x.toJSON());
    if (ctx.method === 'POST' && this._isQuery(ctx)) rows = execute(this._querySpec(ctx), rows);
    else if (ctx.method !== 'GET') return false;
    this._send(ctx, 200, { _rid: parentRid, [key]: rows, _count: rows.length }, { 'x-ms-item-count': String(rows.length) });
    return true;
  }

  _databases(ctx) {
    if (this._list(ctx, [...this.store.dbs.values()], 'Databases', '')) return;
    if (ctx.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} /dbs`);
    const body = this._json(ctx);
    if (typeof body.id !== 'string' || body.id === '') throw badRequest("The input content is invalid because the required properties - 'id; ' - are missing");
    if (this.store.dbByName(body.id)) throw conflict();
    const db = this.store.createDb(body);
    this._send(ctx, 201, db.toJSON(), { etag: db.etag });
  }

  _database(ctx, db) {
    if (!db) throw notFound();
    if (ctx.method === 'GET') return this._send(ctx, 200, db.toJSON(), { etag: db.etag });
    if (ctx.method === 'DELETE') {
      this.store.dbs.delete(db.id);
      return this._send(ctx, 204, null);
    }
    throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} on a database`);
  }

  _collections(ctx, db) {
    if (this._list(ctx, [...db.colls.values()], 'DocumentCollections', db.rid)) return;
    if (ctx.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} /colls`);
    const body = this._json(ctx);
    if (typeof body.id !== 'string' || body.id === '') throw badRequest("The input content is invalid because the required properties - 'id; ' - are missing");
    if (db.colls.has(body.id)) throw conflict();
    const pk = body.partitionKey;
    if (pk && (!Array.isArray(pk.paths) || pk.paths.length === 0 || !['Hash', 'MultiHash', undefined].includes(pk.kind))) {
      throw badRequest('The partition key definition is invalid.');
    }
    if (pk && pk.version !== undefined && pk.version !== 1 && pk.version !== 2) throw badRequest('The partition key version must be 1 or 2.');
    const coll = this.store.createColl(db, body);
    this._send(ctx, 201, coll.toJSON(), { etag: coll.etag });
  }

  _collection(ctx, db, coll) {
    if (!coll) throw notFound();
    if (ctx.method === 'GET') return this._send(ctx, 200, coll.toJSON(), { etag: coll.etag });
    if (ctx.method === 'DELETE') {
      db.colls.delete(coll.id);
      return this._send(ctx, 204, null);
    }
    if (ctx.method === 'PUT') {
      const body = this._json(ctx);
      const { partitionKey, id, ...rest } = body;
      Object.assign(coll.body, rest);
      coll.etag = newEtag();
      return this._send(ctx, 200, coll.toJSON(), { etag: coll.etag });
    }
    throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} on a collection`);
  }

  _pkranges(ctx, coll) {
    if (ctx.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} on pkranges`);
    const etag = `"${coll.rangesEtag}"`;
    if (ctx.headers['if-none-match'] === etag) return this._send(ctx, 304, null, { etag });
    const rows = coll.ranges.map((r) => coll.pkRangeJSON(r));
    this._send(ctx, 200, { _rid: coll.rid, PartitionKeyRanges: rows, _count: rows.length }, { etag, 'x-ms-item-count': String(rows.length) });
  }

  // ---- documents ----

  /** The range a request names (x-ms-documentdb-partitionkeyrangeid), checked against an EPK. */
  _namedRange(ctx, coll, epk) {
    const id = rangeIdHeader(ctx.headers['x-ms-documentdb-partitionkeyrangeid']);
    if (id === undefined) return undefined;
    const r = coll.rangeById(id);
    if (!r) throw gone(`range ${id} does not exist`);
    if (epk !== undefined && coll.rangeForEpk(epk) !== r) throw gone(`range ${id} does not own the partition key`);
    return r;
  }

  /** 404/1002 when the client's session token for this range is ahead of the range. */
  _checkSession(ctx, range) {
    const tokens = parseSessionTokens(ctx.headers['x-ms-session-token']);
    let want;
    for (const id of [range.id, ...range.parents]) if (tokens.has(id)) want = Math.max(want ?? 0, tokens.get(id));
    if (want !== undefined && want > range.lsn) {
      throw new HttpError(404, 'NotFound', 'The read session is not available for the input session token.', { substatus: 1002 });
    }
  }

  _headerPk(ctx, coll, required) {
    const values = parsePkHeader(ctx.headers['x-ms-documentdb-partitionkey']);
    if (values === undefined) {
      if (required) throw badRequest('PartitionKey value must be supplied for this operation.');
      return undefined;
    }
    if (values.length !== coll.pk.paths.length && !(coll.pk.kind === 'MultiHash' && values.length < coll.pk.paths.length)) {
      throw badRequest(`Partition key provided either doesn't correspond to definition in the collection or doesn't match partition key field values specified in the document.`);
    }
    return values;
  }

  _docHeaders(entry, range) {
    return { etag: entry.doc._etag, 'x-ms-session-token': sessionToken(range), lsn: String(range.lsn), 'x-ms-documentdb-partitionkeyrangeid': range.id };
  }

  _create(ctx, coll, upsert) {
    const body = this._json(ctx);
    const res = this._write(ctx, coll, { kind: upsert ? 'Upsert' : 'Create', body, headerPk: this._headerPk(ctx, coll, false), ifMatch: ctx.headers['if-match'] });
    this._sendWrite(ctx, res);
  }

  _sendWrite(ctx, { status, entry, range }) {
    const minimal = /return=minimal/i.test(ctx.headers.prefer || '');
    this._send(ctx, status, minimal ? null : entry.doc, this._docHeaders(entry, range));
  }

  /**
   * One write (Create, Upsert, Replace) as used by point operations and batches.
   * @returns {{status: number, entry: object, range: object}}
   */
  _write(ctx, coll, { kind, body, headerPk, ifMatch, id, rangeCheck = true }) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The document body must be a JSON object.');
    if (typeof body.id !== 'string' || body.id === '') throw badRequest("The input content is invalid because the required properties - 'id; ' - are missing");
    if (id !== undefined && body.id !== id) throw badRequest('The id in the body does not match the id in the request.');
    const values = coll.pkValuesOf(body);
    if (headerPk !== undefined && pkKey(headerPk) !== pkKey(values)) {
      throw badRequest(`PartitionKey extracted from document doesn't match the one specified in the header. Learn more: https://aka.ms/CosmosDB/sql/errors/wrong-pk-value`);
    }
    const epk = coll.epk(values);
    if (rangeCheck) this._namedRange(ctx, coll, epk);
    const existing = coll.find(values, body.id);
    if (kind === 'Create' && existing) throw conflict();
    if (kind === 'Replace' && !existing) throw notFound();
    if (ifMatch && existing && ifMatch !== '*' && ifMatch !== existing.doc._etag) throw preconditionFailed();
    if (ifMatch && !existing && kind !== 'Create') throw preconditionFailed();
    const { entry, range } = coll.put(stripSystem(body), values, epk, existing);
    return { status: existing ? 200 : 201, entry, range };
  }

  _document(ctx, coll, idOrRid) {
    let entry;
    let values;
    if (ctx.ridBased) {
      entry = coll.docsByRid.get(idOrRid);
      values = entry ? coll.pkValuesOf(entry.doc) : undefined;
    } else {
      values = this._headerPk(ctx, coll, true);
      entry = coll.find(values, idOrRid);
    }
    const epk = values ? coll.epk(values) : undefined;
    const range = epk !== undefined ? coll.rangeForEpk(epk) : undefined;
    if (epk !== undefined) this._namedRange(ctx, coll, epk);
    switch (ctx.method) {
      case 'GET': {
        if (range) this._checkSession(ctx, range);
        if (!entry) throw new HttpError(404, 'NotFound', 'Entity with the specified id does not exist in the system.', { headers: range ? { 'x-ms-session-token': sessionToken(range) } : {} });
        if (ctx.headers['if-none-match'] && ctx.headers['if-none-match'] === entry.doc._etag) return this._send(ctx, 304, null, this._docHeaders(entry, range));
        return this._send(ctx, 200, entry.doc, this._docHeaders(entry, range));
      }
      case 'PUT': {
        const body = this._json(ctx);
        if (!entry) throw notFound();
        if (pkKey(coll.pkValuesOf(body)) !== pkKey(values)) {
          throw badRequest(`PartitionKey extracted from document doesn't match the one specified in the header.`);
        }
        return this._sendWrite(ctx, this._write(ctx, coll, { kind: 'Replace', body, headerPk: values, ifMatch: ctx.headers['if-match'], id: entry.doc.id }));
      }
      case 'PATCH': {
        if (!entry) throw notFound();
        const body = this._json(ctx);
        return this._sendWrite(ctx, this._patch(coll, entry, values, body, ctx.headers['if-match']));
      }
      case 'DELETE': {
        if (!entry) throw notFound();
        const ifMatch = ctx.headers['if-match'];
        if (ifMatch && ifMatch !== '*' && ifMatch !== entry.doc._etag) throw preconditionFailed();
        const r = coll.remove(entry);
        return this._send(ctx, 204, null, { 'x-ms-session-token': sessionToken(r), lsn: String(r.lsn) });
      }
      default:
        throw new HttpError(405, 'MethodNotAllowed', `${ctx.method} on a document`);
    }
  }

  _patch(coll, entry, values, body, ifMatch) {
    if (ifMatch && ifMatch !== '*' && ifMatch !== entry.doc._etag) throw preconditionFailed();
    const operations = Array.isArray(body) ? body : body.operations;
    const condition = Array.isArray(body) ? undefined : body.condition;
    if (condition) {
      const ok = execute({ query: `SELECT VALUE 1 ${condition}` }, [entry.doc]);
      if (!ok.length) throw preconditionFailed();
    }
    let patched;
    try {
      patched = applyPatch(entry.doc, operations, coll.pk.paths);
    } catch (e) {
      throw badRequest(e.message);
    }
    const { entry: e, range } = coll.put(stripSystem(patched), values, entry.epk, entry);
    return { status: 200, entry: e, range };
  }

  // ---- feeds, queries ----

  /**
   * The scope of a feed request: a list of {range, entries} in range order, and whether it is a
   * gateway fan-out (no range and no partition key named).
   */
  _scope(ctx, coll) {
    const values = this._headerPk(ctx, coll, false);
    if (values !== undefined) {
      const epk = coll.epk(values);
      const range = coll.rangeForEpk(epk);
      this._namedRange(ctx, coll, epk);
      const key = pkKey(values);
      // A prefix of a hierarchical key: '["a"' + ',' matches ["a",...] but not ["ab",...].
      const prefix = coll.pk.kind === 'MultiHash' && values.length < coll.pk.paths.length ? `${key.slice(0, -1)},` : null;
      const match = (e) => (prefix ? e.pk.startsWith(prefix) : e.pk === key);
      if (prefix) {
        // A prefix of a hierarchical key spans every range its EPK prefix overlaps.
        return { fanOut: false, parts: coll.ranges.map((r) => ({ range: r, entries: coll.entriesIn(r).filter(match) })) };
      }
      return { fanOut: false, parts: [{ range, entries: coll.entriesIn(range).filter(match) }] };
    }
    const named = this._namedRange(ctx, coll);
    if (named) {
      const minEpk = ctx.headers['x-ms-start-epk'];
      const maxEpk = ctx.headers['x-ms-end-epk'];
      return { fanOut: false, parts: [{ range: named, entries: coll.entriesIn(named, { minEpk, maxEpk }) }] };
    }
    return { fanOut: true, parts: coll.ranges.map((r) => ({ range: r, entries: coll.entriesIn(r) })) };
  }

  _feed(ctx, coll, spec) {
    const scope = this._scope(ctx, coll);
    const size = pageSize(ctx.headers);
    const cont = parseContinuation(ctx.headers['x-ms-continuation']);
    const rows = (entries) => {
      const docs = entries.map((e) => e.doc);
      return spec ? execute(spec, docs) : docs;
    };
    if (spec && scope.fanOut && coll.ranges.length > 1) {
      if (!truthy(ctx.headers['x-ms-documentdb-query-enablecrosspartition'])) {
        throw badRequest('Cross partition query is required but disabled. Please set x-ms-documentdb-query-enablecrosspartition to true, specify x-ms-documentdb-partitionkey, or revise your query to avoid this exception.', 1004);
      }
      const a = analyze(spec.query, spec.parameters);
      if (needsPlan(a)) {
        throw new HttpError(400, 'BadRequest', 'The provided cross partition query can not be directly served by the gateway. This is a first chance (internal) exception that all newer clients will know how to handle gracefully. This exception is traced, but unless you see it bubble up as an exception (which only happens on older SDK clients), then you can safely ignore this message.', {
          substatus: 1004,
          extra: { additionalErrorInfo: JSON.stringify(queryPlan(spec)) },
        });
      }
    }
    if (!scope.fanOut || scope.parts.length === 1) {
      const part = scope.parts.length === 1 ? scope.parts[0] : null;
      if (part) this._checkSession(ctx, part.range);
      const all = scope.parts.flatMap((p) => rows(p.entries));
      const page = all.slice(cont.skip, cont.skip + size);
      const next = cont.skip + size < all.length ? `+S:${cont.skip + size}` : null;
      const headers = { 'x-ms-item-count': String(page.length) };
      headers['x-ms-session-token'] = scope.parts.map((p) => sessionToken(p.range)).join(',');
      if (next) headers['x-ms-continuation'] = next;
      return this._send(ctx, 200, { _rid: coll.rid, Documents: page, _count: page.length }, headers);
    }
    // Gateway fan-out: one range per page, the continuation names the range.
    let i = 0;
    if (cont.rangeMin !== undefined) {
      i = scope.parts.findIndex((p) => p.range.min === cont.rangeMin);
      if (i < 0) throw gone('the continuation names a range that no longer exists');
    }
    const part = scope.parts[i];
    const all = rows(part.entries);
    const page = all.slice(cont.skip, cont.skip + size);
    let next = null;
    if (cont.skip + size < all.length) next = { token: `+S:${cont.skip + size}`, range: { min: part.range.min, max: part.range.max } };
    else if (i + 1 < scope.parts.length) next = { token: '+S:0', range: { min: scope.parts[i + 1].range.min, max: scope.parts[i + 1].range.max } };
    const headers = { 'x-ms-item-count': String(page.length), 'x-ms-session-token': sessionToken(part.range) };
    if (next) headers['x-ms-continuation'] = JSON.stringify(next);
    return this._send(ctx, 200, { _rid: coll.rid, Documents: page, _count: page.length }, headers);
  }

  /**
   * Incremental change feed: documents whose latest write is after the continuation (etag =
   * the range LSN, or "rangeId:lsn,..." when the request spans every range), in LSN order.
   */
  _changeFeed(ctx, coll) {
    if (/full-fidelity/i.test(ctx.headers['a-im'] || '')) throw badRequest('All versions and deletes (full-fidelity) change feed is not modelled by the simulator');
    const scope = this._scope(ctx, coll);
    const size = pageSize(ctx.headers);
    const inm = ctx.headers['if-none-match'];
    const since = ctx.headers['if-modified-since'] ? Math.floor(Date.parse(ctx.headers['if-modified-since']) / 1000) : undefined;
    const starts = new Map();
    for (const p of scope.parts) starts.set(p.range.id, 0);
    if (inm === '*') for (const p of scope.parts) starts.set(p.range.id, p.range.lsn);
    else if (inm) {
      const t = inm.replace(/^"|"$/g, '');
      if (scope.parts.length === 1 && /^\d+$/.test(t)) starts.set(scope.parts[0].range.id, Number(t));
      else {
        for (const item of t.split(',')) {
          const [rid, lsn] = item.split(':');
          if (!starts.has(rid) || !/^\d+$/.test(lsn || '')) throw badRequest(`Invalid change feed continuation ${inm}`);
          starts.set(rid, Number(lsn));
        }
      }
    }
    const out = [];
    const ends = new Map(starts);
    for (const p of scope.parts) {
      const start = starts.get(p.range.id);
      const changed = p.entries
        .filter((e) => e.lsn > start && (since === undefined || e.doc._ts >= since))
        .sort((a, b) => a.lsn - b.lsn);
      const taken = [];
      for (const e of changed) {
        if (out.length >= size) break;
        out.push(e);
        taken.push(e);
      }
      // Fully read: continue from the range's current LSN; otherwise from the last one returned.
      ends.set(p.range.id, taken.length === changed.length ? p.range.lsn : taken.length ? taken[taken.length - 1].lsn : start);
    }
    const etag = scope.parts.length === 1 ? `"${ends.get(scope.parts[0].range.id)}"` : `"${[...ends].map(([k, v]) => `${k}:${v}`).join(',')}"`;
    const headers = { etag, 'x-ms-session-token': scope.parts.map((p) => sessionToken(p.range)).join(',') };
    if (out.length === 0) return this._send(ctx, 304, null, headers);
    const docs = out.map((e) => ({ ...e.doc, _lsn: e.lsn }));
    headers['x-ms-item-count'] = String(docs.length);
    return this._send(ctx, 200, { _rid: coll.rid, Documents: docs, _count: docs.length }, headers);
  }

  // ---- batch and bulk ----

  _batch(ctx, coll, atomic) {
    const ops = this._json(ctx);
    if (!Array.isArray(ops) || ops.length === 0) throw badRequest('A batch request body must be a non-empty JSON array of operations.');
    if (ops.length > 100) throw badRequest('A batch request has at most 100 operations.');
    const headerPk = this._headerPk(ctx, coll, atomic);
    const named = this._namedRange(ctx, coll);
    const opPk = (op) => {
      if (op.partitionKey === undefined) return headerPk;
      try {
        const v = typeof op.partitionKey === 'string' ? JSON.parse(op.partitionKey) : op.partitionKey;
        return Array.isArray(v) ? v : [v];
      } catch {
        throw badRequest(`Invalid partitionKey in a batch operation: ${op.partitionKey}`);
      }
    };
    if (atomic) {
      for (const op of ops) if (pkKey(opPk(op) ?? []) !== pkKey(headerPk)) throw badRequest('All operations of a transactional batch must target the partition key of the request.');
    }
    // A named range must own every operation's partition key.
    if (named) for (const op of ops) if (opPk(op) && coll.rangeForEpk(coll.epk(opPk(op))) !== named) throw gone(`range ${named.id} does not own an operation's partition key`);
    const snapshot = atomic ? snapshotOf(coll) : null;
    const results = [];
    let failed = null;
    for (const op of ops) {
      if (failed !== null && atomic) {
        results.push({ statusCode: 424, requestCharge: 0 });
        continue;
      }
      try {
        results.push(this._batchOp(ctx, coll, op, opPk(op)));
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        results.push({ statusCode: e.status, ...(e.substatus !== undefined ? { subStatusCode: e.substatus } : {}), requestCharge: 1 });
        if (failed === null) failed = e.status;
      }
    }
    if (atomic && failed !== null) {
      restore(coll, snapshot);
      for (const r of results) if (r.statusCode < 300) Object.assign(r, { statusCode: 424, requestCharge: 0, eTag: undefined, resourceBody: undefined });
    }
    const ranges = new Set();
    for (const op of ops) {
      const pk = opPk(op);
      if (pk) ranges.add(coll.rangeForEpk(coll.epk(pk)));
    }
    const headers = { 'x-ms-session-token': [...ranges].map(sessionToken).join(',') };
    const status = atomic && failed !== null ? failed : failed !== null ? 207 : 200;
    this._send(ctx, status, results.map((r) => JSON.parse(JSON.stringify(r))), headers);
  }

  _batchOp(ctx, coll, op, pk) {
    const type = op.operationType;
    if (!pk) throw badRequest('A batch operation needs a partition key');
    const minimal = op.minimalReturnPreference === true;
    const done = ({ status, entry }) => ({ statusCode: status, requestCharge: 1, eTag: entry.doc._etag, ...(minimal ? {} : { resourceBody: entry.doc }) });
    switch (type) {
      case 'Create':
      case 'Upsert':
        return done(this._write(ctx, coll, { kind: type, body: op.resourceBody, headerPk: pk, ifMatch: op.ifMatch, rangeCheck: false }));
      case 'Replace':
        return done(this._write(ctx, coll, { kind: 'Replace', body: op.resourceBody, headerPk: pk, ifMatch: op.ifMatch, id: op.id, rangeCheck: false }));
      case 'Read': {
        const e = coll.find(pk, op.id);
        if (!e) throw notFound();
        if (op.ifNoneMatch && op.ifNoneMatch === e.doc._etag) return { statusCode: 304, requestCharge: 1, eTag: e.doc._etag };
        return { statusCode: 200, requestCharge: 1, eTag: e.doc._etag, resourceBody: e.doc };
      }
      case 'Delete': {
        const e = coll.find(pk, op.id);
        if (!e) throw notFound();
        if (op.ifMatch && op.ifMatch !== e.doc._etag) throw preconditionFailed();
        coll.remove(e);
        return { statusCode: 204, requestCharge: 1 };
      }
      case 'Patch': {
        const e = coll.find(pk, op.id);
        if (!e) throw notFound();
        return done(this._patch(coll, e, pk, op.resourceBody, op.ifMatch));
      }
      default:
        throw badRequest(`Unknown batch operationType ${type}`);
    }
  }

  // ---- admin (inspection and control; not part of the Cosmos surface, never signed) ----

  _admin(ctx) {
    const s = ctx.segments;
    const reply = (status, body) => {
      const text = JSON.stringify(body ?? null);
      ctx.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      ctx.res.end(text);
    };
    try {
      const body = ctx.body.length ? JSON.parse(ctx.body.toString('utf8')) : {};
      const route = `${ctx.method} ${s.slice(1).join('/')}`;
      if (route === 'GET requests') {
        return reply(200, this.log.map((r) => ({ seq: r.seq, at: r.at, region: r.region, method: r.method, url: r.url, headers: r.headers, body: r.bodyText, status: r.status, op: r.op, verified: r.verified })));
      }
      if (route === 'DELETE requests') return reply(200, this.clearRequests());
      if (ctx.method === 'GET' && s[1] === 'stored' && s.length === 4) return reply(200, this.stored(s[2], s[3]));
      if (ctx.method === 'GET' && s[1] === 'ranges' && s.length === 4) return reply(200, this.ranges(s[2], s[3]));
      if (route === 'POST faults') return reply(200, (Array.isArray(body) ? body : [body]).map((f) => this.addFault(f)));
      if (route === 'GET faults') return reply(200, this.faults);
      if (route === 'DELETE faults') return reply(200, this.clearFaults());
      if (route === 'POST split') return reply(200, this.splitRange(body.db, body.coll, body.range));
      if (route === 'GET scan') {
        const q = new URL(ctx.req.url, 'http://x').searchParams;
        return reply(200, this.scan(q.get('s') ?? '', { derived: q.get('derived') !== 'false' }));
      }
      if (route === 'GET account') return reply(200, this.accountState());
      if (route === 'POST failover') return reply(200, this.failover(body.writeRegion));
      if (route === 'POST region-down') return reply(200, this.regionDown(body.name, body.mode));
      if (route === 'POST region-up') return reply(200, this.regionUp(body.name));
      if (route === 'GET aad') return reply(200, { disableLocalAuth: this.disableLocalAuth, aad: this.aad ? { tenantId: this.aad.tenantId, roles: this.aad.roles, stats: this.aad.stats } : null });
      if (route === 'POST aad/role') return reply(200, this.setRole(body.principal, body.role ?? null));
      if (route === 'POST local-auth') return reply(200, this.setLocalAuth(body.enabled !== false));
      return reply(404, { error: `no admin route ${route}` });
    } catch (e) {
      return reply(400, { error: String(e.message || e) });
    }
  }
}

/** The textual forms in which a string can travel in a URL, a header or a JSON body. */
export function textForms(text) {
  const out = [];
  const add = (form, v) => {
    if (v && !out.some((x) => x.value === v)) out.push({ form, value: v, bytes: Buffer.from(v, 'utf8') });
  };
  add('literal', text);
  add('json', JSON.stringify(text).slice(1, -1));
  const u = [...text]
    .map((ch) => {
      const cp = ch.codePointAt(0);
      if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
      const hi = Math.floor((cp - 0x10000) / 0x400) + 0xd800;
      const lo = ((cp - 0x10000) % 0x400) + 0xdc00;
      return `\\u${hi.toString(16)}\\u${lo.toString(16)}`;
    })
    .join('');
  add('json-u-escaped', u);
  // Only non-ASCII escaped, as the JS SDK writes the partition-key header.
  add('json-ascii', JSON.stringify(text).slice(1, -1).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  add('json-u-escaped-upper', u.replace(/\\u([0-9a-f]{4})/g, (_, h) => `\\u${h.toUpperCase()}`));
  const pct = encodeURIComponent(text);
  add('percent', pct);
  add('percent-lower', pct.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  add('form', pct.replace(/%20/g, '+'));
  return out;
}

/**
 * Forms derived from a protected value by the hashing the SDKs do on the client: what leaks when
 * an SDK's effective partition key (x-ms-start-epk / x-ms-end-epk, feed ranges, EPK filters in
 * queries, range lookups) reaches the service computed from plaintext. The value as a one-path
 * partition key: EPK V2 (which is also its component in a MultiHash EPK, at any level) and V1, in
 * upper and lower hex; the raw MurmurHash3 outputs behind them (x64-128 as the 128-bit value
 * big-endian and as the hash's little-endian bytes, before the top bits are cleared, in hex and
 * base64; x86-32 of the V1 input, 8 hex digits both byte orders). A numeric text is also hashed
 * as the number (a numeric partition key). Hex of 8+ digits: chance matches are negligible.
 */
export function derivedForms(text) {
  const out = [];
  const add = (form, v) => {
    if (!v) return;
    for (const [suffix, x] of [['', v], ['-lower', v.toLowerCase()]]) {
      if (!out.some((o) => o.value === x)) out.push({ form: `${form}${suffix}`, value: x, bytes: Buffer.from(x, 'utf8'), derived: true });
    }
  };
  const values = [text];
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) && Number.isFinite(Number(text))) values.push(Number(text));
  for (const v of values) {
    const tag = typeof v === 'number' ? '-number' : '';
    add(`epk-v2${tag}`, epkV2([v]));
    add(`epk-v1${tag}`, epkV1([v]));
    const [h1, h2] = murmur3x64_128(Uint8Array.from(v2Component(v)));
    const be = Buffer.alloc(16);
    be.writeBigUInt64BE(h2, 0);
    be.writeBigUInt64BE(h1, 8);
    const le = Buffer.alloc(16);
    le.writeBigUInt64LE(h1, 0);
    le.writeBigUInt64LE(h2, 8);
    add(`murmur3-x64-128-be${tag}`, be.toString('hex').toUpperCase());
    add(`murmur3-x64-128-le${tag}`, le.toString('hex').toUpperCase());
    for (const [name, b] of [['be', be], ['le', le]]) {
      const b64 = b.toString('base64');
      for (const [f, x] of [['base64', b64], ['base64-percent', encodeURIComponent(b64)]]) {
        if (!out.some((o) => o.value === x)) out.push({ form: `murmur3-x64-128-${name}-${f}${tag}`, value: x, bytes: Buffer.from(x), derived: true });
      }
    }
    const h32 = murmur3x86_32(Uint8Array.from(v1HashInput(v)));
    const b4 = Buffer.alloc(4);
    b4.writeUInt32BE(h32);
    add(`murmur3-x86-32-be${tag}`, b4.toString('hex').toUpperCase());
    b4.writeUInt32LE(h32);
    add(`murmur3-x86-32-le${tag}`, b4.toString('hex').toUpperCase());
  }
  return out;
}

function stripSystem(body) {
  const { _rid, _self, _etag, _ts, _attachments, _lsn, ...rest } = body;
  return rest;
}

function snapshotOf(coll) {
  return { docs: new Map(coll.docs), rids: new Map(coll.docsByRid), lsns: coll.ranges.map((r) => r.lsn), nextDoc: coll.nextDoc };
}

function restore(coll, s) {
  coll.docs = s.docs;
  coll.docsByRid = s.rids;
  coll.ranges.forEach((r, i) => (r.lsn = s.lsns[i]));
  coll.nextDoc = s.nextDoc;
}

/**
 * Starts a simulator.
 * @param {object} [o]
 * @param {number} [o.partitions=3] physical partition-key ranges per new collection
 * @param {string[]} [o.regions=['West US']] one listener per region; the first is the write region
 *   (until failover(name) moves it)
 * @param {boolean} [o.globalEndpoint=false] one more listener, `globalEndpoint`, serving as the
 *   current write region (each connection keeps the region it was opened to, as DNS would)
 * @param {boolean} [o.multipleWriteLocations=false] multi-write account: writes accepted in every
 *   region, every region in writableLocations
 * @param {boolean} [o.tls=true] HTTPS with a fresh test CA (caFile / ca in the result)
 * @param {string} [o.key] account key (base64); random when absent
 * @param {number} [o.port=0] port of the first region (0: ephemeral)
 * @param {number} [o.dateWindowMs=900000] accepted x-ms-date skew
 * @param {string} [o.dir] where the test PKI is made (a temp dir under it, removed on stop)
 * @param {object} [o.pki] an existing PKI from tests/e2e/lib/pki.mjs (its `upstream` certificate is used)
 * @param {object} [o.aad] accept Entra ID tokens (`type=aad`): {authorityHost, tenantId, ca, roles,
 *   audiences, skewSec, minRefreshMs, jwks} (lib/aad.mjs); roles: principal oid -> 'reader' |
 *   'contributor' | [actions], absent: every principal of the tenant is a contributor
 * @param {boolean} [o.disableLocalAuth=false] refuse key signatures (401, as an account with
 *   disableLocalAuth does)
 */
export async function startSimulator(o = {}) {
  const sim = await new Simulator(o).start();
  return {
    endpoint: sim.endpoint,
    key: sim.key,
    regions: sim.regions.map(({ name, endpoint, port }) => ({ name, endpoint, port })),
    port: sim.regions[0].port,
    ca: sim.pki ? fs.readFileSync(sim.pki.caCert) : undefined,
    caFile: sim.pki?.caCert,
    tls: sim.tls,
    stop: () => sim.stop(),
    stored: (db, coll) => sim.stored(db, coll),
    requests: () => sim.requests(),
    clearRequests: () => sim.clearRequests(),
    scan: (text, o) => sim.scan(text, o),
    addFault: (f) => sim.addFault(f),
    clearFaults: () => sim.clearFaults(),
    splitRange: (db, coll, range) => sim.splitRange(db, coll, range),
    ranges: (db, coll) => sim.ranges(db, coll),
    globalEndpoint: sim.global?.endpoint,
    failover: (writeRegion) => sim.failover(writeRegion),
    regionDown: (name, mode) => sim.regionDown(name, mode),
    regionUp: (name) => sim.regionUp(name),
    account: () => sim.accountState(),
    setRole: (principal, role) => sim.setRole(principal, role),
    setLocalAuth: (enabled) => sim.setLocalAuth(enabled),
    aadStats: () => (sim.aad ? { ...sim.aad.stats } : null),
    simulator: sim,
  };
}

