// The KEK in Azure Key Vault / Managed HSM (issue 18), against the local vault (tests/keyvault)
// and the local Entra ID (tests/idp), tokens by workload identity as in a pod. Checked:
//   * rewrap file -> vault; start: ready, documents round-trip, one audit record per unwrap with
//     the key's full kid, the vault unwrapped once per data key version (never per request);
//   * keygen and keyring show through the vault; reload adds the version;
//   * reload with the vault refusing (403), down, or the token provider down: 422, the old
//     keyring stays, the log says why;
//   * start with the vault down, 403, the key missing, the IdP down: exit 1, never ready, why;
//   * a wrapped key moved to another entry is refused, and the failed unwrap at start is audited;
//   * the vault key rotated: the older version still opens, rewrap moves to the new one;
//   * vault -> Managed HSM (A256KW) -> file and back, documents untouched.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { makeWorkDir } from './lib/paths.mjs';
import { createPki } from './lib/pki.mjs';
import { makeKeyring, readAudit, auditVerify, waitFor } from './lib/ops.mjs';
import { adminRequest } from './lib/fault-stack.mjs';
import { runCosmoseal, writeConfig, freePort } from './lib/cosmoseal.mjs';
import { startIdp } from '../idp/lib/idp.mjs';
import { startKeyVault } from '../keyvault/lib/keyvault.mjs';
import { unwrapFileKeyring } from './lib/hsm.mjs';
import { dumpCore, secretNeedles, assertCoreClean } from './lib/coredump.mjs';

const T = { timeout: 180000 };
const POLICIES = [
  { database: 'shop', container: 'people', partition_key: '/tenant', fields: [
    { path: '/ssn', mode: 'deterministic', key: 'pii' },
    { path: '/address', mode: 'randomized', key: 'pii' },
  ] },
];

