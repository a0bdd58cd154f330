// A local identity provider for tests that speaks the Microsoft Entra ID (v2.0 endpoint) protocol
// where cosmoseal and the Azure identity libraries use it (README.md lists the surface and what
// follows the real service):
//   HTTPS (test CA):
//     GET  /{tenant}/v2.0/.well-known/openid-configuration   (also /{tenant}/.well-known/... for v1)
//     GET  /{tenant}/discovery/v2.0/keys                     (and /{tenant}/discovery/keys)
//     POST /{tenant}/oauth2/v2.0/token   client_credentials: client_secret (form or Basic), or
//          client_assertion (jwt-bearer): a certificate assertion (iss = sub = client id, signed by
//          a registered certificate) or a federated token (matched against the app's federated
//          credentials: issuer, subject, audience)
//     GET  /k8s/.well-known/openid-configuration, /k8s/openid/v1/jwks   a Kubernetes service-account
//          token issuer (the "cluster OIDC issuer" whose tokens are exchanged)
//   plain HTTP on loopback (managed identity, as IMDS and App Service serve it):
//     GET  /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...   (Metadata: true)
//     GET  /msi/token?api-version=2019-08-01&resource=...                        (X-IDENTITY-HEADER)
//   plain HTTP admin on loopback, /_idp/...: token lifetime, key rotation, down/up, counters.
// Everything is in memory; listeners are on 127.0.0.1 only.

import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createPki, issueCert } from '../../e2e/lib/pki.mjs';
import { newSigningKey, publicJwk, signJwt, verifyJwt, decodeJwt, certThumbprints, JwtError } from './jwt.mjs';

export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_BODY = 1024 * 1024;

const uuid = () => crypto.randomUUID();
const nowSec = () => Math.floor(Date.now() / 1000);

/** An OAuth error as Entra words it: {error, error_description "AADSTSnnn: ...", error_codes, ...}. */
class OAuthError extends Error {
  constructor(status, error, code, description) {
    super(`AADSTS${code}: ${description}`);
    this.status = status;
    this.error = error;
    this.code = code;
  }
}

