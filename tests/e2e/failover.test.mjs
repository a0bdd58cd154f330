// The failover drill (tests/sdk/lib/failover-drill.mjs, issue 15 item 7) through the built cosmoseal
// with listen.region_ports: the real @azure/cosmos SDK keeps writing (and reading from its preferred
// region) while the simulator's write region moves. With one cosmoseal port per region the SDK must
// behave as it does against the account directly (tests/simulator/test/drill.test.mjs): no failed
// request, writes on the new write region within 5 s, reads never on the old one. Without region
// ports the same drill never recovers (every region collapses to upstream.endpoint, whose warm
// connections keep reaching the old write region): docs/OPERATIONS.md "Regions".

import test from 'node:test';
import assert from 'node:assert/strict';
import { runDrill, formatDrill } from '../sdk/lib/failover-drill.mjs';

test('failover drill through cosmoseal with region ports: no failed request, recovery within 5 s', async (t) => {
  const r = await runDrill({
    via: 'cosmoseal', scenario: 'failover', durationMs: 8000, failoverAtMs: 2500, regionPorts: 'auto',
  });
  for (const line of formatDrill(r).split('\n')) t.diagnostic(line);
  const s = r.summary;
  assert.equal(s.writesFailed + s.readsFailed, 0, 'the SDK retried the 403/3 on the new write region, through cosmoseal');
  assert.ok(s.recoveryMs !== null && s.recoveryMs < 5000, `recovery ${s.recoveryMs} ms`);
  assert.ok(s.writesOkAfterFailover > 10, `${s.writesOkAfterFailover} writes after the failover`);
  const after = r.timeline.filter((row) => row.s * 1000 > r.failoverAtMs + s.recoveryMs + 1000);
  assert.ok(after.length > 0 && after.every((row) => row.upstreamWrites.WU === 0),
    'no write reaches the old write region once recovered');
  assert.ok(r.timeline.every((row) => row.upstreamReads.WU === 0), 'reads stay in the preferred region');
});

test('outage drill through cosmoseal with region ports and a 1.5 s account refresh: writes recover', async (t) => {
  const r = await runDrill({
    via: 'cosmoseal', scenario: 'outage', durationMs: 8000, failoverAtMs: 2500, regionPorts: 'auto',
    endpointRefreshMs: 1500,
  });
  for (const line of formatDrill(r).split('\n')) t.diagnostic(line);
  assert.equal(r.summary.readsFailed, 0, 'reads were in the other region');
  assert.ok(r.summary.recoveryMs !== null && r.summary.recoveryMs < 4000, `recovery ${r.summary.recoveryMs} ms`);
});