describe('KEK in Azure Key Vault / Managed HSM (local vault, workload identity)', () => {
  let dir;
  let pki;
  let idp;
  let app;
  let vault;
  let hsm;
  let keys;
  let stack;
  let container;
  let tokenFile;
  let kid1;
  let dataKeys; // known here because the keyring starts on a file KEK (for the core-dump grep)

  // The scope follows the vault's host name (*.managedhsm.azure.net); on 127.0.0.1 the Managed HSM
  // stand-in's audience is named explicitly (without it: 401 AKV10022, invalid audience).
  const auth = (v) => ({ type: 'workload_identity', tenant_id: idp.tenantId, client_id: app.clientId,
    authority_host: idp.authorityHost, token_file: tokenFile, ...(v.kind === 'managedhsm' ? { scope: v.scope } : {}) });
  const kekOf = (v, key, extra = {}) => ({ provider: 'azure_key_vault', vault_url: v.url, key_name: key,
    ca_file: pki.caCert, auth: auth(v), ...extra });
  const specOf = (v, key, extra = '') => `azure_key_vault:vault=${v.url};key=${key};ca-file=${pki.caCert};` +
    `auth=workload_identity;tenant=${idp.tenantId};client=${app.clientId};authority=${idp.authorityHost};` +
    `token-file=${tokenFile}${v.kind === 'managedhsm' ? `;scope=${v.scope}` : ''}${extra}`;
  const audited = (file = 'audit.log') => readAudit(path.join(dir, file)).filter((l) => l.event === 'key_unwrap');
  const brokenConfig = async (kek, extra = {}) => {
    const base = stack.proxy.config;
    const cfg = { ...base, keys: { ...base.keys, kek }, admin: { ...base.admin, port: await freePort() },
      listen: { ...base.listen, port: await freePort() }, audit: { path: 'audit-broken.log' }, ...extra };
    return writeConfig(path.join(dir, 'broken.yaml'), cfg);
  };

  before(async () => {
    dir = makeWorkDir('kek-vault');
    pki = createPki(path.join(dir, 'vault-pki'));
    idp = await startIdp({ pki });
    app = idp.addApp({ name: 'cosmoseal',
      federatedCredentials: [{ issuer: idp.k8sIssuer, subject: 'system:serviceaccount:shop:cosmoseal' }] });
    tokenFile = path.join(dir, 'azure-identity-token');
    idp.writeServiceAccountToken(tokenFile, { namespace: 'shop', serviceAccount: 'cosmoseal' });
    const o = { pki, jwksUri: idp.jwksUri, issuer: idp.issuer, tenantId: idp.tenantId };
    vault = await startKeyVault(o);
    hsm = await startKeyVault({ ...o, kind: 'managedhsm' });
    vault.setAccess([app.objectId]); // "Key Vault Crypto User" for the sidecar's identity only
    hsm.setAccess([app.objectId]);
    kid1 = vault.createKey('kek-1', { kty: 'RSA-HSM', size: 3072 }).kid;
    vault.createKey('kek-2', { kty: 'RSA', size: 2048 });
    hsm.createKey('kek-aes', { kty: 'oct-HSM' });

    keys = await makeKeyring(dir, ['pii']);
    dataKeys = unwrapFileKeyring(keys.keyring_file, Buffer.from(fs.readFileSync(keys.kek_file, 'utf8').trim(), 'base64'));
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', `file:${keys.kek_file}`,
      '--to', specOf(vault, 'kek-1')]);
    assert.equal(r.code, 0, `rewrap: ${r.stdout}${r.stderr}`);
    assert.match(fs.readFileSync(keys.keyring_file, 'utf8'), new RegExp(`kek: "${kid1}"`));
    vault.resetStats();
    stack = await startStack({
      dir,
      tls: false,
      keys: { keyring_file: keys.keyring_file, kek: kekOf(vault, 'kek-1') },
      policies: POLICIES,
      extra: { workers: 1, audit: { path: 'audit.log' } },
    });
    const { database } = await stack.client().databases.createIfNotExists({ id: 'shop' });
    ({ container } = await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } }));
  });
  after(async () => {
    await stack?.stop();
    await vault?.stop();
    await hsm?.stop();
    await idp?.stop();
  });

  test('start: ready on the vault KEK, documents round-trip, every unwrap audited, none per request', T, async () => {
    const doc = { id: 'p1', tenant: 't1', ssn: '123-45-6789', address: { street: '1 Vault Way' } };
    await container.items.create(doc);
    for (let i = 0; i < 5; i++) assert.deepEqual((await container.item('p1', 't1').read()).resource.address, doc.address);
    const raw = (await stack.direct().database('shop').container('people').item('p1', 't1').read()).resource;
    assert.match(raw.ssn, /^csx1:/, 'sealed at rest');
    const unwraps = audited();
    assert.equal(unwraps.length, 1, 'one data key version, one unwrap');
    assert.equal(unwraps[0].kek, kid1);
    assert.equal(unwraps[0].key, 'pii');
    assert.equal(unwraps[0].result, 'ok');
    assert.equal(vault.stats().unwrap, 1, 'the vault unwrapped once, at start; requests never reach it');
    assert.ok(vault.requests().every((q) => q.oid === app.objectId), 'every call carried the workload identity token');
    assert.match(stack.proxy.log(), /1 data key unwrap\(s\) audited/);
  });

  test('gcore of the running sidecar: 0 copies of the data key and of the content keys the vault unwrapped', T, async () => {
    const ceks = vault.unwrappedValues();
    assert.ok(ceks.length >= 1, 'the vault unwrapped at least one content key');
    const core = dumpCore(stack.proxy.pid, dir);
    const needles = [
      ...dataKeys.flatMap((k) => secretNeedles(k.label, k.bytes)),
      ...ceks.flatMap((c, i) => secretNeedles(`content key ${i + 1} from unwrapkey`, c)),
      ...ceks.map((c, i) => ({ label: `content key ${i + 1} (base64url, as the vault sent it)`, bytes: Buffer.from(c.toString('base64url')) })),
    ];
    // A non-secret marker the config snapshot holds: the vault's URL.
    const { markers } = assertCoreClean(core, needles, Buffer.from(vault.url));
    console.log(`[kek-vault] core ${core.length} bytes; ${dataKeys.length} data key(s), ${ceks.length} content key(s): 0 copies; marker (vault URL) ${markers} copies`);
  });

  test('keyring show and keygen through the vault; reload adds the version', T, async () => {
    const show = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', specOf(vault, 'kek-1')]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /1 key\(s\), 1 version\(s\)/);
    assert.match(show.stdout, /Key Vault key https:\/\/127\.0\.0\.1:\d+\/keys\/kek-1\/[0-9a-f]{32}/);
    const g = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--config', stack.proxy.configPath, '--key', 'pii']);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /added key 'pii' version 2/);
    assert.equal(fs.readFileSync(keys.keyring_file, 'utf8').split(`kek: "${kid1}"`).length - 1, 2, 'both versions wrapped by kek-1');
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    await waitFor(() => audited().length >= 3);
    assert.deepEqual(audited().slice(1).map((u) => u.version).sort(), [1, 2]);
  });

  test('reload with the vault refusing (403), down, or the token provider down keeps the old keyring', T, async () => {
    const cases = [
      [() => vault.setAccess([]), () => vault.setAccess([app.objectId]), /403 Forbidden \(ForbiddenByRbac\)/],
      [() => vault.goDown('refuse'), () => vault.comeBack(), /Key Vault https:\/\/127\.0\.0\.1:\d+ unreachable/],
      [() => vault.goDown('503'), () => vault.comeBack(), /503 ServiceUnavailable/],
      [() => idp.goDown('refuse'), () => idp.comeBack(), /no Entra ID token for Key Vault/],
    ];
    for (const [breakIt, fixIt, why] of cases) {
      await breakIt();
      const refused = await adminRequest(stack.proxy, 'POST', '/reload');
      await fixIt();
      assert.equal(refused.status, 422, refused.body);
      assert.match(refused.body, why);
      assert.match(stack.proxy.log(), /reload rejected, previous configuration stays in force/);
      assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789', 'still serving');
    }
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
  });

  test('start with the vault down, refusing, the key missing or the IdP down: exit 1, the reason on stderr', T, async () => {
    const cases = [
      [() => vault.goDown('refuse'), () => vault.comeBack(), kekOf(vault, 'kek-1'), /unreachable \(get key\)/],
      [() => vault.setAccess([]), () => vault.setAccess([app.objectId]), kekOf(vault, 'kek-1'), /refused get key of key kek-1: 403 Forbidden \(ForbiddenByRbac\)/],
      [() => {}, () => {}, kekOf(vault, 'no-such-key'), /404 KeyNotFound: A key with \(name\/id\) no-such-key was not found/],
      [() => idp.goDown('refuse'), () => idp.comeBack(), kekOf(vault, 'kek-1'), /no Entra ID token for Key Vault/],
    ];
    for (const [breakIt, fixIt, kek, why] of cases) {
      const file = await brokenConfig(kek);
      await breakIt();
      try {
        const r = await runCosmoseal(['--config', file], { timeoutMs: 30000 });
        assert.equal(r.code, 1, `${why}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, why);
        assert.match(r.stderr, /cannot start: .*broken\.yaml:\d+:\d+: keys: /);
        assert.doesNotMatch(r.stderr, /eyJ/, 'never a token in a message');
      } finally {
        await fixIt();
      }
    }
  });

  test('a wrapped key moved to another entry is refused; the failed unwrap at start is audited', T, async () => {
    const moved = path.join(dir, 'moved.yaml');
    const text = fs.readFileSync(keys.keyring_file, 'utf8');
    const values = [...text.matchAll(/wrapped: "([^"]+)"/g)].map((m) => m[1]);
    assert.equal(values.length, 2);
    let i = 0;
    fs.writeFileSync(moved, text.replace(/wrapped: "([^"]+)"/g, () => `wrapped: "${values[1 - i++]}"`), { mode: 0o600 });
    const show = await runCosmoseal(['keyring', 'show', '--keyring', moved, '--kek', specOf(vault, 'kek-1')]);
    assert.equal(show.code, 1);
    assert.match(show.stderr, /keys\.unwrap_failed/);
    assert.match(show.stderr, /moved from another keyring entry/);
    const file = await brokenConfig(kekOf(vault, 'kek-1'), {});
    const cfg = fs.readFileSync(file, 'utf8').replace(keys.keyring_file, moved);
    fs.writeFileSync(file, cfg);
    const r = await runCosmoseal(['--config', file], { timeoutMs: 30000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /moved from another keyring entry/);
    const failed = audited('audit-broken.log');
    assert.ok(failed.length >= 1, 'the refused unwraps are audited');
    assert.ok(failed.every((u) => u.result === 'keys.unwrap_failed'), JSON.stringify(failed));
  });

  test('the vault key is rotated: the older version still opens, rewrap moves to the new one', T, async () => {
    const { kid: kid1b, version } = vault.createKey('kek-1', { kty: 'RSA-HSM', size: 3072 });
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    const oldVersion = kid1.split('/').pop();
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file,
      '--from', specOf(vault, 'kek-1', `;version=${oldVersion}`), '--to', specOf(vault, 'kek-1')]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(keys.keyring_file, 'utf8');
    assert.ok(text.includes(`kek: "${kid1b}"`) && !text.includes(`kek: "${kid1}"`), text);
    assert.ok(kid1b.endsWith(version));
    // The old version disabled: the sidecar reloads on the new one.
    vault.setEnabled('kek-1', oldVersion, false);
    const again = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(again.status, 200, again.body);
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
  });

  test('vault -> Managed HSM (A256KW) -> file -> vault: the same data keys, documents untouched', T, async () => {
    const hsmSpec = specOf(hsm, 'kek-aes');
    // Each rewrap keeps FILE.pre-rewrap-<UTC second>, created exclusively: one per second.
    const rewrap = async (from, to) => {
      await sleep(1100);
      return runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', from, '--to', to]);
    };
    let r = await rewrap(specOf(vault, 'kek-1'), hsmSpec);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rewrapped 2 data key version\(s\)/);
    const show = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', hsmSpec]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Managed HSM key .*\(A256KW/);
    const cfg = { ...stack.proxy.config, keys: { ...stack.proxy.config.keys, kek: kekOf(hsm, 'kek-aes') } };
    writeConfig(stack.proxy.configPath, cfg);
    const ok = await adminRequest(stack.proxy, 'POST', '/reload');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await container.item('p1', 't1').read()).resource.ssn, '123-45-6789');
    r = await rewrap(hsmSpec, `file:${keys.kek_file}`);
    assert.equal(r.code, 0, r.stderr);
    r = await rewrap(`file:${keys.kek_file}`, specOf(vault, 'kek-2'));
    assert.equal(r.code, 0, r.stderr);
    const kek2 = await runCosmoseal(['keyring', 'show', '--keyring', keys.keyring_file, '--kek', specOf(vault, 'kek-2')]);
    assert.equal(kek2.code, 0, kek2.stderr);
    assert.match(kek2.stdout, /1 key\(s\), 2 version\(s\)/);
    const v = await auditVerify(path.join(dir, 'audit.log'));
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});
