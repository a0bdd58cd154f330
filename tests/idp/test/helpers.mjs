// Raw HTTP(S) calls for the identity provider's tests (no dependencies).

import { exchange } from '../../lib/http.mjs';

/**
 * @param {string} url
 * @param {{method?: string, headers?: object, form?: object, json?: unknown, ca?: Buffer}} [o]
 * @returns {Promise<{status: number, headers: object, text: string, json: any}>}
 */
export function request(url, o = {}) {
  const u = new URL(url);
  const headers = { ...(o.headers || {}) };
  let payload;
  if (o.form) {
    payload = Buffer.from(new URLSearchParams(o.form).toString());
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (o.json !== undefined) {
    payload = Buffer.from(JSON.stringify(o.json));
    headers['content-type'] ??= 'application/json';
  }
  return exchange({ url: u, method: o.method ?? (payload ? 'POST' : 'GET'), headers, payload, ca: o.ca });
}

/** The claims of a JWT (no verification). */
export const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
export const headerOf = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
