// Compact JWS (RFC 7515) / JWT (RFC 7519) on node:crypto: what the test identity provider signs
// (RS256), and what the Cosmos simulator and the tests verify. Deliberately small: RS256, and PS256
// where a caller allows it (MSAL signs certificate assertions with PS256); any other `alg`, `none`
// included, is refused; no JWE.

import crypto from 'node:crypto';

export const b64url = (buf) => Buffer.from(buf).toString('base64url');
export const b64urlJson = (obj) => b64url(JSON.stringify(obj));

/** A fresh RSA-2048 signing key with a random `kid` (Entra's kids are opaque base64url strings). */
export function newSigningKey(kid = crypto.randomBytes(15).toString('base64url')) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey, createdAt: Date.now() };
}

/** The public JWK of a signing key, as a JWKS lists it (kty, use, kid, x5t, n, e). */
export function publicJwk(key, extra = {}) {
  const { n, e } = key.publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', use: 'sig', kid: key.kid, x5t: key.kid, n, e, ...extra };
}

/** Signs `payload` with RS256; `header` adds fields (kid is taken from `key`). */
export function signJwt(payload, key, header = {}) {
  const h = { typ: 'JWT', alg: 'RS256', ...(key.kid ? { kid: key.kid } : {}), ...header };
  const input = `${b64urlJson(h)}.${b64urlJson(payload)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${b64url(sig)}`;
}

export class JwtError extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

/** Splits and parses a compact JWT without verifying it. Throws JwtError('malformed'). */
export function decodeJwt(token) {
  if (typeof token !== 'string') throw new JwtError('malformed', 'the token is not a string');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) {
    throw new JwtError('malformed', 'the token is not a compact JWS (three base64url parts)');
  }
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed', 'the token header or payload is not JSON');
  }
  if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new JwtError('malformed', 'the token header or payload is not a JSON object');
  }
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
}

/** A KeyObject for a JWK (RSA public key) or a PEM string / KeyObject as given. */
export function keyObjectOf(k) {
  if (k instanceof crypto.KeyObject) return k;
  if (typeof k === 'string' || Buffer.isBuffer(k)) return crypto.createPublicKey(k);
  return crypto.createPublicKey({ key: { kty: k.kty, n: k.n, e: k.e }, format: 'jwk' });
}

/**
 * Verifies an RS256 JWT.
 * @param {string} token
 * @param {object} o
 * @param {(header: object) => (crypto.KeyObject|object|null)} o.keyFor the verification key for a
 *   header (by kid / x5t); null: no such key (reason 'unknown_kid')
 * @param {number} [o.now] ms
 * @param {number} [o.skewSec=0] tolerance on exp / nbf / iat
 * @param {string|string[]} [o.audience] accepted aud values (any of)
 * @param {string|string[]} [o.issuer] accepted iss values
 * @param {boolean} [o.requireExp=true]
 * @param {string[]} [o.algorithms=['RS256']] accepted `alg` values (RS256, PS256)
 * @returns {{header: object, payload: object}}
 * @throws JwtError with reason malformed | bad_alg | unknown_kid | bad_signature | expired |
 *   not_yet_valid | bad_audience | bad_issuer
 */
export function verifyJwt(token, { keyFor, now = Date.now(), skewSec = 0, audience, issuer, requireExp = true, algorithms = ['RS256'] } = {}) {
  const { header, payload, signingInput, signature } = decodeJwt(token);
  if (!algorithms.includes(header.alg) || !['RS256', 'PS256'].includes(header.alg)) {
    throw new JwtError('bad_alg', `the token algorithm ${JSON.stringify(header.alg)} is not ${algorithms.join(' or ')}`);
  }
  const key = keyFor(header);
  if (!key) throw new JwtError('unknown_kid', `no signing key ${JSON.stringify(header.kid ?? header.x5t)} is known`);
  let ok = false;
  try {
    const k = keyObjectOf(key);
    const pss = { key: k, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST };
    ok = crypto.verify('sha256', Buffer.from(signingInput), header.alg === 'PS256' ? pss : k, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError('bad_signature', 'the token signature does not verify');
  const t = now / 1000;
  if (requireExp && typeof payload.exp !== 'number') throw new JwtError('expired', 'the token has no exp');
  if (typeof payload.exp === 'number' && t > payload.exp + skewSec) {
    throw new JwtError('expired', `the token expired at ${new Date(payload.exp * 1000).toISOString()}`);
  }
  if (typeof payload.nbf === 'number' && t + skewSec < payload.nbf) {
    throw new JwtError('not_yet_valid', `the token is not valid before ${new Date(payload.nbf * 1000).toISOString()}`);
  }
  if (audience !== undefined) {
    const want = [].concat(audience);
    const got = [].concat(payload.aud ?? []);
    if (!got.some((a) => want.includes(a))) throw new JwtError('bad_audience', `the token audience ${JSON.stringify(payload.aud)} is not one of ${JSON.stringify(want)}`);
  }
  if (issuer !== undefined && ![].concat(issuer).includes(payload.iss)) {
    throw new JwtError('bad_issuer', `the token issuer ${JSON.stringify(payload.iss)} is not accepted`);
  }
  return { header, payload };
}

/** SHA-1 and SHA-256 thumbprints (base64url) of a PEM certificate: the x5t / x5t#S256 of an assertion. */
export function certThumbprints(pem) {
  const x = new crypto.X509Certificate(pem);
  return {
    x5t: crypto.createHash('sha1').update(x.raw).digest('base64url'),
    x5tS256: crypto.createHash('sha256').update(x.raw).digest('base64url'),
    publicKey: x.publicKey,
  };
}
