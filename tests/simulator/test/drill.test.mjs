// The failover drill (tests/sdk/lib/failover-drill.mjs) straight against the simulator: the real
// @azure/cosmos SDK keeps writing and reading through a write-region failover. Through cosmoseal
// it is run by hand (it needs the binary; README.md "Failover drill").

import test from 'node:test';
import assert from 'node:assert/strict';
import { runDrill, formatDrill } from '../../sdk/lib/failover-drill.mjs';

test('failover drill, direct: no failed request, writes move to the new write region within 5 s', async (t) => {
  const r = await runDrill({ via: 'direct', scenario: 'failover', durationMs: 7000, failoverAtMs: 2500 });
  for (const line of formatDrill(r).split('\n')) t.diagnostic(line);
  const s = r.summary;
  assert.equal(s.writesFailed + s.readsFailed, 0, 'the SDK retried the 403/3 on the new write region');
  assert.ok(s.recoveryMs !== null && s.recoveryMs < 5000, `recovery ${s.recoveryMs} ms`);
  assert.ok(s.writesOkAfterFailover > 10);
  const after = r.timeline.filter((row) => row.s * 1000 > r.failoverAtMs + s.recoveryMs + 1000);
  assert.ok(after.length > 0 && after.every((row) => row.upstreamWrites.WU === 0), 'no write reaches the old write region once recovered');
  assert.ok(r.timeline.every((row) => row.upstreamReads.WU === 0), 'reads stay in the preferred region');
});

test('outage drill, direct, with a 1.5 s account refresh: writes recover through the global endpoint', async (t) => {
  const r = await runDrill({ via: 'direct', scenario: 'outage', durationMs: 7000, failoverAtMs: 2500, endpointRefreshMs: 1500 });
  for (const line of formatDrill(r).split('\n')) t.diagnostic(line);
  assert.equal(r.summary.readsFailed, 0, 'reads were in the other region');
  assert.ok(r.summary.recoveryMs !== null && r.summary.recoveryMs < 4000, `recovery ${r.summary.recoveryMs} ms`);
});
