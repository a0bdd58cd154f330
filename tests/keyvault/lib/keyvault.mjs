// A local Azure Key Vault / Managed HSM stand-in for tests (README.md here): the keys REST API
// where cosmoseal's azure_key_vault KEK provider uses it (get key, wrapkey, unwrapkey), over
// HTTPS with the test CA, Bearer tokens checked against the test IdP's JWKS (tests/idp).
// Node.js >= 20, no npm dependencies.

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { issueCert } from '../../e2e/lib/pki.mjs';
import { verifyJwt, JwtError } from '../../idp/lib/jwt.mjs';

const API_VERSIONS = new Set(['7.0', '7.1', '7.2', '7.3', '7.4', '7.5']);
const WRAP_ALGS = {
  'RSA-OAEP': { kty: 'RSA', hash: 'sha1' },
  'RSA-OAEP-256': { kty: 'RSA', hash: 'sha256' },
  A256KW: { kty: 'oct' },
};
const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

class VaultError extends Error {
  constructor(status, code, message, inner, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.inner = inner;
    this.headers = headers;
  }
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-ms-keyvault-service-version': '1.9.0.0',
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function getJson(url, ca) {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    lib.get(url, { ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e);
        }
      });
    }).on('error', reject);
  });
}

class Vault {
  constructor(o) {
    this.kind = o.kind === 'managedhsm' ? 'managedhsm' : 'vault';
    this.resource = this.kind === 'managedhsm' ? 'https://managedhsm.azure.net' : 'https://vault.azure.net';
    this.jwksUri = o.jwksUri;
    this.issuers = [].concat(o.issuer ?? []);
    this.tenantId = o.tenantId;
    this.ca = o.ca;
    this.pki = o.pki;
    this.port = o.port ?? 0;
    this.keys = new Map(); // name -> [{version, kty, key (KeyObject or Buffer), enabled, created}]
    this.jwks = null;
    this.rbac = null; // null: every valid token may use every key; else Set of allowed oids
    this.down = null;
    this.stats = { requests: 0, get: 0, wrap: 0, unwrap: 0, refused: 0, byStatus: {} };
    this.log = [];
    this.unwrapped = []; // every value unwrapkey answered (content keys): tests grep core dumps for them
  }

  async start() {
    const leaf = issueCert(this.pki, `keyvault-${process.pid}-${Date.now()}`);
    this.server = https.createServer({ cert: fs.readFileSync(leaf.cert), key: fs.readFileSync(leaf.key) },
      (req, res) => this.handle(req, res));
    await listen(this.server, this.port);
    this.port = this.server.address().port;
    this.url = `https://127.0.0.1:${this.port}`;
    return this;
  }

  createKey(name, { kty = this.kind === 'managedhsm' ? 'oct-HSM' : 'RSA', size } = {}) {
    if (!/^[0-9a-zA-Z-]{1,127}$/.test(name)) throw new Error(`bad key name ${name}`);
    let key;
    if (kty === 'RSA' || kty === 'RSA-HSM') {
      key = crypto.generateKeyPairSync('rsa', { modulusLength: size ?? 2048 }).privateKey;
    } else if (kty === 'oct-HSM' || kty === 'oct') {
      if (this.kind !== 'managedhsm') throw new Error('oct-HSM keys exist in Managed HSM only');
      key = crypto.randomBytes((size ?? 256) / 8);
    } else {
      throw new Error(`unsupported kty ${kty}`);
    }
    const version = crypto.randomBytes(16).toString('hex');
    const versions = this.keys.get(name) ?? [];
    versions.push({ version, kty, key, enabled: true, created: Math.floor(Date.now() / 1000) });
    this.keys.set(name, versions);
    return { kid: this.kid(name, version), version };
  }

  setEnabled(name, version, enabled) {
    const v = (this.keys.get(name) ?? []).find((x) => x.version === version);
    if (!v) throw new Error(`no version ${version} of ${name}`);
    v.enabled = enabled;
  }

  deleteKey(name) {
    this.keys.delete(name);
  }

  kid(name, version) {
    return `${this.url}/keys/${name}/${version}`;
  }

  /** RBAC: null lets any valid token in; a list of object ids ("Key Vault Crypto User"). */
  setAccess(oids) {
    this.rbac = oids === null ? null : new Set(oids);
  }

  async goDown(mode = 'refuse') {
    if (!['refuse', '503'].includes(mode)) throw new Error('down mode: refuse or 503');
    this.down = mode;
    if (mode === 'refuse') await closeServer(this.server);
  }

