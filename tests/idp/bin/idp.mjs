#!/usr/bin/env node
// Starts the test identity provider (tests/idp/README.md) as a process. When ready it writes ONE
// JSON line to stdout (and to --ports-file F when given, written atomically):
//   {"url","authorityHost","port","tenantId","issuer","tokenEndpoint","jwksUri","k8sIssuer",
//    "miUrl","identityEndpoint","identityHeader","adminUrl","caFile","systemIdentity","apps":[...],
//    "pid"}
// then serves until SIGTERM or SIGINT (exit 0), or until stdin closes with --exit-on-stdin-close.
// Usage:
//   node tests/idp/bin/idp.mjs [--port N] [--mi-port N] [--admin-port N] [--ports-file F]
//       [--tenant GUID] [--lifetime SECONDS] [--token-version 1|2] [--no-tls] [--pki-dir DIR]
//       [--dir DIR] [--app JSON]... [--exit-on-stdin-close]
// --pki-dir DIR reuses a CA made by tests/e2e/lib/pki.mjs (DIR holds ca.crt and ca.key): the IdP's
// certificate is issued by it. --app '{"clientId":..,"secret":..,"federatedCredentials":[..]}'
// registers an application (repeatable); without any, one app with a random secret is registered.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startIdp } from '../lib/idp.mjs';
import { announceAndServe } from '../../lib/serve.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'mi-port': { type: 'string', default: '0' },
    'admin-port': { type: 'string', default: '0' },
    'ports-file': { type: 'string' },
    tenant: { type: 'string' },
    lifetime: { type: 'string' },
    'token-version': { type: 'string' },
    'no-tls': { type: 'boolean', default: false },
    'pki-dir': { type: 'string' },
    dir: { type: 'string' },
    app: { type: 'string', multiple: true },
    'exit-on-stdin-close': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'idp.mjs [--port N] [--mi-port N] [--admin-port N] [--ports-file F] [--tenant GUID] [--lifetime S]\n' +
      '        [--token-version 1|2] [--no-tls] [--pki-dir DIR] [--dir DIR] [--app JSON]... [--exit-on-stdin-close]\n' +
      'Admin (plain HTTP, adminUrl): GET state|stats|issued; POST lifetime {seconds}, rotate {keep},\n' +
      '  down {mode: refuse|reset|503, which: all|sts|mi}, up, fail {count,status,error,code,description,clientId},\n' +
      '  apps {...}, managed-identities {...}, sa-token {namespace,serviceAccount,audience,lifetimeSec},\n' +
      '  token-version {version}, delay {ms}, resources {resources}, stats/reset\n',
  );
  process.exit(0);
}

let pki;
if (values['pki-dir']) {
  const dir = values['pki-dir'];
  pki = { dir, caCert: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key') };
  for (const f of [pki.caCert, pki.caKey]) if (!fs.existsSync(f)) throw new Error(`--pki-dir: ${f} is missing`);
}

const apps = (values.app ?? []).map((s) => JSON.parse(s));
const idp = await startIdp({
  port: Number(values.port),
  miPort: Number(values['mi-port']),
  adminPort: Number(values['admin-port']),
  tenantId: values.tenant,
  tokenLifetimeSec: values.lifetime ? Number(values.lifetime) : undefined,
  tokenVersion: values['token-version'] ? Number(values['token-version']) : undefined,
  tls: !values['no-tls'],
  pki,
  dir: values.dir,
  apps: apps.length ? apps : [{ name: 'default', secret: 'default-secret' }],
});

const info = {
  url: idp.url,
  authorityHost: idp.authorityHost,
  port: idp.port,
  tenantId: idp.tenantId,
  issuer: idp.issuer,
  tokenEndpoint: idp.tokenEndpoint,
  jwksUri: idp.jwksUri,
  k8sIssuer: idp.k8sIssuer,
  miUrl: idp.miUrl,
  identityEndpoint: idp.identityEndpoint,
  identityHeader: idp.identityHeader,
  adminUrl: idp.adminUrl,
  caFile: idp.caFile ?? null,
  systemIdentity: idp.systemIdentity,
  apps: [...idp.idp.apps.values()].map((a) => idp.idp.describeApp(a)),
  pid: process.pid,
};
announceAndServe(info, () => idp.stop(), {
  portsFile: values['ports-file'],
  exitOnStdinClose: values['exit-on-stdin-close'],
});
