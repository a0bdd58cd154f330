// The container image: scripts/build-image builds it with buildah (FROM scratch, vfs storage in a
// scratch directory) into an OCI archive; this test checks the archive (digests, config, labels),
// unpacks the layer and runs from it with chroot, as the image's user:
//   cosmoseal --version, keygen, `check` of the example configs (k8s/examples/*/cosmoseal.yaml)
//   with test keys at the paths the manifests mount, capture-init --dry-run, and capture-init for
//   real in a scratch network namespace with the image's own iptables (nf_tables and legacy).
// It also asserts that there is no shell and that the image runs as 65532:65532.
// Needs root, buildah, iptables and network namespaces: otherwise it exits 77 (skipped).
//
//   node tests/k8s/image.test.mjs          (ctest: k8s.image)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { REPO_ROOT, K8S_DIR, parseYaml } from './lib/kube.mjs';
import { cosmosealBin, must, onCleanup, reapStaleNamespaces, requireRootNetns, run } from './lib/sys.mjs';
import { makeTestSecrets } from './lib/testdata.mjs';

requireRootNetns(['buildah', 'tar']);
reapStaleNamespaces('csimg');
const bin = cosmosealBin();
const VERSION = /project\(cosmoseal VERSION ([0-9.]+)/.exec(fs.readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8'))[1];
const PROXY_UID = 65532;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-image-test-'));
fs.chmodSync(work, 0o755);
onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
const archive = path.join(work, 'cosmoseal.oci.tar');
const tag = `localhost/cosmoseal-test:${process.pid}`;

const started = Date.now();
// --push with a transport prefix: the same `buildah push` path a registry push takes, into a
// local OCI layout (no registry is reachable from here).
const pushed = path.join(work, 'pushed');
const build = run(path.join(REPO_ROOT, 'scripts', 'build-image'), ['--bin', bin, '--output', archive, '--tag', tag, '--push', `oci:${pushed}:cosmoseal-pushed`], {
  env: { ...process.env, BUILDAH_ROOT: path.join(work, 'buildah') },
  timeoutMs: 240000,
});
const buildOutput = `${build.stdout}${build.stderr}`;
console.log(buildOutput.trim().split('\n').map((l) => `# ${l}`).join('\n'));
console.log(`# build-image took ${((Date.now() - started) / 1000).toFixed(1)} s`);

const oci = path.join(work, 'oci');
const rootfs = path.join(work, 'rootfs');
const blob = (digest) => path.join(oci, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
const sha256 = (buf) => `sha256:${crypto.createHash('sha256').update(buf).digest('hex')}`;
let manifest;
let config;

test('scripts/build-image writes an OCI archive and reports its sizes', () => {
  assert.equal(build.code, 0, `build-image failed:\n${buildOutput}`);
  assert.match(buildOutput, /size compressed [0-9.]+[KMG]iB \(\d+ bytes.*uncompressed [0-9.]+[KMG]iB \(\d+ bytes\)/);
  assert.ok(fs.statSync(archive).size > 1 << 20);
});

test('the archive: index -> manifest -> config and one gzip layer, every digest right', () => {
  fs.mkdirSync(oci);
  must('tar', ['-xf', archive, '-C', oci]);
  const layout = JSON.parse(fs.readFileSync(path.join(oci, 'oci-layout'), 'utf8'));
  assert.equal(layout.imageLayoutVersion, '1.0.0');
  const index = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 1);
  const m = index.manifests[0];
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const mBytes = fs.readFileSync(blob(m.digest));
  assert.equal(sha256(mBytes), m.digest);
  manifest = JSON.parse(mBytes);
  const cBytes = fs.readFileSync(blob(manifest.config.digest));
  assert.equal(sha256(cBytes), manifest.config.digest);
  config = JSON.parse(cBytes);
  assert.equal(manifest.layers.length, 1, 'one layer (FROM scratch + one copy)');
  const layer = manifest.layers[0];
  assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const lBytes = fs.readFileSync(blob(layer.digest));
  assert.equal(sha256(lBytes), layer.digest);
  assert.equal(lBytes.length, layer.size);
  assert.equal(sha256(zlib.gunzipSync(lBytes)), config.rootfs.diff_ids[0], 'diff_id = digest of the uncompressed layer');
});

test('--push wrote the same image (same config digest) to the destination', () => {
  assert.match(buildOutput, /pushing .* to oci:/);
  const index = JSON.parse(fs.readFileSync(path.join(pushed, 'index.json'), 'utf8'));
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === 'cosmoseal-pushed');
  assert.ok(m, `no cosmoseal-pushed in ${JSON.stringify(index)}`);
  const pm = JSON.parse(fs.readFileSync(path.join(pushed, 'blobs', 'sha256', m.digest.replace(/^sha256:/, '')), 'utf8'));
  assert.equal(pm.config.digest, manifest.config.digest);
  assert.equal(pm.layers.length, 1);
});

test('image config: non-root numeric user, entrypoint, labels and annotations', () => {
  assert.equal(config.os, 'linux');
  assert.equal(config.config.User, `${PROXY_UID}:${PROXY_UID}`);
  assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/cosmoseal']);
  assert.deepEqual(config.config.Cmd, ['--config', '/etc/cosmoseal/cosmoseal.yaml']);
  assert.ok(config.config.Env.includes('SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'));
  for (const where of [config.config.Labels, manifest.annotations]) {
    assert.equal(where['org.opencontainers.image.version'], VERSION);
    assert.equal(where['org.opencontainers.image.title'], 'cosmoseal');
    assert.match(where['org.opencontainers.image.revision'], /^[0-9a-f]{40}(-dirty)?$/);
    assert.equal(where['org.opencontainers.image.licenses'], undefined, 'no license is declared, so none is claimed');
  }
});

test('the root file system: binary, libraries, CA bundle, users; no shell, no package manager', () => {
  fs.mkdirSync(rootfs);
  must('tar', ['-xzf', blob(manifest.layers[0].digest), '-C', rootfs, '--numeric-owner']);
  const st = fs.statSync(path.join(rootfs, 'usr/local/bin/cosmoseal'));
  assert.equal(st.mode & 0o7777, 0o755);
  assert.equal(st.uid, 0, 'the binary belongs to root (the user cannot replace it)');
  for (const p of ['bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/bash', 'bin/busybox', 'usr/bin/env', 'usr/bin/dpkg', 'usr/bin/apt', 'tmp']) {
    assert.ok(!fs.existsSync(path.join(rootfs, p)), `/${p} must not exist in the image`);
  }
  assert.ok(fs.statSync(path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt')).size > 10000);
  assert.match(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), /^cosmoseal:x:65532:65532:/m);
  assert.match(fs.readFileSync(path.join(rootfs, 'etc/group'), 'utf8'), /^cosmoseal:x:65532:/m);
  const suid = must('find', [rootfs, '-xdev', '-perm', '/6000', '-type', 'f']).trim();
  assert.equal(suid, '', 'no setuid/setgid files');
});

// Runs a command from the image as uid:gid (default the image's user), like a container would.
// readOnly: the root file system is bind-mounted read-only first (readOnlyRootFilesystem).
function inImage(args, { user = `${PROXY_UID}:${PROXY_UID}`, ns = null, caps = '-all,+setuid,+setgid,+sys_chroot', env = {}, readOnly = false } = {}) {
  const envList = Object.entries({ PATH: '/usr/local/bin:/usr/sbin:/usr/bin', ...env }).map(([k, v]) => `${k}=${v}`);
  const cmd = [
    ...(ns ? ['ip', 'netns', 'exec', ns] : []),
    ...(readOnly
      ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@"', rootfs, 'x']
      : []),
    'env', '-i', ...envList,
    // Root keeps uid 0 (chroot --userspec would need CAP_SETGID, which the capture container lacks).
    'setpriv', `--bounding-set=${caps}`, '--inh-caps=-all', ...(user === '0:0' ? ['--clear-groups'] : []),
    'chroot', ...(user === '0:0' ? [] : [`--userspec=${user}`, `--groups=${user.split(':')[1]}`]), rootfs, ...args,
  ];
  return run(cmd[0], cmd.slice(1), { timeoutMs: 30000 });
}

test('cosmoseal --version runs from the image as 65532', () => {
  const r = inImage(['/usr/local/bin/cosmoseal', '--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^cosmoseal ${VERSION.replace(/\./g, '\\.')}\\n`));
  assert.match(r.stdout, /openssl: OpenSSL 3/);
});

// Test keys at the paths the example configs name, as a container would see its mounts.
const secrets = makeTestSecrets(path.join(work, 'secrets'), bin, { hosts: ['myaccount.documents.azure.com'] });
// The java-app example's loopback listener certificate, made as docs/KUBERNETES.md says.
must(path.join(K8S_DIR, 'examples', 'java-app', 'make-loopback-tls.sh'), [path.join(work, 'loopback-tls')]);
const loopback = {
  cert: fs.readFileSync(path.join(work, 'loopback-tls', 'tls.crt')),
  key: fs.readFileSync(path.join(work, 'loopback-tls', 'tls.key')),
};
function placeFile(abs, content, { uid = PROXY_UID, mode = 0o400 } = {}) {
  const f = path.join(rootfs, abs);
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
  fs.writeFileSync(f, content);
  fs.chownSync(f, uid, uid);
  fs.chmodSync(f, mode);
}

test('cosmoseal keygen and keyring show run from the image', () => {
  const dir = path.join(rootfs, 'var/run/keygen');
  fs.mkdirSync(dir, { recursive: true });
  fs.chownSync(dir, PROXY_UID, PROXY_UID);
  const r = inImage(['/usr/local/bin/cosmoseal', 'keygen', '--keyring', '/var/run/keygen/keyring.yaml', '--kek-file', '/var/run/keygen/kek', '--key', 'pii']);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.equal(fs.statSync(path.join(dir, 'kek')).mode & 0o777, 0o600);
  const show = inImage(['/usr/local/bin/cosmoseal', 'keyring', 'show', '--keyring', '/var/run/keygen/keyring.yaml', '--kek-file', '/var/run/keygen/kek']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /pii/);
});

for (const example of ['app', 'java-app', 'transparent']) {
  test(`cosmoseal check accepts k8s/examples/${example}/cosmoseal.yaml with keys at the mounted paths`, () => {
    const text = fs.readFileSync(path.join(K8S_DIR, 'examples', example, 'cosmoseal.yaml'), 'utf8');
    const c = parseYaml(text);
    placeFile('etc/cosmoseal/cosmoseal.yaml', text, { uid: 0, mode: 0o644 });
    placeFile(c.upstream.key_file, secrets.accountKey);
    for (const cl of c.clients) placeFile(cl.key_file, secrets.clientKeys['orders-api']);
    placeFile(c.keys.keyring_file, secrets.keyring);
    placeFile(c.keys.kek_file, secrets.kek);
    if (c.listen.tls) {
      placeFile(c.listen.tls.cert, loopback.cert);
      placeFile(c.listen.tls.key, loopback.key);
    }
    if (c.listen.transparent) {
      placeFile(c.listen.transparent.ca_cert, secrets.caCert);
      placeFile(c.listen.transparent.ca_key, secrets.caKey);
    }
    const r = inImage(['/usr/local/bin/cosmoseal', 'check', '--config', '/etc/cosmoseal/cosmoseal.yaml']);
    assert.equal(r.code, 0, `check failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^\/etc\/cosmoseal\/cosmoseal.yaml: OK$/m);
    assert.match(r.stdout, /upstream\s+https:\/\/myaccount\.documents\.azure\.com/);
    assert.match(r.stdout, /policies 1 container\(s\), 3 protected field path\(s\)/);
  });
}

test('capture-init --dry-run from the image prints the owner-exempt REDIRECT rules', () => {
  // The transparent config is in place from the previous test.
  const r = inImage(['/usr/local/bin/cosmoseal', 'capture-init', '--proxy-uid', String(PROXY_UID), '--config', '/etc/cosmoseal/cosmoseal.yaml', '--dry-run'], { user: '0:0' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^iptables -t nat -A COSMOSEAL_OUTPUT -m owner --uid-owner 65532 -j RETURN$/m);
  assert.match(r.stdout, /^iptables -t nat -A COSMOSEAL_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 8081$/m);
  assert.match(r.stdout, /^ip6tables -t nat -A OUTPUT -p tcp -j COSMOSEAL_OUTPUT$/m);
});

for (const backend of ['nft', 'legacy']) {
  test(`capture-init with the image's iptables (${backend}) in a network namespace, as root with NET_ADMIN + NET_RAW only, read-only root`, () => {
    const ns = `csimg-${backend}-${process.pid}`;
    must('ip', ['netns', 'add', ns]);
    onCleanup(() => run('ip', ['netns', 'del', ns]));
    try {
      const env = backend === 'legacy' ? { PATH: '/usr/lib/cosmoseal/legacy:/usr/local/bin:/usr/sbin:/usr/bin' } : {};
      const caps = '-all,+net_admin,+net_raw,+sys_chroot';
      const r = inImage(['/usr/local/bin/cosmoseal', 'capture-init', '--proxy-uid', String(PROXY_UID), '--config', '/etc/cosmoseal/cosmoseal.yaml'], { user: '0:0', ns, caps, env, readOnly: true });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /port\(s\) 443 now goes to 127\.0\.0\.1:8081 \(cosmoseal\); uid 65532 is exempt/);
      // Only capture-init's own lines: the iptables probes print nothing.
      assert.ok(r.stdout.split('\n').filter(Boolean).every((l) => l.startsWith('capture-init: ')), r.stdout);
      // Read back with the host's tool of the same backend: the rules really are in the kernel.
      const rules = must('ip', ['netns', 'exec', ns, `iptables-${backend}`, '-t', 'nat', '-S', 'COSMOSEAL_OUTPUT']);
      assert.match(rules, /-A COSMOSEAL_OUTPUT -m owner --uid-owner 65532 -j RETURN/);
      assert.match(rules, /-A COSMOSEAL_OUTPUT -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8081/);
      // Idempotent: a second run leaves one jump and one set of rules.
      const again = inImage(['/usr/local/bin/cosmoseal', 'capture-init', '--proxy-uid', String(PROXY_UID), '--config', '/etc/cosmoseal/cosmoseal.yaml'], { user: '0:0', ns, caps, env, readOnly: true });
      assert.equal(again.code, 0, again.stderr);
      const out = must('ip', ['netns', 'exec', ns, `iptables-${backend}`, '-t', 'nat', '-S', 'OUTPUT']);
      assert.equal(out.match(/-j COSMOSEAL_OUTPUT/g)?.length, 1, out);
      // Without NET_ADMIN it fails loudly (an init container missing the capability).
      const denied = inImage(['/usr/local/bin/cosmoseal', 'capture-init', '--proxy-uid', String(PROXY_UID), '--config', '/etc/cosmoseal/cosmoseal.yaml'], { user: '0:0', ns, caps: '-all,+sys_chroot', env });
      assert.notEqual(denied.code, 0, 'capture-init succeeded without NET_ADMIN');
    } finally {
      run('ip', ['netns', 'del', ns]);
    }
  });
}
