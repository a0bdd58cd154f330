// Red-team finding 3 (issue 13): after protected traffic has finished, a core dump of the running
// cosmoseal must hold no copy of a key and no protected plaintext.
//
// The stack is the e2e one (TLS upstream; the listener with and without TLS; the real SDK; a
// keyring made by `cosmoseal keygen`). Every protected value written, read, queried and replaced
// is a distinctive canary.
// Once every request has finished and the clients are closed, `gcore` (gdb) dumps the live
// process and the core is searched, byte for byte, for:
//   * the account key and each client key: raw 64 bytes and base64 text;
//   * the KEK (raw and base64) and every data key (unwrapped here from the keyring with the KEK);
//   * every canary (protected plaintext), in the form the app sent it.
// Each must occur 0 times. What the process cannot wipe (kernel socket buffers, the app's own
// memory, swap when mlock is refused) is outside a core dump and documented in docs/SECURITY.md.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from '../e2e/lib/stack.mjs';
import { makeWorkDir } from '../e2e/lib/paths.mjs';
import { makeKeyring } from '../e2e/lib/enc.mjs';
import { runCosmoseal } from '../e2e/lib/cosmoseal.mjs';
import { makeSoftHsm, createKek, unwrapFileKeyring } from '../e2e/lib/hsm.mjs';
import { dumpCore, countIn as count } from '../e2e/lib/coredump.mjs';

const T = { timeout: 240000 };
const FIELDS = [
  { path: '/ssn', mode: 'deterministic', key: 'pii' },
  { path: '/address', mode: 'randomized', key: 'pii' },
];
const POLICIES = [
  { database: 'shop', container: 'people', partition_key: '/tenant', fields: FIELDS },
  // The partition key itself protected: its plaintext also travels in a header.
  { database: 'shop', container: 'accounts', partition_key: '/accountNo', fields: [{ path: '/accountNo', mode: 'deterministic', key: 'pii' }] },
];

/** Every data key of the keyring (docs/FORMAT.md §7.2), unwrapped with the KEK. */
function unwrapDataKeys(keyringFile, kek) {
  const keys = unwrapFileKeyring(keyringFile, kek);
  assert.ok(keys.length > 0, 'the keyring holds at least one data key');
  return keys;
}


// Both listener kinds: with TLS the plaintext lives in the TLS scratch and OpenSSL's record
// buffers; without TLS (a sidecar on localhost) it lives in the read buffer and the write queue.
for (const tls of [true, false]) {
describe(`security: no keys or protected plaintext in a core dump of a process that served protected traffic (listener ${tls ? 'TLS' : 'plain HTTP'})`, () => {
  let stack;
  let dir;
  let keys;
  const canaries = [];

  before(async () => {
    dir = makeWorkDir(`coredump-${tls ? 'tls' : 'plain'}`);
    keys = await makeKeyring(dir, ['pii']);
    stack = await startStack({ dir, keys, tls, policies: POLICIES, clients: [{ name: 'app' }, { name: 'other' }], extra: { workers: 2 } });
  });
  after(async () => {
    await stack?.stop();
  });

  test('gcore after traffic: 0 copies of every key and every canary', T, async () => {
    const gcore = spawnSync('sh', ['-c', 'command -v gcore'], { encoding: 'utf8' });
    assert.equal(gcore.status, 0, 'gcore (gdb) is required: run scripts/install-deps.sh');

    for (const name of ['app', 'other']) {
      const client = stack.client(name);
      const { database } = await client.databases.createIfNotExists({ id: 'shop' });
      const { container } = await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } });
      for (let i = 0; i < 12; i++) {
        const tag = `${name}${i}${crypto.randomBytes(4).toString('hex')}`;
        const ssn = `SSNCANARY-${tag}-778`;
        const street = `${tag} Hidden Canary Lane`;
        canaries.push(ssn, street);
        const doc = { id: `p-${tag}`, tenant: 't1', name: `n${i}`, ssn, address: { street, city: 'Springfield' } };
        await container.items.create(doc);
        const { resource } = await container.item(doc.id, 't1').read();
        assert.equal(resource.ssn, ssn);
        const q = await container.items
          .query({ query: 'SELECT * FROM c WHERE c.ssn = @s', parameters: [{ name: '@s', value: ssn }] })
          .fetchAll();
        assert.equal(q.resources.length, 1);
        const newStreet = `${tag} Replaced Canary Road`;
        canaries.push(newStreet);
        await container.item(doc.id, 't1').replace({ ...doc, address: { street: newStreet, city: 'Shelbyville' } });
      }
      const feed = await container.items.readAll().fetchAll();
      assert.ok(feed.resources.length >= 12);
      const { container: accounts } = await database.containers.createIfNotExists({ id: 'accounts', partitionKey: { paths: ['/accountNo'] } });
      for (let i = 0; i < 4; i++) {
        const accountNo = `ACCTCANARY-${name}${i}${crypto.randomBytes(4).toString('hex')}-55`;
        canaries.push(accountNo);
        await accounts.items.create({ id: `a-${name}-${i}`, accountNo, balance: i });
        const { resource } = await accounts.item(`a-${name}-${i}`, accountNo).read();
        assert.equal(resource.accountNo, accountNo);
      }
    }
    await stack.closeClients();
    // Every exchange has finished and every downstream connection is closed; give the workers a
    // moment to retire them (deletion happens on the next loop turn).
    await sleep(1500);
    assert.ok(stack.proxy.running, 'cosmoseal is still running');

    const core = dumpCore(stack.proxy.pid, dir);
    assert.ok(core.length > 1 << 20, 'the core is a real dump');

    const kek = Buffer.from(fs.readFileSync(keys.kek_file, 'utf8').trim(), 'base64');
    const needles = [];
    const key = (label, b64) => {
      needles.push({ label: `${label} (raw)`, bytes: Buffer.from(b64, 'base64') });
      needles.push({ label: `${label} (base64)`, bytes: Buffer.from(b64) });
    };
    key('account key', stack.accountKey);
    for (const [name, k] of Object.entries(stack.clientKeys)) key(`client key ${name}`, k);
    key('KEK', kek.toString('base64'));
    for (const dk of unwrapDataKeys(keys.keyring_file, kek)) {
      needles.push({ label: `${dk.label} (raw)`, bytes: dk.bytes });
    }
    for (const c of canaries) needles.push({ label: `canary ${c}`, bytes: Buffer.from(c) });

    const found = needles.map((n) => ({ label: n.label, n: count(core, n.bytes) })).filter((x) => x.n > 0);
    const summary = found.map((x) => `  ${x.label}: ${x.n}`).join('\n');
    const keyHits = found.filter((x) => !x.label.startsWith('canary')).reduce((a, x) => a + x.n, 0);
    const canaryHits = found.filter((x) => x.label.startsWith('canary')).reduce((a, x) => a + x.n, 0);
    console.log(`core ${core.length} bytes; ${needles.length} needles; key copies ${keyHits}; canary copies ${canaryHits} (${canaries.length} canaries)`);
    assert.equal(found.length, 0, `secrets found in the core dump:\n${summary}`);
  });
});
}

