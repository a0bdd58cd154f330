// Is limits.max_buffered_bytes (the global budget for buffered bodies, docs/CONFIG.md; DESIGN.md
// §4: "over budget -> 503, never a crash") enforced? The Kubernetes sizing depends on it: the
// manifests set it to at most half the container's memory limit so that a burst of large
// protected requests gets 503s instead of an OOM kill of the sidecar.
//
// Setup: limits {max_body_bytes: 256KiB, max_buffered_bytes: 1MiB}; 8 connections each send the
// head and 200 KiB of a 250 KiB protected create (POST .../docs), then hold. 1.6 MiB would be
// buffered against a 1 MiB budget: expected, at least 3 of them are refused (503) before their
// bodies complete, and none of the bytes reach the account.
// The refused ones are answered at once with 503 overload.buffer_budget and closed (their
// bodies are never read); when the held connections go away, the budget is whole again
// (cosmoseal_buffered_bytes back to 0) and normal requests pass.
//
//   node tests/k8s/buffer-budget.test.mjs

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './lib/kube.mjs';
import { cosmosealBin } from './lib/sys.mjs';

process.env.COSMOSEAL_BIN = cosmosealBin();
if (!fs.existsSync(path.join(REPO_ROOT, 'tests', 'e2e', 'node_modules', '@azure', 'cosmos'))) {
  console.error('the e2e node modules are missing: run scripts/install-deps.sh');
  process.exit(1);
}
const { startStack } = await import('../e2e/lib/stack.mjs');
const { makeKeyring } = await import('../e2e/lib/enc.mjs');
const { buildRequest } = await import('../e2e/lib/raw.mjs');
const { makeWorkDir } = await import('../e2e/lib/paths.mjs');
const { metricNow, waitFor } = await import('../e2e/lib/ops.mjs');
const { request } = await import('../e2e/lib/raw.mjs');

let stack;
before(async () => {
  const dir = makeWorkDir('buffer-budget');
  const keys = await makeKeyring(dir, ['pii']);
  stack = await startStack({
    dir,
    tls: false,
    keys,
    policies: [{ database: 'shop', container: 'customers', partition_key: '/customerId', fields: [{ path: '/ssn', mode: 'randomized', key: 'pii' }] }],
    extra: { workers: 1, limits: { max_body_bytes: '256KiB', max_response_body_bytes: '256KiB', max_buffered_bytes: '1MiB' } },
  });
  const { database } = await stack.direct().databases.createIfNotExists({ id: 'shop' });
  await database.containers.createIfNotExists({ id: 'customers', partitionKey: { paths: ['/customerId'] } });
});
after(async () => {
  await stack?.stop({ checkExit: false });
});

test('8 x 200 KiB held protected bodies against a 1 MiB budget: some get 503 before completing', async () => {
  const body = Buffer.from(JSON.stringify({ id: 'a', customerId: 'x', ssn: '123', pad: 'p'.repeat(250 * 1024) }));
  const req = buildRequest({
    method: 'POST',
    path: '/dbs/shop/colls/customers/docs',
    host: `localhost:${stack.proxy.port}`,
    key: stack.clientKeys.app,
    headers: { 'content-type': 'application/json', 'x-ms-documentdb-partitionkey': '["x"]' },
    body,
  });
  const head = req.length - body.length;
  const mark = await stack.front.quiesce();
  const sockets = [];
  const answers = new Array(8).fill('');
  for (let i = 0; i < 8; i++) {
    const s = net.connect(stack.proxy.port, '127.0.0.1');
    s.on('data', (c) => { answers[i] += c.toString('latin1'); });
    s.on('error', () => {});
    s.write(req.subarray(0, head + 200 * 1024));
    sockets.push(s);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1500));
  const refused = answers.filter((a) => /^HTTP\/1\.1 503 /.test(a));
  for (const s of sockets) s.destroy();
  assert.equal(stack.front.since(mark).requests.length, 0, 'nothing may reach the account');
  assert.ok(refused.length >= 3,
    `${refused.length} of 8 connections were refused while holding 1.6 MiB of bodies against limits.max_buffered_bytes: 1MiB ` +
      `(answers: ${JSON.stringify(answers.map((a) => a.split('\r\n')[0] || '(none)'))})`);
  for (const a of refused) {
    assert.match(a, /\r\nx-cosmoseal-detail: overload\.buffer_budget\r\n/i);
    assert.match(a, /\r\nconnection: close\r\n/i);
  }
  // Admitted ones were charged (1 MiB budget, 250 KiB each: at most 4 at a time).
  assert.ok(refused.length <= 5, `only ${8 - refused.length} of 8 admitted: the budget fits 4`);

  // Everything released: the gauge returns to 0 and a normal protected request passes.
  const drained = await waitFor(async () => (await metricNow(stack.proxy, 'cosmoseal_buffered_bytes')) === 0, { timeoutMs: 4000 });
  assert.ok(drained, `cosmoseal_buffered_bytes stays at ${await metricNow(stack.proxy, 'cosmoseal_buffered_bytes')} after the connections closed`);
  const ok = await request({
    url: `${stack.proxy.url}dbs/shop/colls/customers/docs`, method: 'POST', key: stack.clientKeys.app,
    headers: { 'x-ms-documentdb-partitionkey': '["x"]' },
    body: JSON.stringify({ id: 'after', customerId: 'x', ssn: '123-45-6789' }),
  });
  assert.equal(ok.status, 201, ok.text);
  assert.ok(await metricNow(stack.proxy, 'cosmoseal_refusals_total', { detail: 'overload.buffer_budget' }) >= refused.length);
  assert.equal(await metricNow(stack.proxy, 'cosmoseal_buffered_bytes'), 0, 'the finished request released its charge');
});
