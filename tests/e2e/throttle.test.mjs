// Per-client throttling (proxy/throttle.h, docs/OPERATIONS.md "Throttling"):
//   rate: {requests_per_second, burst}  -> 429 throttle.rate with x-ms-retry-after-ms, and the
//                                          real SDK retries by itself until all work is done
//   max_in_flight                       -> 429 throttle.in_flight (scripted upstream holding a
//                                          request, so "in flight" is exact)
// Throttled requests never reach the upstream. The upstream's own 429 passing through unchanged
// (and not retried) is covered by faults.test.mjs ("429, retries and writes (T34)").

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { startFaultStack } from './lib/fault-stack.mjs';
import { httpResponse } from './lib/scripted-upstream.mjs';
import { request } from './lib/raw.mjs';
import { assertLocalError } from './lib/expect.mjs';
import { metricNow, sdkStatus } from './lib/ops.mjs';

describe('throttling: rate (token bucket) with the real SDK', () => {
  let s;
  before(async () => {
    s = await startStack({
      name: 'throttle-rate',
      clients: [
        { name: 'slow', rate: { requests_per_second: 5, burst: 5 } },
        { name: 'free' },
      ],
      extra: { workers: 2 },
    });
    const { database } = await s.direct().databases.createIfNotExists({ id: 'shop' });
    const { container } = await database.containers.createIfNotExists({ id: 'orders', partitionKey: { paths: ['/pk'] } });
    for (let i = 0; i < 30; i++) await container.items.create({ id: `o${i}`, pk: 'p', i });
  });
  after(async () => {
    s?.front.assertClean();
    await s?.stop();
  });

  const docPath = (i) => `dbs/shop/colls/orders/docs/o${i}`;

  test('a burst of raw requests over the bucket: some 429 throttle.rate with x-ms-retry-after-ms, those never reach the upstream', async () => {
    await sleep(1100); // a full bucket
    const m = await s.front.quiesce();
    const rs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        request({ url: `${s.proxy.url}${docPath(i)}`, key: s.clientKeys.slow, ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } }),
      ),
    );
    const ok = rs.filter((r) => r.status === 200);
    const throttled = rs.filter((r) => r.status === 429);
    assert.equal(ok.length + throttled.length, rs.length, `statuses: ${rs.map((r) => r.status)}`);
    // burst 5, plus one token per 200 ms while the 12 connections are being set up
    assert.ok(ok.length >= 5 && ok.length <= 10, `burst 5: ${ok.length} succeeded (statuses ${rs.map((r) => r.status)})`);
    assert.ok(throttled.length >= 2, `${throttled.length} throttled`);
    for (const r of throttled) {
      const j = assertLocalError(r, 429, 'throttle.rate', 'over the rate');
      assert.match(j.message, /'slow'/);
      const after = Number(r.headers['x-ms-retry-after-ms']);
      assert.ok(Number.isInteger(after) && after >= 1 && after <= 1000, `x-ms-retry-after-ms ${r.headers['x-ms-retry-after-ms']}`);
    }
    const reached = s.front.since(m).requests.filter((q) => q.url.includes('/docs/o'));
    assert.equal(reached.length, ok.length, 'only the admitted requests reached the upstream');
    // Another client is not affected by slow's empty bucket.
    const other = await request({ url: `${s.proxy.url}${docPath(0)}`, key: s.clientKeys.free, ca: s.pki.ca, headers: { 'x-ms-documentdb-partitionkey': '["p"]' } });
    assert.equal(other.status, 200, 'the unlimited client');
  });

  test('30 SDK point reads at 5/s: raw 429s happen, the SDK retries by itself, every read succeeds', async () => {
    const c = s.client('slow');
    const k = c.database('shop').container('orders');
    await sleep(1100);
    const before = await metricNow(s.proxy, 'cosmoseal_throttled_total', { client: 'slow', reason: 'rate' });
    const m = await s.front.quiesce();
    const t0 = Date.now();
    const results = [];
    for (let i = 0; i < 30; i++) {
      const r = await sdkStatus(k.item(`o${i}`, 'p').read());
      results.push({ i, status: r.status, got: r.res?.resource?.i, msg: r.message });
    }
    const ms = Date.now() - t0;
    const failed = results.filter((r) => r.status !== 200 || r.got !== r.i);
    assert.deepEqual(failed, [], `reads that failed: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.equal(results.length, 30);
    const throttled = (await metricNow(s.proxy, 'cosmoseal_throttled_total', { client: 'slow', reason: 'rate' })) - before;
    assert.ok(throttled >= 5, `cosmoseal answered ${throttled} requests with 429 throttle.rate during the SDK run`);
    const reads = s.front.since(m).requests.filter((q) => q.method === 'GET' && /\/docs\/o\d+$/.test(q.url));
    assert.equal(reads.length, 30, 'each read reached the upstream exactly once (429s never do)');
    // 30 requests (plus the SDK's own metadata reads) at 5/s with a burst of 5: at least ~4 s.
    assert.ok(ms >= 3500, `the rate was not enforced: 30 reads in ${ms} ms`);
    console.log(`# throttle.rate: 30 SDK reads in ${ms} ms, ${throttled} raw 429s retried by the SDK`);
  });
});

