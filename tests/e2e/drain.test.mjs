// SIGTERM with idle keep-alive connections whose last response was a refusal (401 / 403 / 429,
// answered by cosmoseal itself): the drain must close them at once, like any other idle
// keep-alive connection (lifecycle.test.mjs checks that for a forwarded response), and the
// process must exit promptly with 0 instead of waiting for timeouts.drain.
// Found while writing the operations tests: an SDK client whose key was rotated out kept its
// connection after the 401 and held the drain for the full timeouts.drain.

import assert from 'node:assert/strict';
import { describe, test, afterEach } from 'node:test';
import { startFaultStack, since } from './lib/fault-stack.mjs';
import { httpResponse } from './lib/scripted-upstream.mjs';
import { waitExit } from './lib/procs.mjs';
import { randomKey } from './lib/keys.mjs';

const DRAIN_MS = 4000;

describe('drain: idle connections after a local refusal', () => {
  let s;
  afterEach(async () => {
    await s?.stop({ checkExit: false });
    s = null;
  });

  const cases = [
    ['forwarded 200 (control)', (st) => st.req(), 200],
    ['401 auth.bad_signature', (st) => st.req({ key: randomKey() }), 401],
    ['403 rules.denied', (st) => st.req({ path: '/dbs/other/colls/c1/docs/d1' }), 403],
    ['429 throttle.rate', (st) => st.req({ key: st.clientKeys.slow }), 429, true],
  ];
  for (const [name, make, status, twice] of cases) {
    test(`after a ${name} on a keep-alive connection, SIGTERM closes it and cosmoseal exits 0 promptly`, async () => {
      s = await startFaultStack({
        name: 'drain-refusal',
        clients: [{ name: 'app' }, { name: 'slow', rate: { requests_per_second: 1, burst: 1 } }],
        extra: { timeouts: { drain: `${DRAIN_MS}ms` } },
      });
      s.up.handler = (req, conn) => conn.write(httpResponse(200, { headers: { 'Content-Type': 'application/json' }, body: '{}' }));
      const c = await s.open();
      if (twice) {
        c.write(make(s));
        assert.ok(await c.response(3000));
      }
      c.write(make(s));
      const r = await c.response(3000);
      assert.equal(r?.status, status, r?.rawHead);
      assert.notEqual(String(r.headers.connection).toLowerCase(), 'close', 'keep-alive after the response');
      const t0 = performance.now();
      s.proxy.child.kill('SIGTERM');
      const closed = await c.waitClosed(1500);
      const ex = await waitExit(s.proxy.child, DRAIN_MS + 3000);
      const ms = since(t0);
      const what = `after a ${name}: idle connection closed within 1.5 s: ${closed}; exit ${JSON.stringify(ex)} ` +
        `${ms} ms after SIGTERM (timeouts.drain ${DRAIN_MS} ms)\n${s.proxy.logTail(4)}`;
      assert.ok(closed, what);
      assert.deepEqual(ex, { code: 0, signal: null }, what);
      assert.ok(ms < 1500, what);
    });
  }
});