// The KEK in a PKCS#11 token (issue 18): the data keys were unwrapped by the token, the PIN was
// read for C_Login. Neither may be in a core dump of the running sidecar. SoftHSM2 runs inside
// the process (a real HSM would not), so its token key is not a needle: cosmoseal cannot know it,
// the token will not reveal it. A non-secret marker (the PIN file's path, which the config
// snapshot holds) must be found, to show the search works on this core.
describe('security: a sidecar whose KEK is in a PKCS#11 token leaves no data key and no PIN in a core dump', () => {
  let stack;
  let dir;
  let hsm;
  let dataKeys;
  const canaries = [];

  before(async () => {
    dir = makeWorkDir('coredump-pkcs11');
    hsm = makeSoftHsm(dir, ['coredump']);
    const keys = await makeKeyring(dir, ['pii']);
    const more = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', 'pii']);
    assert.equal(more.code, 0, more.stderr);
    // The data keys, known here because the keyring starts on a file KEK.
    dataKeys = unwrapFileKeyring(keys.keyring_file, Buffer.from(fs.readFileSync(keys.kek_file, 'utf8').trim(), 'base64'));
    await createKek(hsm, hsm.spec('coredump', 'kek'));
    const r = await runCosmoseal(['keyring', 'rewrap', '--keyring', keys.keyring_file, '--from', `file:${keys.kek_file}`,
      '--to', hsm.spec('coredump', 'kek')], { env: hsm.env });
    assert.equal(r.code, 0, r.stderr);
    fs.rmSync(keys.kek_file);
    for (const f of fs.readdirSync(dir).filter((n) => n.includes('.pre-rewrap-'))) fs.rmSync(path.join(dir, f));
    stack = await startStack({
      dir,
      tls: false,
      keys: { keyring_file: keys.keyring_file, kek: hsm.kek('coredump', 'kek') },
      policies: POLICIES,
      env: hsm.env,
      extra: { workers: 2 },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  test('gcore after traffic and a reload: 0 copies of the data keys and the PIN; the marker is found', T, async () => {
    const client = stack.client('app');
    const { database } = await client.databases.createIfNotExists({ id: 'shop' });
    const { container } = await database.containers.createIfNotExists({ id: 'people', partitionKey: { paths: ['/tenant'] } });
    for (let i = 0; i < 8; i++) {
      const tag = `hsm${i}${crypto.randomBytes(4).toString('hex')}`;
      const ssn = `SSNCANARY-${tag}-778`;
      canaries.push(ssn);
      await container.items.create({ id: `p-${tag}`, tenant: 't1', ssn, address: { street: `${tag} Lane` } });
      assert.equal((await container.item(`p-${tag}`, 't1').read()).resource.ssn, ssn);
    }
    // A reload unwraps everything again through a new token session.
    process.kill(stack.proxy.pid, 'SIGHUP');
    await sleep(1000);
    assert.match(stack.proxy.log(), /reloaded .*generation 2/);
    await stack.closeClients();
    await sleep(1500);
    assert.ok(stack.proxy.running, 'cosmoseal is still running');

    const core = dumpCore(stack.proxy.pid, dir);

    const needles = dataKeys.map((k) => ({ label: `${k.label} (raw)`, bytes: k.bytes }));
    for (const k of dataKeys) needles.push({ label: `${k.label} (base64)`, bytes: Buffer.from(k.bytes.toString('base64')) });
    needles.push({ label: 'HSM PIN', bytes: Buffer.from(hsm.pin) });
    for (const c of canaries) needles.push({ label: `canary ${c}`, bytes: Buffer.from(c) });
    const found = needles.map((n) => ({ label: n.label, n: count(core, n.bytes) })).filter((x) => x.n > 0);
    const marker = count(core, Buffer.from(hsm.pinFile));
    console.log(`core ${core.length} bytes; ${dataKeys.length} data keys, the PIN and ${canaries.length} canaries: ` +
      `${found.reduce((a, x) => a + x.n, 0)} copies; marker (PIN file path) ${marker} copies`);
    assert.ok(marker > 0, 'the non-secret marker must be found: otherwise the search proves nothing');
    assert.equal(found.length, 0, `secrets found in the core dump:\n${found.map((x) => `  ${x.label}: ${x.n}`).join('\n')}`);
  });
});