function body(ctx, err) {
  const traceId = uuid();
  const correlationId = ctx.headers['client-request-id'] || uuid();
  const ts = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return {
    error: err.error,
    error_description: `${err.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${ts}`,
    error_codes: [err.code],
    timestamp: ts,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${ctx.base}/error?code=${err.code}`,
  };
}

class Idp {
  constructor(opts) {
    this.opts = opts;
    this.tls = opts.tls !== false;
    this.tenantId = opts.tenantId ?? uuid();
    this.tenants = new Set([this.tenantId, ...(opts.extraTenants ?? [])]);
    this.tokenLifetimeSec = opts.tokenLifetimeSec ?? 3599;
    this.tokenVersion = opts.tokenVersion ?? 2;
    this.clockSkewSec = opts.clockSkewSec ?? 300;
    // Known resources (application ID URIs); null: any resource is known.
    this.resources = opts.resources ? new Set(opts.resources) : null;
    this.signingKeys = [newSigningKey(), newSigningKey()]; // [0] signs; the others stay published
    this.k8sKeys = [newSigningKey()];
    this.apps = new Map(); // clientId -> app
    this.managedIdentities = new Map(); // clientId -> identity (the first one is system-assigned)
    this.systemIdentity = null;
    this.identityHeader = opts.identityHeader ?? crypto.randomBytes(16).toString('hex');
    this.down = null; // null | {mode: 'refuse' | 'reset' | '503', which}
    this.tokenDelayMs = 0;
    this.failNext = []; // [{status, error, code, description, count, match}]
    this.stats = { tokens: 0, byClient: {}, byKind: {}, requests: 0, openid: 0, jwks: 0, refused: 0, errors: 0 };
    this.issued = [];
    this.log = [];
    for (const a of opts.apps ?? []) this.addApp(a);
    for (const m of opts.managedIdentities ?? [{}]) this.addManagedIdentity(m);
  }

  // ---- registration ----

  /**
   * Registers an application (service principal).
   * @param {{clientId?: string, objectId?: string, secret?: string, secrets?: string[],
   *   certificates?: string[], federatedCredentials?: {issuer: string, subject: string,
   *   audiences?: string[]}[], roles?: string[], name?: string}} a
   */
  addApp(a = {}) {
    const app = {
      clientId: a.clientId ?? uuid(),
      objectId: a.objectId ?? uuid(),
      name: a.name ?? 'test-app',
      secrets: [...(a.secrets ?? []), ...(a.secret ? [a.secret] : [])],
      certificates: [],
      federatedCredentials: (a.federatedCredentials ?? []).map((f) => ({ audiences: [TOKEN_EXCHANGE_AUDIENCE], ...f })),
      roles: a.roles,
    };
    for (const pem of a.certificates ?? []) this._addCert(app, pem);
    this.apps.set(app.clientId, app);
    return this.describeApp(app);
  }

  _addCert(app, pem) {
    const t = certThumbprints(pem);
    app.certificates.push({ pem: String(pem), ...t });
  }

  describeApp(app) {
    return {
      clientId: app.clientId,
      objectId: app.objectId,
      name: app.name,
      secrets: app.secrets.slice(),
      certificates: app.certificates.map((c) => c.x5t),
      federatedCredentials: app.federatedCredentials.map((f) => ({ ...f })),
    };
  }

  app(clientId) {
    return this.apps.get(clientId);
  }

  /** A managed identity: the first one added is the system-assigned identity. */
  addManagedIdentity(m = {}) {
    const id = { clientId: m.clientId ?? uuid(), objectId: m.objectId ?? uuid(), resourceId: m.resourceId ?? `/subscriptions/${uuid()}/resourcegroups/test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${m.name ?? 'id'}` };
    this.managedIdentities.set(id.clientId, id);
    if (!this.systemIdentity) this.systemIdentity = id;
    return { ...id };
  }

  // ---- keys ----

  /**
   * Key rollover. A new key signs from now on. keep (default true): the previous keys stay in the
   * JWKS (tokens they signed still verify; Entra publishes several keys); keep: false retires them.
   */
  rotateKeys({ keep = true } = {}) {
    const k = newSigningKey();
    this.signingKeys = keep ? [k, ...this.signingKeys] : [k];
    return { kid: k.kid, published: this.signingKeys.map((x) => x.kid) };
  }

  jwks() {
    return { keys: this.signingKeys.map((k) => publicJwk(k, { issuer: this.issuer(this.tenantId) })) };
  }

  // ---- names ----

  issuer(tenant = this.tenantId) {
    return this.tokenVersion === 1 ? `${this.base}/${tenant}/` : `${this.base}/${tenant}/v2.0`;
  }

  v2Issuer(tenant = this.tenantId) {
    return `${this.base}/${tenant}/v2.0`;
  }

  tokenEndpoint(tenant = this.tenantId) {
    return `${this.base}/${tenant}/oauth2/v2.0/token`;
  }

  get k8sIssuer() {
    return `${this.base}/k8s`;
  }

  openidConfiguration(tenant, v1) {
    const t = tenant;
    const iss = v1 ? `${this.base}/${t}/` : `${this.base}/${t}/v2.0`;
    return {
      token_endpoint: v1 ? `${this.base}/${t}/oauth2/token` : `${this.base}/${t}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: v1 ? `${this.base}/${t}/discovery/keys` : `${this.base}/${t}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: iss,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${this.base}/oidc/userinfo`,
      authorization_endpoint: v1 ? `${this.base}/${t}/oauth2/authorize` : `${this.base}/${t}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${this.base}/${t}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${this.base}/${t}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'tid', 'ver', 'oid'],
      kerberos_endpoint: `${this.base}/${t}/kerberos`,
      tenant_region_scope: 'WW',
      cloud_instance_name: new URL(this.base).host,
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  // ---- Kubernetes service-account tokens (the federated side) ----

  /**
   * A projected service-account token as the kubelet writes it for workload identity.
   * @param {{namespace?: string, serviceAccount?: string, audience?: string|string[],
   *   lifetimeSec?: number, issuer?: string, signWith?: 'k8s'|'foreign'}} o
   */
  serviceAccountToken({ namespace = 'default', serviceAccount = 'cosmoseal', audience = TOKEN_EXCHANGE_AUDIENCE, lifetimeSec = 3600, issuer, signWith = 'k8s', now = nowSec() } = {}) {
    const key = signWith === 'foreign' ? newSigningKey() : this.k8sKeys[0];
    return signJwt(
      {
        aud: [].concat(audience),
        exp: now + lifetimeSec,
        iat: now,
        nbf: now,
        iss: issuer ?? this.k8sIssuer,
        'kubernetes.io': {
          namespace,
          pod: { name: `${serviceAccount}-0`, uid: uuid() },
          serviceaccount: { name: serviceAccount, uid: uuid() },
        },
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
      },
      key,
    );
  }

  /** Writes a service-account token to `file` (as the kubelet projects it; 0600). */
  writeServiceAccountToken(file, o = {}) {
    const t = this.serviceAccountToken(o);
    fs.writeFileSync(file, t, { mode: 0o600 });
    return t;
  }

  // ---- admin ----

  setTokenLifetime(sec) {
    if (!(Number.isFinite(sec) && sec > 0)) throw new Error(`token lifetime must be a positive number of seconds (got ${sec})`);
    this.tokenLifetimeSec = Math.floor(sec);
    return this.tokenLifetimeSec;
  }

  /**
   * The provider goes down: 'refuse' closes the listeners (connections refused), 'reset' accepts
   * and drops every connection, '503' answers every request 503 temporarily_unavailable.
   * `which`: 'all' (default), 'sts' (HTTPS only) or 'mi' (the managed identity endpoint only).
   */
  async goDown(mode = 'refuse', which = 'all') {
    if (!['refuse', 'reset', '503'].includes(mode)) throw new Error(`down mode must be refuse, reset or 503 (got ${mode})`);
    this.down = { mode, which };
    if (mode === 'refuse') {
      const closing = [];
      if (which !== 'mi') closing.push(closeServer(this.server));
      if (which !== 'sts') closing.push(closeServer(this.miServer));
      await Promise.all(closing);
    } else {
      if (which !== 'mi') this.server.closeAllConnections?.();
      if (which !== 'sts') this.miServer.closeAllConnections?.();
    }
    return this.state();
  }

  async comeBack() {
    const was = this.down;
    this.down = null;
    if (was?.mode === 'refuse') {
      if (was.which !== 'mi') await listen(this.server, this.port);
      if (was.which !== 'sts') await listen(this.miServer, this.miPort);
    }
    return this.state();
  }

  /** The next `count` token requests (matching client id, if given) fail with an Entra error. */
  failTokens({ count = 1, status = 400, error = 'invalid_request', code = 50000, description = 'There was an error issuing a token.', clientId } = {}) {
    this.failNext.push({ count, status, error, code, description, clientId });
  }

  state() {
    return {
      url: this.base,
      tenantId: this.tenantId,
      down: this.down,
      tokenLifetimeSec: this.tokenLifetimeSec,
      tokenVersion: this.tokenVersion,
      tokenDelayMs: this.tokenDelayMs,
      kids: this.signingKeys.map((k) => k.kid),
      stats: structuredClone(this.stats),
    };
  }

  resetStats() {
    this.stats = { tokens: 0, byClient: {}, byKind: {}, requests: 0, openid: 0, jwks: 0, refused: 0, errors: 0 };
    this.issued.length = 0;
    this.log.length = 0;
  }

  // ---- lifecycle ----

  async start() {
    if (this.tls) {
      if (this.opts.pki) {
        this.pki = this.opts.pki;
        this.cert = issueCert(this.pki, `idp-${process.pid}-${crypto.randomBytes(3).toString('hex')}`);
      } else {
        this.workDir = fs.mkdtempSync(path.join(this.opts.dir ?? os.tmpdir(), 'idp-'));
        this.pki = createPki(this.workDir);
        this.cert = this.pki.upstream;
      }
      this.server = https.createServer(
        { cert: fs.readFileSync(this.cert.cert), key: fs.readFileSync(this.cert.key), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] },
        (req, res) => this._handle(req, res, 'sts'),
      );
      this.server.on('tlsClientError', () => {});
    } else {
      this.server = http.createServer((req, res) => this._handle(req, res, 'sts'));
    }
    this.server.keepAliveTimeout = 5000;
    this.port = await listen(this.server, this.opts.port ?? 0);
    this.host = this.opts.hostName ?? '127.0.0.1';
    this.base = `${this.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
    this.miServer = http.createServer((req, res) => this._handle(req, res, 'mi'));
    this.miServer.keepAliveTimeout = 5000;
    this.miPort = await listen(this.miServer, this.opts.miPort ?? 0);
    this.miBase = `http://127.0.0.1:${this.miPort}`;
    this.adminServer = http.createServer((req, res) => this._admin(req, res));
    this.adminPort = await listen(this.adminServer, this.opts.adminPort ?? 0);
    this.adminBase = `http://127.0.0.1:${this.adminPort}`;
    return this;
  }

  async stop() {
    await Promise.all([closeServer(this.server), closeServer(this.miServer), closeServer(this.adminServer)]);
    if (this.workDir) fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  // ---- request handling ----

  _handle(req, res, listener) {
    const down = this.down && (this.down.which === 'all' || this.down.which === listener) ? this.down.mode : null;
    if (down === 'reset' || down === 'refuse') {
      this.stats.refused++;
      req.socket.destroy();
      return;
    }
    readBody(req, (buf) => {
      const url = new URL(req.url, this.base);
      const ctx = { req, res, headers: req.headers, method: req.method, url, body: buf, base: this.base, listener };
      this.stats.requests++;
      const entry = { at: Date.now(), listener, method: req.method, path: url.pathname, status: 0 };
      this.log.push(entry);
      if (this.log.length > 10000) this.log.shift();
      ctx.entry = entry;
      // A slow provider: token answers (token endpoint, managed identity) wait tokenDelayMs.
      const isToken = listener === 'mi' || url.pathname.endsWith('/oauth2/v2.0/token');
      if (isToken && this.tokenDelayMs > 0) setTimeout(() => this._answer(ctx, down), this.tokenDelayMs);
      else this._answer(ctx, down);
    });
  }

  _answer(ctx, down) {
    const { entry, listener } = ctx;
    try {
      if (down === '503') throw new OAuthError(503, 'temporarily_unavailable', 50000, 'The service is temporarily unavailable (simulated outage).');
      if (listener === 'mi') this._managedIdentity(ctx);
      else this._sts(ctx);
    } catch (e) {
      if (e instanceof OAuthError) {
        this.stats.errors++;
        entry.error = e.message;
        if (ctx.mi) send(ctx, e.status, { error: e.error, error_description: e.message });
        else send(ctx, e.status, body(ctx, e));
      } else {
        send(ctx, 500, { error: 'server_error', error_description: String(e?.stack || e) });
      }
    }
  }

  _sts(ctx) {
    const p = ctx.url.pathname.split('/').filter(Boolean);
    if (ctx.method === 'GET' && p[0] === 'k8s') return this._k8s(ctx, p.slice(1));
    const tenant = p[0];
    const rest = p.slice(1).join('/');
    const known = (t) => this.tenants.has(t) || ['common', 'organizations'].includes(t);
    if (ctx.method === 'GET' && (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration')) {
      if (!known(tenant)) throw new OAuthError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
      this.stats.openid++;
      const t = ['common', 'organizations'].includes(tenant) ? '{tenantid}' : tenant;
      return send(ctx, 200, this.openidConfiguration(t, rest === '.well-known/openid-configuration'));
    }
    if (ctx.method === 'GET' && (rest === 'discovery/v2.0/keys' || rest === 'discovery/keys')) {
      this.stats.jwks++;
      return send(ctx, 200, this.jwks(), { 'cache-control': 'max-age=86400, private' });
    }
    if (rest === 'oauth2/v2.0/token') {
      if (ctx.method !== 'POST') throw new OAuthError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
      if (!this.tenants.has(tenant)) throw new OAuthError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
      return this._token(ctx, tenant);
    }
    send(ctx, 404, { error: 'not_found', error_description: `no such endpoint: ${ctx.method} ${ctx.url.pathname}` });
  }

  _k8s(ctx, p) {
    const rest = p.join('/');
    if (rest === '.well-known/openid-configuration') {
      return send(ctx, 200, {
        issuer: this.k8sIssuer,
        jwks_uri: `${this.k8sIssuer}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (rest === 'openid/v1/jwks') return send(ctx, 200, { keys: this.k8sKeys.map((k) => publicJwk(k, { alg: 'RS256' })) });
    send(ctx, 404, { error: 'not_found' });
  }

  _takeFailure(clientId) {
    const f = this.failNext.find((x) => x.count > 0 && (!x.clientId || x.clientId === clientId));
    if (!f) return;
    f.count--;
    throw new OAuthError(f.status, f.error, f.code, f.description);
  }

  _token(ctx, tenant) {
    const ct = (ctx.headers['content-type'] || '').toLowerCase();
    if (!ct.startsWith('application/x-www-form-urlencoded')) {
      throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    }
    const form = new URLSearchParams(ctx.body.toString('utf8'));
    const grant = form.get('grant_type');
    if (!grant) throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (grant !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(ctx.headers.authorization || '');
    if (basic) {
      const [u, s] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(u);
      secret = decodeURIComponent(s ?? '');
    }
    const scope = form.get('scope');
    if (!scope) throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const scopes = scope.split(' ').filter(Boolean);
    const dflt = scopes.filter((s) => s.endsWith('/.default'));
    if (dflt.length !== 1) {
      throw new OAuthError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    const resource = dflt[0].slice(0, -'/.default'.length);
    if (this.resources && !this.resources.has(resource)) {
      throw new OAuthError(400, 'invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`);
    }
    const assertionType = form.get('client_assertion_type');
    const assertion = form.get('client_assertion');
    let kind;
    let app;
    if (assertion || assertionType) {
      if (assertionType !== JWT_BEARER) throw new OAuthError(400, 'invalid_request', 50027, `Invalid client_assertion_type ${assertionType}.`);
      ({ app, kind } = this._checkAssertion(tenant, clientId, assertion));
    } else {
      if (!clientId) throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
      app = this._appOrThrow(tenant, clientId);
      if (!secret) throw new OAuthError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
      if (!app.secrets.some((s) => safeEqual(s, secret))) {
        throw new OAuthError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
      }
      kind = 'secret';
    }
    this._takeFailure(app.clientId);
    const token = this._issue({ tenant, resource, clientId: app.clientId, objectId: app.objectId, kind, roles: app.roles });
    send(ctx, 200, { token_type: 'Bearer', expires_in: this.tokenLifetimeSec, ext_expires_in: this.tokenLifetimeSec, access_token: token });
  }

  _appOrThrow(tenant, clientId) {
    const app = this.apps.get(clientId);
    if (!app) {
      throw new OAuthError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
    }
    return app;
  }

  /** A client assertion: a certificate assertion (iss = sub = client id) or a federated token. */
  _checkAssertion(tenant, clientId, assertion) {
    let decoded;
    try {
      decoded = decodeJwt(assertion ?? '');
    } catch {
      throw new OAuthError(400, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    const { header, payload } = decoded;
    const now = Date.now();
    if (payload.iss && payload.iss === payload.sub && (this.apps.has(payload.iss) || payload.iss === clientId)) {
      // Certificate credential: signed by a certificate registered on the app; aud = token endpoint.
      const app = this._appOrThrow(tenant, payload.iss);
      if (clientId && clientId !== app.clientId) throw new OAuthError(401, 'invalid_client', 700021, 'Client assertion application identifier doesn\'t match \'client_id\' parameter.');
      // Thumbprints as base64url; MSAL for Python pads them ('='), as Entra tolerates.
      const thumb = String(header['x5t#S256'] ?? header.x5t ?? '').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const cert = app.certificates.find((c) => c.x5t === thumb || c.x5tS256 === thumb);
      if (!cert) throw new OAuthError(401, 'invalid_client', 700027, `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${thumb}']`);
      try {
        verifyJwt(assertion, { keyFor: () => cert.publicKey, algorithms: ['RS256', 'PS256'], now, skewSec: this.clockSkewSec, audience: [this.tokenEndpoint(tenant), this.v2Issuer(tenant), `${this.base}/${tenant}/oauth2/token`] });
      } catch (e) {
        throw assertionError(e);
      }
      return { app, kind: 'certificate' };
    }
    // Federated identity credential: the assertion is another issuer's token (here: our Kubernetes issuer).
    if (!clientId) throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const app = this._appOrThrow(tenant, clientId);
    const fics = app.federatedCredentials.filter((f) => f.issuer === payload.iss && f.subject === payload.sub);
    const auds = [].concat(payload.aud ?? []);
    const match = fics.find((f) => f.audiences.some((a) => auds.includes(a)));
    if (!match) {
      throw new OAuthError(400, 'invalid_client', 70021, `No matching federated identity record found for presented assertion. Assertion Issuer: '${payload.iss}'. Assertion Subject: '${payload.sub}'. Assertion Audience: '${auds.join(',')}'.`);
    }
    const keys = payload.iss === this.k8sIssuer ? this.k8sKeys : [];
    try {
      verifyJwt(assertion, { keyFor: (h) => keys.find((k) => k.kid === h.kid)?.publicKey ?? null, algorithms: ['RS256', 'PS256'], now, skewSec: this.clockSkewSec });
    } catch (e) {
      if (e instanceof JwtError && (e.reason === 'unknown_kid' || e.reason === 'bad_signature')) {
        throw new OAuthError(400, 'invalid_client', 700211, `No matching federated identity record found for presented assertion issuer '${payload.iss}'. The signing key of the assertion is not published by the issuer.`);
      }
      throw assertionError(e);
    }
    return { app, kind: 'federated' };
  }

  _managedIdentity(ctx) {
    ctx.mi = true;
    const q = ctx.url.searchParams;
    // MSAL for Node asks for '/metadata/identity/oauth2/token/' (trailing slash), which IMDS serves.
    const p = ctx.url.pathname.replace(/\/+$/, '');
    let style;
    if (p === '/metadata/identity/oauth2/token') {
      style = 'imds';
      if (ctx.method !== 'GET') throw new OAuthError(405, 'invalid_request', 0, 'Only GET is allowed.');
      if ((ctx.headers.metadata || '').toLowerCase() !== 'true') throw new OAuthError(400, 'invalid_request', 0, 'Required metadata header not specified');
      if (q.get('api-version') !== '2018-02-01' && q.get('api-version') !== '2019-08-01') throw new OAuthError(400, 'invalid_request', 0, 'Invalid API version');
    } else if (p === '/msi/token') {
      style = 'appservice';
      if (ctx.headers['x-identity-header'] !== this.identityHeader) {
        return send(ctx, 401, { statusCode: 401, message: 'Unauthorized: the X-IDENTITY-HEADER does not match.' });
      }
    } else {
      return send(ctx, 404, { error: 'not_found' });
    }
    const resource = q.get('resource');
    if (!resource) throw new OAuthError(400, 'invalid_request', 0, 'Required query variable \'resource\' is missing');
    const wanted = q.get('client_id') ?? q.get('object_id') ?? q.get('principal_id') ?? q.get('msi_res_id') ?? q.get('mi_res_id');
    let id = this.systemIdentity;
    if (wanted) {
      id = [...this.managedIdentities.values()].find((m) => m.clientId === wanted || m.objectId === wanted || m.resourceId === wanted);
      if (!id) throw new OAuthError(400, 'invalid_request', 0, 'Identity not found');
    }
    // An unknown resource is refused as at the token endpoint (the SDKs then fall back to
    // https://cosmos.azure.com, see `resources`).
    const res = resource.replace(/\/\.default$/, '');
    if (this.resources && !this.resources.has(res)) {
      throw new OAuthError(400, 'invalid_resource', 500011, `The resource principal named ${res} was not found in the tenant named ${this.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
    }
    this._takeFailure(id.clientId);
    const token = this._issue({ tenant: this.tenantId, resource: res, clientId: id.clientId, objectId: id.objectId, kind: `mi-${style}`, mirid: id.resourceId });
    const exp = nowSec() + this.tokenLifetimeSec;
    if (style === 'imds') {
      return send(ctx, 200, {
        access_token: token,
        client_id: id.clientId,
        expires_in: String(this.tokenLifetimeSec),
        expires_on: String(exp),
        ext_expires_in: String(this.tokenLifetimeSec),
        not_before: String(nowSec()),
        resource,
        token_type: 'Bearer',
      });
    }
    send(ctx, 200, { access_token: token, expires_on: String(exp), resource, token_type: 'Bearer', client_id: id.clientId });
  }

  /** An access token as Entra writes it for an app-only (client credentials) grant. */
  _issue({ tenant, resource, clientId, objectId, kind, roles, mirid }) {
    const now = nowSec();
    const v1 = this.tokenVersion === 1;
    const acr = kind === 'secret' ? '1' : '2';
    const claims = {
      aud: resource,
      iss: this.issuer(tenant),
      iat: now,
      nbf: now,
      exp: now + this.tokenLifetimeSec,
      aio: crypto.randomBytes(24).toString('base64url'),
      ...(v1 ? { appid: clientId, appidacr: acr } : { azp: clientId, azpacr: acr }),
      idp: v1 ? `https://sts.windows.net/${tenant}/` : this.issuer(tenant),
      idtyp: 'app',
      oid: objectId,
      rh: `0.${crypto.randomBytes(12).toString('base64url')}.`,
      ...(roles ? { roles } : {}),
      sub: objectId,
      tid: tenant,
      uti: crypto.randomBytes(16).toString('base64url'),
      ver: v1 ? '1.0' : '2.0',
      ...(mirid ? { xms_mirid: mirid } : {}),
    };
    const key = this.signingKeys[0];
    const token = signJwt(claims, key, { x5t: key.kid });
    this.stats.tokens++;
    this.stats.byClient[clientId] = (this.stats.byClient[clientId] ?? 0) + 1;
    this.stats.byKind[kind] = (this.stats.byKind[kind] ?? 0) + 1;
    this.issued.push({ at: Date.now(), clientId, objectId, kind, resource, kid: key.kid, exp: claims.exp });
    if (this.issued.length > 10000) this.issued.shift();
    return token;
  }

  // ---- admin API (plain HTTP, loopback) ----

  _admin(req, res) {
    readBody(req, async (buf) => {
      const ctx = { req, res, headers: req.headers, method: req.method, url: new URL(req.url, 'http://x') };
      let input = {};
      try {
        if (buf.length) input = JSON.parse(buf.toString('utf8'));
      } catch {
        return send(ctx, 400, { error: 'body is not JSON' });
      }
      const p = ctx.url.pathname.replace(/^\/_idp\/?/, '');
      try {
        const routes = {
          'GET state': () => this.state(),
          'GET stats': () => this.state().stats,
          'GET issued': () => this.issued.slice(),
          'POST stats/reset': () => (this.resetStats(), this.state().stats),
          'POST lifetime': () => ({ tokenLifetimeSec: this.setTokenLifetime(Number(input.seconds)) }),
          'POST rotate': () => this.rotateKeys({ keep: input.keep !== false }),
          'POST down': () => this.goDown(input.mode ?? 'refuse', input.which ?? 'all'),
          'POST up': () => this.comeBack(),
          'POST fail': () => (this.failTokens(input), { queued: this.failNext.filter((f) => f.count > 0).length }),
          'POST apps': () => this.addApp(input),
          'POST managed-identities': () => this.addManagedIdentity(input),
          'POST sa-token': () => ({ token: this.serviceAccountToken(input) }),
          'POST delay': () => ((this.tokenDelayMs = Math.max(0, Number(input.ms) || 0)), { tokenDelayMs: this.tokenDelayMs }),
          'POST resources': () => ((this.resources = Array.isArray(input.resources) ? new Set(input.resources) : null), { resources: this.resources ? [...this.resources] : null }),
          'POST token-version': () => ((this.tokenVersion = Number(input.version) === 1 ? 1 : 2), { tokenVersion: this.tokenVersion }),
        };
        const fn = routes[`${req.method} ${p}`];
        if (!fn) return send(ctx, 404, { error: `no admin route ${req.method} /_idp/${p}` });
        send(ctx, 200, await fn());
      } catch (e) {
        send(ctx, 400, { error: String(e?.message || e) });
      }
    });
  }
}

function assertionError(e) {
  if (e instanceof JwtError) {
    if (e.reason === 'expired' || e.reason === 'not_yet_valid') return new OAuthError(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
    if (e.reason === 'bad_audience') return new OAuthError(400, 'invalid_client', 700212, `No matching federated identity record found for presented assertion audience. ${e.message}`);
    if (e.reason === 'bad_signature') return new OAuthError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    return new OAuthError(400, 'invalid_client', 50027, `JWT token is invalid or malformed (${e.message}).`);
  }
  return e;
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function readBody(req, done) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('error', () => {});
  req.on('end', () => done(Buffer.concat(chunks)));
}

function send(ctx, status, obj, headers = {}) {
  if (ctx.entry) ctx.entry.status = status;
  const payload = JSON.stringify(obj);
  ctx.res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    'cache-control': 'no-store, no-cache',
    'x-ms-request-id': uuid(),
    ...headers,
  });
  ctx.res.end(payload);
}

function listen(server, port) {
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
    if (!server || !server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * Starts the identity provider.
 * @param {object} [o]
 * @param {boolean} [o.tls=true] HTTPS with a test CA (a fresh one, or `pki`'s: a leaf is issued)
 * @param {object} [o.pki] a PKI from tests/e2e/lib/pki.mjs (so one CA serves every test server)
 * @param {string} [o.dir] where a fresh PKI is made (a temp dir under it, removed on stop)
 * @param {number} [o.port=0] HTTPS port; [o.miPort=0] managed identity port; [o.adminPort=0]
 * @param {string} [o.tenantId] (random GUID)
 * @param {number} [o.tokenLifetimeSec=3599] access token lifetime
 * @param {1|2} [o.tokenVersion=2] access token format (v1: iss {base}/{tenant}/ and appid; v2: iss
 *   {base}/{tenant}/v2.0 and azp)
 * @param {string[]} [o.resources] known resources (scope without /.default); others get
 *   AADSTS500011 (the JS Cosmos SDK then falls back to https://cosmos.azure.com/.default). Absent:
 *   every resource is known.
 * @param {object[]} [o.apps] applications to register (see addApp)
 * @param {object[]} [o.managedIdentities=[{}]] the first is system-assigned
 * @param {string} [o.identityHeader] the App Service X-IDENTITY-HEADER secret (random)
 */
export async function startIdp(o = {}) {
  const idp = await new Idp(o).start();
  return {
    url: idp.base,
    authorityHost: idp.base,
    port: idp.port,
    tenantId: idp.tenantId,
    issuer: idp.issuer(),
    tokenEndpoint: idp.tokenEndpoint(),
    jwksUri: `${idp.base}/${idp.tenantId}/discovery/v2.0/keys`,
    openidConfigurationUrl: `${idp.base}/${idp.tenantId}/v2.0/.well-known/openid-configuration`,
    k8sIssuer: idp.k8sIssuer,
    miUrl: idp.miBase,
    imdsHost: idp.miBase,
    identityEndpoint: `${idp.miBase}/msi/token`,
    identityHeader: idp.identityHeader,
    adminUrl: `${idp.adminBase}/_idp/`,
    ca: idp.pki ? fs.readFileSync(idp.pki.caCert) : undefined,
    caFile: idp.pki?.caCert,
    systemIdentity: { ...idp.systemIdentity },
    addApp: (a) => idp.addApp(a),
    addManagedIdentity: (m) => idp.addManagedIdentity(m),
    serviceAccountToken: (x) => idp.serviceAccountToken(x),
    writeServiceAccountToken: (f, x) => idp.writeServiceAccountToken(f, x),
    setTokenLifetime: (s) => idp.setTokenLifetime(s),
    setTokenVersion: (v) => (idp.tokenVersion = v === 1 ? 1 : 2),
    /** Token answers (token endpoint, managed identity) wait `ms` (a slow provider). */
    setTokenDelay: (ms) => (idp.tokenDelayMs = Math.max(0, Number(ms) || 0)),
    rotateKeys: (x) => idp.rotateKeys(x),
    jwks: () => idp.jwks(),
    goDown: (mode, which) => idp.goDown(mode, which),
    comeBack: () => idp.comeBack(),
    failTokens: (f) => idp.failTokens(f),
    state: () => idp.state(),
    stats: () => idp.state().stats,
    issued: () => idp.issued.slice(),
    requests: () => idp.log.slice(),
    resetStats: () => idp.resetStats(),
    /** Environment for @azure/identity's ManagedIdentityCredential (App Service style). */
    appServiceEnv: () => ({ IDENTITY_ENDPOINT: `${idp.miBase}/msi/token`, IDENTITY_HEADER: idp.identityHeader }),
    /** Environment for ManagedIdentityCredential via IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST). */
    imdsEnv: () => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: idp.miBase }),
    stop: () => idp.stop(),
    idp,
  };
}