describe('throttling: max_in_flight (scripted upstream holds the request)', () => {
  let s;
  before(async () => {
    s = await startFaultStack({
      name: 'throttle-inflight',
      clients: [{ name: 'app', max_in_flight: 1 }, { name: 'other' }],
      upstreamExtra: { response_timeout: '5s' },
    });
  });
  after(async () => {
    await s?.stop();
  });

  test('max_in_flight 1: while one request is in flight, concurrent ones get 429 throttle.in_flight and never reach the upstream; afterwards the next one is admitted', async () => {
    let release;
    const held = new Promise((r) => (release = r));
    s.up.handler = async (req, conn) => {
      if (req.target.endsWith('/held')) await held;
      conn.write(httpResponse(200, { headers: { 'Content-Type': 'application/json' }, body: '{"ok":true}' }));
    };
    const first = await s.open();
    first.write(s.req({ path: '/dbs/shop/colls/c1/docs/held' }));
    assert.ok(await s.up.waitFor(() => s.up.requests.length === 1, 3000), 'the first request reached the upstream');

    const conns = await Promise.all([0, 1, 2, 3].map(() => s.open()));
    for (const [i, c] of conns.entries()) c.write(s.req({ path: `/dbs/shop/colls/c1/docs/extra${i}` }));
    const rs = await Promise.all(conns.map((c) => c.response(3000)));
    for (const r of rs) {
      assert.ok(r, 'a response');
      const j = assertLocalError(r, 429, 'throttle.in_flight', 'second concurrent request');
      assert.match(j.message, /max_in_flight 1/);
      assert.ok(Number(r.headers['x-ms-retry-after-ms']) >= 1, `x-ms-retry-after-ms ${r.headers['x-ms-retry-after-ms']}`);
    }
    assert.equal(s.up.requests.length, 1, 'throttled requests reached the upstream');

    // Another client is not limited by app's slot.
    const o = await s.open();
    o.write(s.req({ path: '/dbs/shop/colls/c1/docs/o1', key: s.clientKeys.other }));
    assert.equal((await o.response(3000))?.status, 200, 'other client');

    release();
    const r1 = await first.response(3000);
    assert.equal(r1?.status, 200, 'the held request completes');
    await sleep(200);
    // The slot is free again: the same (keep-alive) connections work.
    conns[0].write(s.req({ path: '/dbs/shop/colls/c1/docs/after' }));
    const after = await conns[0].response(3000);
    assert.equal(after?.status, 200,
      `a request on another connection 200 ms after the held request completed got ${after?.status} ${after?.headers?.['x-cosmoseal-detail']}: ` +
      'the in-flight slot is still held while the finished request\'s keep-alive connection is idle');
    assert.equal(await metricNow(s.proxy, 'cosmoseal_throttled_total', { client: 'app', reason: 'in_flight' }), 4);
  });
});
