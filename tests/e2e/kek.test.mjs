// KEK providers end to end (issue 18): a keyring made with a KEK file is moved into a PKCS#11
// token (SoftHSM2) with `cosmoseal keyring rewrap`, and the real SDK goes through a cosmoseal
// whose keys.kek is that token. Checked:
//   * start: ready, protected documents round-trip, one audit event per unwrap (kek = the token);
//   * the KEK cannot be read out of the token (create-kek makes it sensitive, not extractable);
//   * reload with a refusing provider (wrong PIN): 422, the old keyring stays in force, the log
//     says why; after the PIN is back, keygen through the token + reload adds a version;
//   * start with an unreachable or refusing provider: exit 1, never ready, the reason on stderr;
//   * HSM -> another HSM key, documents untouched.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { makeKeyring, readAudit, auditVerify, metricNow, waitFor } from './lib/ops.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import { runCosmoseal, writeConfig, freePort } from './lib/cosmoseal.mjs';
import { makeSoftHsm, createKek } from './lib/hsm.mjs';

const T = { timeout: 120000 };
const POLICIES = [
  { database: 'shop', container: 'people', partition_key: '/tenant', fields: [
    { path: '/ssn', mode: 'deterministic', key: 'pii' },
    { path: '/address', mode: 'randomized', key: 'pii' },
  ] },
];

describe('KEK in a PKCS#11 token (SoftHSM2)', () => {
  let dir;
  let hsm;
  let keys;
  let stack;
  let container;
  const TOKEN = 'cosmoseal-e2e';

  before(async () => {
    dir = makeWorkDir('kek-pkcs11');
    hsm = makeSoftHsm(dir, [TOKEN]);
    keys = await makeKeyring(dir, ['pii']);
    const out = await createKek(hsm, hsm.spec(TOKEN, 'kek-1'));
    assert.match(out, /sensitive, not extractable/);
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', `file:${keys.kek_file}`,
      '--to', hsm.spec(TOKEN, 'kek-1')], { env: hsm.env });
    assert.equal(r.code, 0, `rewrap: ${r.stdout}${r.stderr}`);
    stack = await startStack({
      dir,
      tls: false,
      keys: { keyring_file: keys.keyring_file, kek: hsm.kek(TOKEN, 'kek-1') },
      policies: POLICIES,
      env: hsm.env,
      extra: { workers: 1, audit: { path: 'audit.log' } },
    });
    const { database } = await stack.client().databases.createIfNotExists({ id: 'shop' });
    ({ container } = await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } }));
  });
  after(async () => {
    await stack?.stop();
  });

  test('start: ready on the token KEK, documents round-trip, every unwrap is audited', T, async () => {
    const doc = { id: 'p1', tenant: 't1', ssn: '123-45-6789', address: { street: '1 HSM Way' } };
    await container.items.create(doc);
    assert.deepEqual((await container.item('p1', 't1').read()).resource.address, doc.address);
    const raw = (await stack.direct().database('shop').container('people').item('p1', 't1').read()).resource;
    assert.match(raw.ssn, /^csx1:/, 'sealed at rest');
    const unwraps = readAudit(path.join(dir, 'audit.log')).filter((l) => l.event === 'key_unwrap');
    assert.equal(unwraps.length, 1, 'one data key version, one unwrap');
    assert.equal(unwraps[0].kek, `pkcs11:token=${TOKEN};object=kek-1`);
    assert.equal(unwraps[0].key, 'pii');
    assert.equal(unwraps[0].result, 'ok');
    assert.match(stack.proxy.log(), /1 data key unwrap\(s\) audited/);
  });

  test('reload with a refusing provider keeps the old keyring; keygen through the token then reloads', T, async () => {
    const good = fs.readFileSync(hsm.pinFile, 'utf8');
    fs.writeFileSync(hsm.pinFile, '000000\n');
    const before = await metricNow(stack.proxy, 'cosmoseal_reload_failures_total');
    const refused = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(refused.status, 422, refused.body);
    assert.match(refused.body, /CKR_PIN_INCORRECT/);
    assert.equal(await metricNow(stack.proxy, 'cosmoseal_reload_failures_total'), before + 1);
    assert.match(stack.proxy.log(), /reload rejected, previous configuration stays in force: .*CKR_PIN_INCORRECT/);
    // Still serving on the old keyring.
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
    await container.items.create({ id: 'p2', tenant: 't1', ssn: '987-65-4321', address: { street: '2 Old Keyring Rd' } });

    fs.writeFileSync(hsm.pinFile, good);
    const g = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek', hsm.spec(TOKEN, 'kek-1'), '--key', 'pii'], { env: hsm.env });
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /wrapped by PKCS#11 key 'kek-1'/);
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    // The audit writer is a thread: wait for the reload's two records.
    const audited = () => readAudit(path.join(dir, 'audit.log')).filter((l) => l.event === 'key_unwrap');
    await waitFor(() => audited().length >= 3);
    const unwraps = audited();
    assert.equal(unwraps.length, 3, 'start (v1) + reload (v1, v2)');
    assert.deepEqual(unwraps.slice(1).map((u) => u.version).sort(), [1, 2]);
    assert.equal((await container.item('p2', 't1').read()).resource.ssn, '987-65-4321');
    const v = await auditVerify(path.join(dir, 'audit.log'));
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('start with an unreachable or refusing provider: exit 1, never ready, the reason on stderr', T, async () => {
    const base = stack.proxy.config;
    const cases = [
      [{ ...hsm.kek(TOKEN, 'kek-1'), module: path.join(dir, 'no-such-module.so') }, /cannot load PKCS#11 module/],
      [hsm.kek('no-such-token', 'kek-1'), /no token 'no-such-token'/],
      [hsm.kek(TOKEN, 'no-such-key'), /no AES key labelled 'no-such-key'/],
    ];
    for (const [kek, why] of cases) {
      const cfg = { ...base, keys: { ...base.keys, kek }, admin: { ...base.admin, port: await freePort() }, listen: { ...base.listen, port: await freePort() } };
      const file = writeConfig(path.join(dir, 'broken.yaml'), cfg);
      const r = await runCosmoseal(['--config', file], { env: hsm.env, timeoutMs: 20000 });
      assert.equal(r.code, 1, `${why}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /cannot start: .*broken\.yaml:\d+:\d+: keys: /);
      const c = await runCosmoseal(['check', '--config', file], { env: hsm.env });
      assert.equal(c.code, 1);
      assert.match(c.stdout + c.stderr, why);
    }
  });

  test('rewrap HSM -> another HSM key: the same data keys, documents untouched', T, async () => {
    await createKek(hsm, hsm.spec(TOKEN, 'kek-2'));
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', hsm.spec(TOKEN, 'kek-1'),
      '--to', hsm.spec(TOKEN, 'kek-2')], { env: hsm.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rewrapped 2 data key version\(s\)/);
    const show = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', hsm.spec(TOKEN, 'kek-2')], { env: hsm.env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /1 key\(s\), 2 version\(s\)/);
    // The running sidecar moves to kek-2 by a config change and a reload; old documents read.
    const cfg = { ...stack.proxy.config, keys: { ...stack.proxy.config.keys, kek: hsm.kek(TOKEN, 'kek-2') } };
    writeConfig(stack.proxy.configPath, cfg);
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
    assert.equal((await container.item('p2', 't1').read()).resource.ssn, '987-65-4321');
    // The file KEK the keyring started with no longer opens it.
    const old = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file]);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /pkcs11:token=cosmoseal-e2e;object=kek-2/);
  });
});
