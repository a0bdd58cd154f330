// Raw signed requests to a simulator, for tests that need exact control of paths and headers.

import https from 'node:https';
import http from 'node:http';
import { signedHeaders } from '../lib/auth.mjs';

/**
 * @param {{endpoint: string, key: string, ca?: Buffer}} sim
 * @param {{method?: string, path: string, body?: unknown, headers?: object, key?: string,
 *   date?: Date|string, ridBased?: boolean, sign?: boolean, endpoint?: string}} o
 * @returns {Promise<{status: number, headers: object, text: string, json: any}>}
 */
export function call(sim, o) {
  const method = o.method ?? 'GET';
  const url = new URL(o.endpoint ?? sim.endpoint);
  let payload;
  const headers = { ...(o.headers || {}) };
  if (o.body !== undefined) {
    payload = Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (o.sign !== false) {
    Object.assign(headers, signedHeaders({ method, path: o.signPath ?? o.path, key: o.key ?? sim.key, date: o.date, ridBased: o.ridBased }), o.headersAfterSign || {});
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({ hostname: url.hostname, port: url.port, path: o.path, method, headers, ca: sim.ca, agent: false }, (res) => {
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
    if (payload) req.write(payload);
    req.end();
  });
}

/** Creates a database and a collection; returns their JSON. */
export async function makeCollection(sim, { db = 'db1', coll = 'c1', partitionKey = { paths: ['/pk'], kind: 'Hash', version: 2 } } = {}) {
  const d = await call(sim, { method: 'POST', path: '/dbs', body: { id: db } });
  if (d.status !== 201 && d.status !== 409) throw new Error(`create db: ${d.status} ${d.text}`);
  const c = await call(sim, { method: 'POST', path: `/dbs/${encodeURIComponent(db)}/colls`, body: { id: coll, partitionKey } });
  if (c.status !== 201) throw new Error(`create coll: ${c.status} ${c.text}`);
  const dbJson = (await call(sim, { path: `/dbs/${encodeURIComponent(db)}` })).json;
  return { db: dbJson, coll: c.json };
}

export const pkHeader = (...values) => ({ 'x-ms-documentdb-partitionkey': JSON.stringify(values) });
