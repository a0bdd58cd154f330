// The kmip KEK provider end to end (issue 18) against a real KMIP server (PyKMIP, mutual TLS,
// tests/kmip): a file-KEK keyring is moved into a KMIP key with `cosmoseal keyring rewrap`, and the
// real SDK goes through a cosmoseal whose keys.kek is that key. Checked:
//   * keygen, keyring show, rewrap (file -> kmip, kmip -> file) through the server;
//   * start: ready, documents round-trip, one audit event per unwrap (kek = kmip:uid=...);
//   * a key the server may hand out (not Sensitive, or with the Export usage bit) is refused;
//   * an entry that was moved does not unwrap (keys.unwrap_failed, not "unavailable");
//   * reload with the server down: 422, the old keyring stays in force, the log says why; with the
//     server back, keygen through it + reload adds a version;
//   * a core dump of the running sidecar (after traffic and reloads) holds no copy of the data key;
//   * start with an unreachable server, an unknown key, a revoked key, a client certificate the
//     server does not trust, or a server the CA does not vouch for: exit 1, never ready, why.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { dumpCore, secretNeedles, assertCoreClean } from './lib/coredump.mjs';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { makeKeyring, readAudit, auditVerify, metricNow, waitFor } from './lib/ops.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import { runCosmoseal, writeConfig, freePort } from './lib/cosmoseal.mjs';
import { startKmip, makeCa, clientCert } from './lib/kmip.mjs';
import { unwrapFileKeyring } from './lib/hsm.mjs';

const T = { timeout: 180000 };
const POLICIES = [
  { database: 'shop', container: 'people', partition_key: '/tenant', fields: [
    { path: '/ssn', mode: 'deterministic', key: 'pii' },
    { path: '/address', mode: 'randomized', key: 'pii' },
  ] },
];

