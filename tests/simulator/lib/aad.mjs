// Microsoft Entra ID (AAD) data-plane authentication as the service applies it: an
// `authorization: type=aad&ver=1.0&sig=<JWT>` header carries an access token that must be RS256
// signed by a key of the tenant's JWKS (found through its OpenID configuration, cached, fetched
// again for an unknown kid at most once per `minRefreshMs`), issued by the account's tenant, for one
// of the account's audiences, and within exp/nbf (with a small skew). Then the data-plane RBAC:
// control-plane operations (databases, containers, offers, scripts) cannot be authorized by an
// AAD token at all (403/5300); the others need the action in the principal's role (403/5301).
// FIDELITY.md gives the sources of the statuses and messages.

import https from 'node:https';
import http from 'node:http';
import { decodeJwt, verifyJwt, JwtError } from '../../idp/lib/jwt.mjs';

export const RBAC_LEARN_MORE = 'Learn more: https://aka.ms/cosmos-native-rbac.';
export const LOCAL_AUTH_DISABLED = 'Local Authorization is disabled. Use an AAD token to authorize all requests.';

const READ_METADATA = 'Microsoft.DocumentDB/databaseAccounts/readMetadata';
const ITEMS = 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items';
const CONTAINERS = 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers';

/** The built-in data-plane roles (their definition ids end in 1 and 2). */
export const ROLES = {
  reader: [READ_METADATA, `${ITEMS}/read`, `${CONTAINERS}/executeQuery`, `${CONTAINERS}/readChangeFeed`],
  contributor: [READ_METADATA, `${CONTAINERS}/*`, `${ITEMS}/*`],
};

/** The RBAC data action a simulator operation needs (op names as in server.mjs). */
export function actionsFor(op, batchOps = []) {
  switch (op) {
    case 'account':
    case 'metadata':
    case 'pkranges':
      return [READ_METADATA];
    case 'read':
      return [`${ITEMS}/read`];
    case 'create':
      return [`${ITEMS}/create`];
    case 'upsert':
      return [`${ITEMS}/upsert`];
    case 'replace':
    case 'patch':
      return [`${ITEMS}/replace`];
    case 'delete':
      return [`${ITEMS}/delete`];
    case 'query':
    case 'queryPlan':
      return [`${CONTAINERS}/executeQuery`];
    case 'readFeed':
    case 'changeFeed':
      return [`${CONTAINERS}/readChangeFeed`];
    case 'batch':
    case 'bulk': {
      const m = { create: 'create', upsert: 'upsert', replace: 'replace', patch: 'replace', delete: 'delete', read: 'read' };
      const acts = new Set(batchOps.map((t) => `${ITEMS}/${m[String(t).toLowerCase()] ?? 'create'}`));
      return acts.size ? [...acts] : [`${ITEMS}/create`];
    }
    default:
      return [READ_METADATA];
  }
}

function granted(actions, wanted) {
  return actions.some((a) => a === wanted || (a.endsWith('/*') && wanted.startsWith(a.slice(0, -1))));
}

