// Raw HTTP(S) calls for the identity provider's tests (no dependencies).

import http from 'node:http';
import https from 'node:https';

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
  if (payload) headers['content-length'] = String(payload.length);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      { hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? (payload ? 'POST' : 'GET'), headers, ca: o.ca, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** The claims of a JWT (no verification). */
export const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
export const headerOf = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