describe('KEK in a KMIP key manager (PyKMIP)', () => {
  let dir;
  let kmip;
  let keys;
  let stack;
  let container;
  let uid;
  let dataKeys;

  before(async () => {
    dir = makeWorkDir('kek-kmip');
    kmip = await startKmip(dir);
    keys = await makeKeyring(dir, ['pii']);
    // The data key, known here because the keyring starts on a file KEK (for the core-dump grep).
    dataKeys = unwrapFileKeyring(keys.keyring_file, Buffer.from(fs.readFileSync(keys.kek_file, 'utf8').trim(), 'base64'));
    uid = kmip.admin('create', 'kek-1');
    assert.match(uid, /^\S+$/);
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', `file:${keys.kek_file}`,
      '--to', kmip.spec('kek-1')], { timeoutMs: 60000 });
    assert.equal(r.code, 0, `rewrap: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /rewrapped 1 data key version\(s\)/);
    assert.match(fs.readFileSync(keys.keyring_file, 'utf8'), new RegExp(`kek: "?kmip:uid=${uid}"?`));
    stack = await startStack({
      dir,
      tls: false,
      keys: { keyring_file: keys.keyring_file, kek: kmip.kek('kek-1') },
      policies: POLICIES,
      extra: { workers: 1, audit: { path: 'audit.log' } },
    });
    const { database } = await stack.client().databases.createIfNotExists({ id: 'shop' });
    ({ container } = await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } }));
  });
  after(async () => {
    await stack?.stop();
    await kmip?.stop();
  });

  test('start: ready on the KMIP KEK, documents round-trip, every unwrap is audited', T, async () => {
    const doc = { id: 'p1', tenant: 't1', ssn: '123-45-6789', address: { street: '1 KMIP Way' } };
    await container.items.create(doc);
    assert.deepEqual((await container.item('p1', 't1').read()).resource.address, doc.address);
    const raw = (await stack.direct().database('shop').container('people').item('p1', 't1').read()).resource;
    assert.match(raw.ssn, /^csx1:/, 'sealed at rest');
    const unwraps = readAudit(path.join(dir, 'audit.log')).filter((l) => l.event === 'key_unwrap');
    assert.equal(unwraps.length, 1, 'one data key version, one unwrap');
    assert.equal(unwraps[0].kek, `kmip:uid=${uid}`);
    assert.equal(unwraps[0].key, 'pii');
    assert.equal(unwraps[0].result, 'ok');
    assert.match(stack.proxy.log(), /1 data key unwrap\(s\) audited/);
  });

  test('keyring show through the server; by Unique Identifier too', T, async () => {
    for (const spec of [kmip.spec('kek-1'), kmip.spec(null, { id: uid })]) {
      const show = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', spec], { timeoutMs: 60000 });
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /1 key\(s\), 1 version\(s\)/);
      assert.match(show.stdout, new RegExp(`KMIP key .*uid ${uid}`));
    }
  });

  test('a key the server may hand out is refused: not Sensitive, or with the Export usage bit', T, async () => {
    kmip.admin('create', 'kek-plain', '--not-sensitive');
    kmip.admin('create', 'kek-export', '--exportable');
    for (const [name, why] of [['kek-plain', /not marked Sensitive/], ['kek-export', /Export usage bit/]]) {
      const r = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', kmip.spec(name)], { timeoutMs: 60000 });
      assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /keys\.kek_unavailable|kek_unavailable/);
    }
  });

  test('a moved entry does not unwrap (keys.unwrap_failed), the server answering', T, async () => {
    // Two versions, then the wrapped values swapped: each entry's AAD no longer matches.
    const copy = path.join(dir, 'moved.yaml');
    fs.copyFileSync(keys.keyring_file, copy);
    fs.chmodSync(copy, 0o600);
    const g = await runCosmoseal(['keygen', '--keyring', copy, '--kek', kmip.spec('kek-1'), '--key', 'pii'], { timeoutMs: 60000 });
    assert.equal(g.code, 0, g.stderr);
    const text = fs.readFileSync(copy, 'utf8');
    const wrapped = [...text.matchAll(/wrapped:\s*"?([A-Za-z0-9+/=]+)"?/g)].map((m) => m[1]);
    assert.equal(wrapped.length, 2);
    const swapped = text.replace(wrapped[0], '@@A@@').replace(wrapped[1], wrapped[0]).replace('@@A@@', wrapped[1]);
    fs.writeFileSync(copy, swapped, { mode: 0o600 });
    const r = await runCosmoseal(['keyring', 'show', '--keyring', copy, '--kek', kmip.spec('kek-1')], { timeoutMs: 60000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /does not unwrap with kmip:uid=/);
    assert.match(r.stderr, /unwrap_failed/);
  });

  test('reload with the server down keeps the old keyring; keygen through the server then reloads', T, async () => {
    await kmip.stop();
    const before = await metricNow(stack.proxy, 'cosmoseal_reload_failures_total');
    const refused = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(refused.status, 422, refused.body);
    assert.match(refused.body, /KMIP server 127\.0\.0\.1:\d+: cannot connect/);
    assert.equal(await metricNow(stack.proxy, 'cosmoseal_reload_failures_total'), before + 1);
    assert.match(stack.proxy.log(), /reload rejected, previous configuration stays in force: .*KMIP server/);
    // Still serving on the old keyring.
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
    await container.items.create({ id: 'p2', tenant: 't1', ssn: '987-65-4321', address: { street: '2 Old Keyring Rd' } });

    await kmip.start();
    const g = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek', kmip.spec('kek-1'), '--key', 'pii'], { timeoutMs: 60000 });
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /wrapped by KMIP key 'kek-1'/);
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    const audited = () => readAudit(path.join(dir, 'audit.log')).filter((l) => l.event === 'key_unwrap');
    await waitFor(() => audited().length >= 3);
    const unwraps = audited();
    assert.equal(unwraps.length, 3, 'start (v1) + reload (v1, v2)');
    assert.deepEqual(unwraps.slice(1).map((u) => u.version).sort(), [1, 2]);
    assert.equal((await container.item('p2', 't1').read()).resource.ssn, '987-65-4321');
    const v = await auditVerify(path.join(dir, 'audit.log'));
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('gcore after traffic and reloads through the server: 0 copies of the data key; the marker is found', T, async () => {
    const core = dumpCore(stack.proxy.pid, dir);
    const needles = dataKeys.flatMap((k) => secretNeedles(k.label, k.bytes));
    // A non-secret marker the config snapshot holds: the client certificate's path.
    const { markers } = assertCoreClean(core, needles, Buffer.from(kmip.client.cert));
    console.log(`core ${core.length} bytes; ${dataKeys.length} data key(s): 0 copies; ` +
      `marker (client certificate path) ${markers} copies`);
  });

  test('start with an unreachable or refusing server: exit 1, never ready, the reason on stderr', T, async () => {
    const base = stack.proxy.config;
    const otherCa = makeCa(path.join(dir, 'other-ca'), 'other-ca');
    const stranger = clientCert(kmip, 'stranger', otherCa);
    kmip.admin('create', 'kek-revoked');
    kmip.admin('revoke', 'kek-revoked');
    const cases = [
      [kmip.kek('kek-1', { server: `127.0.0.1:${await freePort()}` }), /cannot connect/],
      [kmip.kek('no-such-key'), /has no key named 'no-such-key'/],
      [kmip.kek('kek-revoked'), /is not in the Active state/],
      [kmip.kek('kek-1', { client: stranger }), /TLS handshake failed|connection broke/],
      [kmip.kek('kek-1', { ca: otherCa.cert }), /TLS handshake failed: certificate/],
    ];
    for (const [kek, why] of cases) {
      const cfg = { ...base, keys: { ...base.keys, kek }, admin: { ...base.admin, port: await freePort() }, listen: { ...base.listen, port: await freePort() } };
      const file = writeConfig(path.join(dir, 'broken.yaml'), cfg);
      const r = await runCosmoseal(['--config', file], { timeoutMs: 60000 });
      assert.equal(r.code, 1, `${why}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /cannot start: .*broken\.yaml:\d+:\d+: keys: /);
      const c = await runCosmoseal(['check', '--config', file], { timeoutMs: 60000 });
      assert.equal(c.code, 1);
      assert.match(c.stdout + c.stderr, why);
    }
  });

  test('rewrap KMIP -> file: the same data keys, documents untouched', T, async () => {
    const kekFile2 = path.join(dir, 'kek-2');
    fs.writeFileSync(kekFile2, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', kmip.spec('kek-1'),
      '--to', `file:${kekFile2}`], { timeoutMs: 60000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rewrapped 2 data key version\(s\)/);
    const cfg = { ...stack.proxy.config, keys: { keyring_file: keys.keyring_file, kek_file: kekFile2 } };
    writeConfig(stack.proxy.configPath, cfg);
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
    assert.equal((await container.item('p2', 't1').read()).resource.ssn, '987-65-4321');
    // The KMIP key no longer opens it.
    const old = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', kmip.spec('kek-1')], { timeoutMs: 60000 });
    assert.equal(old.code, 1);
    assert.match(old.stderr, /local:/);
  });
});
