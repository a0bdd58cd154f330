// Can cosmoseal, as the manifests run it (uid/gid 65532, pod fsGroup 65532), read its keys from
// Secret volumes written the way the kubelet writes them?
//
// The kubelet leaves Secret volume files owned by root. With defaultMode 0400 and no fsGroup,
// uid 65532 cannot open them at all (EACCES). With fsGroup it makes them root:<fsGroup> and adds
// group read: 0400 becomes 0440 (kubernetes/kubernetes#57923; there is no way to make them owned
// by the container's uid).
//
// cosmoseal applies PostgreSQL's rule for its key file (crypto::secretFilePermissionProblem): a
// key file, keyring or CA key owned by root may be group-readable (not group-writable, nothing
// for other) when its group is one of the process's groups and the process is not root;
// everything else stays refused. This test asserts that:
//   root:65532 0440 accepted;  root:root 0400 refused (unreadable);  0444 and 0460 refused.
// Needs root (chown, setpriv): otherwise it exits 77 (skipped).
//
//   node tests/k8s/secret-volume.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { K8S_DIR, skip } from './lib/kube.mjs';
import { cosmosealBin, kubeletVolume, onCleanup, run } from './lib/sys.mjs';
import { makeTestSecrets } from './lib/testdata.mjs';

if (process.getuid() !== 0) skip('needs root (chown to 65532, setpriv)');
const bin = cosmosealBin();
const UID = 65532;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-secret-volume-'));
fs.chmodSync(work, 0o755);
onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
const secrets = makeTestSecrets(path.join(work, 'material'), bin, { hosts: ['myaccount.documents.azure.com'] });

/** Writes the transparent example's Secrets as volumes with `perms` and returns the config path. */
function layout(name, perms) {
  const root = path.join(work, name);
  const vol = (dir, files) => kubeletVolume(path.join(root, dir), files, perms);
  vol('account', { 'account-key': secrets.accountKey });
  vol('clients', { 'orders-api': secrets.clientKeys['orders-api'] });
  vol('keys', { 'keyring.yaml': secrets.keyring, kek: secrets.kek });
  vol('intercept-ca', { 'tls.crt': secrets.caCert, 'tls.key': secrets.caKey });
  const cfg = fs.readFileSync(path.join(K8S_DIR, 'examples', 'transparent', 'cosmoseal.yaml'), 'utf8')
    .replaceAll('/var/run/secrets/cosmos/', `${root}/account/`)
    .replaceAll('/var/run/secrets/cosmoseal/clients/', `${root}/clients/`)
    .replaceAll('/var/run/secrets/cosmoseal/keys/', `${root}/keys/`)
    .replaceAll('/var/run/secrets/cosmoseal/intercept-ca/', `${root}/intercept-ca/`);
  const file = path.join(root, 'cosmoseal.yaml');
  fs.writeFileSync(file, cfg, { mode: 0o644 });
  return file;
}

function checkAs(config) {
  const r = run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, `--groups=${UID}`, '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
    bin, 'check', '--config', config]);
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

test('fsGroup layout (root:65532 0440, what the kubelet writes for defaultMode 0400 + fsGroup) is accepted', () => {
  const r = checkAs(layout('fsgroup', { uid: 0, gid: UID, mode: 0o440 }));
  assert.equal(r.code, 0, `cosmoseal refuses the kubelet's Secret files:\n${r.out}`);
});

test('no fsGroup (root:root 0400): unreadable for uid 65532, refused', () => {
  const r = checkAs(layout('nofsgroup', { uid: 0, gid: 0, mode: 0o400 }));
  assert.notEqual(r.code, 0);
  assert.match(r.out, /Permission denied|keys\.file_unreadable|cannot open/);
});

test('other-readable (0444) and group-writable (0460) stay refused', () => {
  for (const [name, mode] of [['other', 0o444], ['groupwrite', 0o460]]) {
    const r = checkAs(layout(name, { uid: 0, gid: UID, mode }));
    assert.notEqual(r.code, 0, `mode ${mode.toString(8)} accepted:\n${r.out}`);
    assert.match(r.out, /group or other may access it|mode/);
  }
});