function getJson(url, ca) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { ca, agent: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

const when = (sec) => {
  // The service writes times as M/D/YYYY h:mm:ss AM (UTC).
  const d = new Date(sec * 1000);
  const h = d.getUTCHours();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 || 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'} (UTC)`;
};

export class AadAuthority {
  /**
   * @param {object} o
   * @param {string} o.authorityHost the identity provider, e.g. https://127.0.0.1:<port>
   * @param {string} o.tenantId the account's tenant
   * @param {Buffer} [o.ca] CA of the provider's TLS certificate
   * @param {object[]} [o.jwks] keys given directly (no fetching)
   * @param {number} [o.skewSec=300] tolerance on exp/nbf
   * @param {number} [o.minRefreshMs=5000] at most one key fetch per this interval
   * @param {Object<string, string|string[]>} [o.roles] principal object id -> 'reader' |
   *   'contributor' | [actions]; absent: every principal of the tenant is a contributor
   * @param {string[]} [o.audiences] accepted besides the account's endpoints and https://cosmos.azure.com
   */
  constructor(o) {
    this.authorityHost = o.authorityHost.replace(/\/+$/, '');
    this.tenantId = o.tenantId;
    this.ca = o.ca;
    this.skewSec = o.skewSec ?? 300;
    this.minRefreshMs = o.minRefreshMs ?? 5000;
    this.roles = o.roles ?? null;
    this.extraAudiences = o.audiences ?? [];
    this.keys = new Map();
    for (const k of o.jwks ?? []) this.keys.set(k.kid, k);
    this.staticKeys = !!o.jwks;
    this.lastFetch = 0;
    this.fetching = null;
    this.stats = { keyFetches: 0, keyFetchFailures: 0, verified: 0, refused: 0 };
  }

  issuers() {
    return [`${this.authorityHost}/${this.tenantId}/v2.0`, `${this.authorityHost}/${this.tenantId}/`, `https://sts.windows.net/${this.tenantId}/`];
  }

  /** Fetches the tenant's keys through its OpenID configuration (rate-limited; never throws). */
  async refreshKeys({ force = false } = {}) {
    if (this.staticKeys) return;
    if (this.fetching) return this.fetching;
    if (!force && Date.now() - this.lastFetch < this.minRefreshMs) return;
    this.lastFetch = Date.now();
    this.fetching = (async () => {
      try {
        this.stats.keyFetches++;
        const conf = await getJson(`${this.authorityHost}/${this.tenantId}/v2.0/.well-known/openid-configuration`, this.ca);
        const jwks = await getJson(conf.jwks_uri, this.ca);
        this.keys = new Map((jwks.keys ?? []).filter((k) => k.kty === 'RSA' && k.kid).map((k) => [k.kid, k]));
      } catch {
        this.stats.keyFetchFailures++;
      } finally {
        this.fetching = null;
      }
    })();
    return this.fetching;
  }

  /** Before a synchronous verify: makes sure the token's kid was looked up (async). */
  async prepare(token) {
    let kid;
    try {
      kid = decodeJwt(token).header.kid;
    } catch {
      return;
    }
    if (kid && !this.keys.has(kid)) await this.refreshKeys({ force: this.keys.size === 0 && this.lastFetch === 0 });
  }

  /**
   * @param {string} token
   * @param {string[]} audiences the account's own (its endpoints' origins)
   * @param {string} account the account name, as the service names it in messages
   * @returns {{ok: true, principal: string, claims: object} |
   *           {ok: false, status: number, substatus?: number, reason: string, message: string}}
   */
  verify(token, audiences, account, now = Date.now()) {
    const blocked = (reason, message, substatus) => {
      this.stats.refused++;
      return { ok: false, status: 401, substatus, reason, message: `Request blocked by Auth ${account} : ${message}` };
    };
    const accepted = [...audiences, 'https://cosmos.azure.com', ...this.extraAudiences];
    let v;
    try {
      v = verifyJwt(token, { keyFor: (h) => this.keys.get(h.kid) ?? null, now, skewSec: this.skewSec });
    } catch (e) {
      if (!(e instanceof JwtError)) throw e;
      switch (e.reason) {
        case 'expired': {
          const exp = decodeJwt(token).payload.exp;
          return blocked('aad_expired', `Provided AAD token has been expired since [${when(exp)}]. Current server time is [${when(now / 1000)}]. Please refresh the AAD token.`);
        }
        case 'not_yet_valid':
          return blocked('aad_not_yet_valid', `Provided AAD token is not yet valid (nbf ${when(decodeJwt(token).payload.nbf)}). Current server time is [${when(now / 1000)}].`);
        case 'unknown_kid':
          return blocked('aad_unknown_key', 'The AAD token is signed by a key that is not published by its issuer.');
        case 'bad_signature':
          return blocked('aad_bad_signature', 'The AAD token signature could not be validated.');
        default:
          return blocked('aad_malformed', `The AAD token is malformed (${e.message}).`);
      }
    }
    const c = v.payload;
    const aud = [].concat(c.aud ?? []);
    if (!aud.some((a) => accepted.includes(a) || accepted.includes(String(a).replace(/\/+$/, '')))) {
      return blocked('aad_audience', `Provided AAD token is intended for [${aud.join(', ')}]. This database account accepts tokens intended for [${accepted.join(', ')}].`, 5008);
    }
    if (!this.issuers().includes(c.iss)) return blocked('aad_issuer', `The AAD token issuer [${c.iss}] is not trusted for this database account.`);
    if (c.tid !== this.tenantId) return blocked('aad_tenant', `The AAD token is issued by tenant [${c.tid}]; this database account belongs to tenant [${this.tenantId}].`);
    if (!c.oid) return blocked('aad_no_oid', 'The AAD token carries no oid claim.');
    this.stats.verified++;
    return { ok: true, principal: c.oid, claims: c };
  }

  /** The data-plane RBAC check: null when allowed, else the 403/5301 error fields. */
  authorize(principal, actions, account, scope) {
    if (!this.roles) return null;
    const r = this.roles[principal];
    const held = r === undefined ? [] : Array.isArray(r) ? r : ROLES[r] ?? [];
    const missing = actions.find((a) => !granted(held, a));
    if (!missing) return null;
    return {
      status: 403,
      substatus: 5301,
      message: `Request blocked by Auth ${account} : Request is blocked because principal [${principal}] does not have required RBAC permissions to perform action [${missing}] on resource [${scope}]. ${RBAC_LEARN_MORE}`,
    };
  }
}
