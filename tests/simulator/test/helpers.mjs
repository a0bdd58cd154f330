// Raw signed requests to a simulator, for tests that need exact control of paths and headers.

import { exchange } from '../../lib/http.mjs';
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
  }
  if (o.sign !== false) {
    Object.assign(headers, signedHeaders({ method, path: o.signPath ?? o.path, key: o.key ?? sim.key, date: o.date, ridBased: o.ridBased }), o.headersAfterSign || {});
  }
  return exchange({ url, path: o.path, method, headers, payload, ca: sim.ca });
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
