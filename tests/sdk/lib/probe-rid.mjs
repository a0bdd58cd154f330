// Probe for gap J1 (tests/sdk/README.md): what cosmoseal answers to RID-addressed requests like
// the Java SDK's, signed over the lowercased RID (as Java and .NET do), the RID as is, or the path,
// with and without a policy on the container. Prints one line per request: status and detail.
//   COSMOSEAL_BIN=build/proxy/cosmoseal node tests/sdk/lib/probe-rid.mjs
import { startStack } from '../../e2e/lib/stack.mjs';
import { makeKeyring } from '../../e2e/lib/enc.mjs';
import { request } from '../../e2e/lib/raw.mjs';
import { computeSignature, authorizationHeader } from '../../e2e/lib/auth.mjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-probe-rid-'));
const keys = await makeKeyring(dir, ['pii']);
for (const withPolicy of [true, false]) {
  const stack = await startStack({ dir: dir + (withPolicy ? '/p' : '/n'), keys, policies: withPolicy ? [{ database: 'shop', container: 'c', partition_key: '/tenant', fields: [{ path: '/ssn', mode: 'deterministic', key: 'pii' }] }] : [] });
  const client = stack.client('app');
  const { database } = await client.databases.createIfNotExists({ id: 'shop' });
  const { container, resource } = await database.containers.createIfNotExists({ id: 'c', partitionKey: { paths: ['/tenant'] } });
  await container.items.create({ id: 'a', tenant: 't', ssn: 'SSN-probe-1234' });
  const dbRid = (await database.read()).resource._rid;
  const collRid = resource._rid;
  const key = stack.clientKeys.app;
  const date = new Date().toUTCString();
  const probes = [
    ['GET', `/dbs/${dbRid}/colls/${collRid}/pkranges`, 'pkranges', collRid.toLowerCase(), 'rid-lowercased (Java)'],
    ['GET', `/dbs/${dbRid}/colls/${collRid}/pkranges`, 'pkranges', collRid, 'rid as is'],
    ['GET', `/dbs/${dbRid}/colls/${collRid}/pkranges`, 'pkranges', `dbs/${dbRid}/colls/${collRid}`, 'path'],
    ['GET', `/dbs/${dbRid}/colls/${collRid}`, 'colls', collRid.toLowerCase(), 'rid-lowercased (Java)'],
    ['GET', `/dbs/${dbRid}/colls/${collRid}/docs/a`, 'docs', `dbs/${dbRid}/colls/${collRid}/docs/a`, 'path'],
  ];
  for (const [method, path, type, link, how] of probes) {
    const sig = computeSignature(key, method, type, link, date);
    const r = await request({ url: `${stack.proxy.url}${path.slice(1)}`, method, ca: stack.pki.ca, headers: { authorization: authorizationHeader(sig), 'x-ms-date': date, 'x-ms-version': '2020-07-15', 'x-ms-documentdb-partitionkey': '["t"]' } });
    console.log(`${withPolicy ? 'policy' : 'no-policy'} ${method} ${path} signed over ${how}: ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''}`);
  }
  // Name-addressed requests shaped like Java's bulk (operations carry minimalReturnPreference) and
  // like its query compatibility mode (Content-Type: application/sql, the SQL text as the body).
  const shaped = [
    ['bulk with minimalReturnPreference (Java)', { 'x-ms-cosmos-is-batch-request': 'True', 'x-ms-cosmos-batch-atomic': 'False', 'x-ms-cosmos-batch-continue-on-error': 'True', 'x-ms-documentdb-partitionkeyrangeid': '0', 'content-type': 'application/json' },
      JSON.stringify([{ operationType: 'Create', partitionKey: '["t"]', minimalReturnPreference: true, resourceBody: { id: 'b', tenant: 't', ssn: 'SSN-probe-5678' } }])],
    ['query as application/sql (Java compatibility mode)', { 'x-ms-documentdb-isquery': 'True', 'x-ms-documentdb-query-enablecrosspartition': 'True', 'content-type': 'application/sql' },
      "SELECT * FROM c WHERE c.ssn = 'SSN-probe-1234'"],
  ];
  for (const [how, headers, body] of shaped) {
    const sig = computeSignature(key, 'POST', 'docs', 'dbs/shop/colls/c', date);
    const r = await request({ url: `${stack.proxy.url}dbs/shop/colls/c/docs`, method: 'POST', ca: stack.pki.ca, body, headers: { authorization: authorizationHeader(sig), 'x-ms-date': date, 'x-ms-version': '2020-07-15', ...headers } });
    console.log(`${withPolicy ? 'policy' : 'no-policy'} POST /dbs/shop/colls/c/docs ${how}: ${r.status} ${r.headers['x-cosmoseal-detail'] ?? ''}`);
  }
  await stack.stop({ keep: false });
}
fs.rmSync(dir, { recursive: true, force: true });
