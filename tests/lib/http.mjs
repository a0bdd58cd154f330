// One raw HTTP(S) exchange for the test-world servers' own tests (tests/simulator, tests/idp): no
// dependencies, no agent (every call its own connection), the whole answer buffered. Callers build
// the headers (signatures, forms); this only sends and reads.

import http from 'node:http';
import https from 'node:https';

/**
 * @param {{url: string|URL, path?: string, method: string, headers?: object, payload?: Buffer,
 *   ca?: Buffer}} o   `path` (with its query) overrides the URL's path and query.
 * @returns {Promise<{status: number, headers: object, text: string, json: any}>} `json` is
 *   undefined when the body is empty or not JSON.
 */
export function exchange(o) {
  const u = new URL(o.url);
  const headers = { ...(o.headers || {}) };
  if (o.payload) headers['content-length'] = String(o.payload.length);
  const mod = u.protocol === 'https:' ? https : http;
  const target = { hostname: u.hostname, port: u.port, path: o.path ?? u.pathname + u.search };
  return new Promise((resolve, reject) => {
    const req = mod.request({ ...target, method: o.method, headers, ca: o.ca, agent: false }, (res) => {
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
    });
    req.on('error', reject);
    if (o.payload) req.write(o.payload);
    req.end();
  });
}