  async comeBack() {
    const was = this.down;
    this.down = null;
    if (was === 'refuse') await listen(this.server, this.port);
  }

  async verifyToken(req) {
    const h = req.headers.authorization ?? '';
    const challenge = {
      'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${this.tenantId ?? 'common'}", resource="${this.resource}"`,
    };
    if (!/^Bearer /i.test(h)) {
      throw new VaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, challenge);
    }
    const token = h.slice(7).trim();
    const keyFor = (header) => this.jwks?.keys.find((k) => k.kid === header.kid) ?? null;
    const check = () => verifyJwt(token, { keyFor, audience: [this.resource, `${this.resource}/`], issuer: this.issuers.length ? this.issuers : undefined, skewSec: 60 });
    try {
      try {
        return check().payload;
      } catch (e) {
        if (!(e instanceof JwtError) || e.reason !== 'unknown_kid' || !this.jwksUri) throw e;
        this.jwks = await getJson(this.jwksUri, this.ca); // refreshed on an unknown kid
        return check().payload;
      }
    } catch (e) {
      const msg = {
        bad_audience: 'AKV10022: Invalid audience.',
        bad_issuer: 'AKV10032: Invalid issuer.',
        expired: 'AKV10032: Token expired.',
      }[e.reason] ?? `AKV10031: Token validation failed: ${e.message}`;
      throw new VaultError(401, 'Unauthorized', msg, undefined, challenge);
    }
  }

  authorize(claims, action, name) {
    if (this.rbac && !this.rbac.has(claims.oid)) {
      throw new VaultError(403, 'Forbidden',
        `Caller is not authorized to perform action on resource.\r\nIf role assignments were recently changed, please wait several minutes for role assignments to become effective.\r\nCaller: appid=${claims.azp ?? claims.appid};oid=${claims.oid};iss=${claims.iss}\r\nAction: 'Microsoft.KeyVault/vaults/keys/${action}'\r\nResource: '/keys/${name}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'`,
        { code: 'ForbiddenByRbac' });
    }
  }

  findKey(name, version) {
    const versions = this.keys.get(name);
    const v = versions && (version ? versions.find((x) => x.version === version) : versions[versions.length - 1]);
    if (!v) {
      throw new VaultError(404, 'KeyNotFound',
        `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
    }
    return v;
  }

  keyBundle(name, v) {
    const jwk = { kid: this.kid(name, v.version), kty: v.kty, key_ops: ['wrapKey', 'unwrapKey', 'encrypt', 'decrypt'] };
    if (v.kty.startsWith('RSA')) {
      const pub = crypto.createPublicKey(v.key).export({ format: 'jwk' });
      jwk.n = pub.n;
      jwk.e = pub.e;
    }
    return { key: jwk, attributes: { enabled: v.enabled, created: v.created, updated: v.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 } };
  }

  crypt(op, v, alg, value) {
    const a = WRAP_ALGS[alg];
    if (!a) throw new VaultError(400, 'BadParameter', `Invalid algorithm: ${alg}`);
    if (!v.kty.startsWith(a.kty)) throw new VaultError(400, 'BadParameter', `Algorithm ${alg} is not supported for key type ${v.kty}.`);
    if (!v.enabled) {
      throw new VaultError(403, 'Forbidden', `Operation ${op} is not allowed on a disabled key.`, { code: 'KeyDisabled' });
    }
    try {
      if (a.kty === 'RSA') {
        const opts = { key: v.key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: a.hash };
        return op === 'wrapKey' ? crypto.publicEncrypt({ ...opts, key: crypto.createPublicKey(v.key) }, value) : crypto.privateDecrypt(opts, value);
      }
      const c = op === 'wrapKey' ? crypto.createCipheriv('id-aes256-wrap', v.key, AES_KW_IV) : crypto.createDecipheriv('id-aes256-wrap', v.key, AES_KW_IV);
      return Buffer.concat([c.update(value), c.final()]);
    } catch {
      throw new VaultError(400, 'BadParameter', op === 'unwrapKey' ? 'Error occurred while decrypting (unwrapping) the value.' : 'The value cannot be wrapped with this key.');
    }
  }

  async handle(req, res) {
    this.stats.requests++;
    const u = new URL(req.url, this.url);
    const entry = { method: req.method, path: u.pathname, status: 0 };
    this.log.push(entry);
    const reply = (status, body, headers) => {
      entry.status = status;
      this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
      send(res, status, body, headers);
    };
    try {
      if (this.down === '503') throw new VaultError(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please retry later.');
      const api = u.searchParams.get('api-version');
      if (!api) throw new VaultError(400, 'BadParameter', 'The api-version parameter is missing.');
      if (!API_VERSIONS.has(api)) throw new VaultError(400, 'BadParameter', `The specified version (${api}) is not recognized. Consider using the latest supported version (7.5).`);
      const m = /^\/keys\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-zA-Z-]*))?(?:\/(wrapkey|unwrapkey))?$/.exec(u.pathname);
      if (!m) throw new VaultError(404, 'NotFound', `The requested URL ${u.pathname} was not found.`);
      const [, name, version, op] = m;
      const claims = await this.verifyToken(req);
      entry.oid = claims.oid;
      const body = req.method === 'POST' ? await readBody(req) : '';
      if (!op) {
        if (req.method !== 'GET') throw new VaultError(405, 'MethodNotAllowed', `${req.method} is not allowed.`);
        this.authorize(claims, 'read', name);
        this.stats.get++;
        return reply(200, this.keyBundle(name, this.findKey(name, version)));
      }
      if (req.method !== 'POST' || !version) throw new VaultError(400, 'BadParameter', `${op} needs POST on /keys/{name}/{version}/${op}`);
      this.authorize(claims, op === 'wrapkey' ? 'wrap/action' : 'unwrap/action', name);
      const v = this.findKey(name, version);
      let input;
      try {
        input = JSON.parse(body);
      } catch {
        throw new VaultError(400, 'BadParameter', 'The request body is not valid JSON.');
      }
      if (typeof input.alg !== 'string' || typeof input.value !== 'string') {
        throw new VaultError(400, 'BadParameter', 'Property alg and value are required.');
      }
      const out = this.crypt(op === 'wrapkey' ? 'wrapKey' : 'unwrapKey', v, input.alg, Buffer.from(input.value, 'base64url'));
      this.stats[op === 'wrapkey' ? 'wrap' : 'unwrap']++;
      if (op === 'unwrapkey') this.unwrapped.push(Buffer.from(out));
      return reply(200, { kid: this.kid(name, v.version), value: out.toString('base64url') });
    } catch (e) {
      if (!(e instanceof VaultError)) {
        e = new VaultError(500, 'InternalError', String(e?.message ?? e));
      }
      this.stats.refused++;
      const error = { code: e.code, message: e.message };
      if (e.inner) error.innererror = e.inner;
      return reply(e.status, { error }, e.headers);
    }
  }

  async stop() {
    await closeServer(this.server);
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
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

/**
 * Starts a vault.
 * @param {object} o
 * @param {object} o.pki tests/e2e/lib/pki.mjs PKI: a leaf for 127.0.0.1 is issued by its CA
 * @param {'vault'|'managedhsm'} [o.kind='vault'] token audience https://vault.azure.net or
 *   https://managedhsm.azure.net; oct-HSM keys only in managedhsm
 * @param {string} o.jwksUri the IdP's JWKS (tokens are verified against it)
 * @param {string|string[]} [o.issuer] accepted token issuers (absent: any)
 * @param {string} [o.tenantId] named in the 401 challenge
 * @param {Buffer} [o.ca] CA to fetch the JWKS with
 * @param {number} [o.port=0]
 */
export async function startKeyVault(o) {
  const v = await new Vault({ ...o, ca: o.ca ?? (o.pki ? fs.readFileSync(o.pki.caCert) : undefined) }).start();
  return {
    url: v.url,
    port: v.port,
    kind: v.kind,
    resource: v.resource,
    scope: `${v.resource}/.default`,
    createKey: (name, x) => v.createKey(name, x),
    setEnabled: (name, version, enabled) => v.setEnabled(name, version, enabled),
    deleteKey: (name) => v.deleteKey(name),
    kid: (name, version) => v.kid(name, version),
    setAccess: (oids) => v.setAccess(oids),
    goDown: (mode) => v.goDown(mode),
    comeBack: () => v.comeBack(),
    stats: () => structuredClone(v.stats),
    requests: () => v.log.slice(),
    unwrappedValues: () => v.unwrapped.slice(),
    resetStats: () => {
      v.stats = { requests: 0, get: 0, wrap: 0, unwrap: 0, refused: 0, byStatus: {} };
      v.log = [];
    },
    stop: () => v.stop(),
  };
}
