#!/usr/bin/env node
// Starts the Cosmos simulator as a process for the Java, Python and Go harnesses. When ready it
// prints ONE JSON line on stdout: {"endpoint","key","regions":[{name,endpoint,port}],"caFile","tls",
// "adminUrl","pid"}, then serves until SIGTERM or SIGINT (exit 0) or until stdin closes with
// --exit-on-stdin-close. Usage:
//   node tests/simulator/bin/simulator.mjs [--port N] [--partitions N] [--regions "West US,East US"]
//       [--no-tls] [--key BASE64] [--dir DIR] [--date-window-ms N] [--exit-on-stdin-close]
//       [--global-endpoint] [--multi-write] [--aad-authority URL --aad-tenant ID [--aad-ca FILE]
//       [--aad-roles JSON]] [--disable-local-auth]
// --aad-* accept Entra ID tokens (type=aad) issued by that authority (tests/idp) for that tenant;
// --aad-roles '{"<oid>":"reader"|"contributor"|[actions]}' limits principals (absent: all of the
// tenant are contributors); --disable-local-auth refuses key signatures.
// --global-endpoint adds a listener that serves as the current write region ("globalEndpoint" in
// the JSON line); --multi-write makes every region writable. Failover: POST /_sim/failover.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { startSimulator } from '../lib/server.mjs';
import { announceAndServe } from '../../lib/serve.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    partitions: { type: 'string', default: '3' },
    regions: { type: 'string' },
    'no-tls': { type: 'boolean', default: false },
    key: { type: 'string' },
    dir: { type: 'string' },
    'date-window-ms': { type: 'string' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
    'global-endpoint': { type: 'boolean', default: false },
    'multi-write': { type: 'boolean', default: false },
    'aad-authority': { type: 'string' },
    'aad-tenant': { type: 'string' },
    'aad-ca': { type: 'string' },
    'aad-roles': { type: 'string' },
    'disable-local-auth': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'simulator.mjs [--port N] [--partitions N] [--regions "A,B"] [--no-tls] [--key BASE64] [--dir DIR] [--date-window-ms N] [--exit-on-stdin-close] [--global-endpoint] [--multi-write] [--aad-authority URL --aad-tenant ID [--aad-ca FILE] [--aad-roles JSON]] [--disable-local-auth]\n',
  );
  process.exit(0);
}

const sim = await startSimulator({
  port: Number(values.port),
  partitions: Number(values.partitions),
  regions: values.regions ? values.regions.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  tls: !values['no-tls'],
  key: values.key,
  dir: values.dir,
  dateWindowMs: values['date-window-ms'] ? Number(values['date-window-ms']) : undefined,
  globalEndpoint: values['global-endpoint'],
  multipleWriteLocations: values['multi-write'],
  aad: values['aad-authority']
    ? {
        authorityHost: values['aad-authority'],
        tenantId: values['aad-tenant'],
        ca: values['aad-ca'] ? fs.readFileSync(values['aad-ca']) : undefined,
        roles: values['aad-roles'] ? JSON.parse(values['aad-roles']) : undefined,
      }
    : undefined,
  disableLocalAuth: values['disable-local-auth'],
});

announceAndServe(
  {
    endpoint: sim.endpoint,
    key: sim.key,
    regions: sim.regions,
    caFile: sim.caFile ?? null,
    tls: sim.tls,
    adminUrl: `${sim.endpoint}_sim/`,
    ...(sim.globalEndpoint ? { globalEndpoint: sim.globalEndpoint } : {}),
    pid: process.pid,
  },
  () => sim.stop(),
  { exitOnStdinClose: values['exit-on-stdin-close'] },
);
