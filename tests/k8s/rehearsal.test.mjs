// The pod rehearsal: k8s/examples/transparent, rendered with kubectl kustomize, played for real on
// this machine with network namespaces instead of a cluster.
//
//   "cloud" netns   the signature-checking front over @vercel/cosmosdb-server (tests/e2e/lib),
//                   TLS on <veth>:443 as acct.documents.azure.com, certificate from a test CA
//   "pod" netns     what the kubelet would make of the rendered Deployment:
//                   - the capture init container: `cosmoseal capture-init` from the image's root
//                     file system (scripts/build-image --rootfs-only), root with only the
//                     capabilities the manifest adds
//                   - the cosmoseal sidecar from the same rootfs, chrooted, read-only root, as the
//                     manifest's runAsUser/runAsGroup (+ fsGroup), no capabilities, no_new_privs,
//                     its ConfigMap/Secret volumes written like the kubelet's (..data symlink) and
//                     bind-mounted read-only at the manifest's mountPaths
//                   - the app container: k8s/examples/app/app/app.js (the real @azure/cosmos SDK)
//                     under the app's uid with the manifest's env: the unchanged endpoint
//                     https://acct.documents.azure.com:443/, its client key, NODE_EXTRA_CA_CERTS
//                     pointing at the mounted interception CA certificate
//   Name resolution in the pod: /etc/netns/<pod>/hosts (ip netns exec bind-mounts it) and the same
//   file as the sidecar's /etc/hosts. The probes reach the admin port through the pod IP, from the
//   cloud namespace, as the kubelet's would.
//
// Asserts: CRUD + query work through the unchanged endpoint; the stored documents hold ciphertext
// at the protected paths (read directly from the cloud namespace); every request the server saw
// was signed with the account key; an SNI name outside allowed_hosts is refused; a client-key
// rotation through the Secret volume is picked up by watch: true; with cosmoseal stopped the app
// cannot reach the account at all (no bypass), and nothing reaches the cloud.
//
// Needs root, ip/iptables/setpriv/unshare/chroot, network namespaces, kubectl and the e2e node
// modules: otherwise it exits 77 (skipped), except missing node modules, which fail.
//
//   node tests/k8s/rehearsal.test.mjs     (ctest: k8s.rehearsal; REHEARSAL_KEEP=1 keeps the work dir)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import { REPO_ROOT, findContainer, parseYaml, podSpecOf, render, requireKubectl } from './lib/kube.mjs';
import {
  assembleRootfs, cosmosealBin, kubeletVolume, must, onCleanup, reapStaleNamespaces, requireRootNetns, run,
} from './lib/sys.mjs';
import { makeTestSecrets, randomKey, secretData } from './lib/testdata.mjs';

requireRootNetns(['node']);
const kubectl = requireKubectl();
const E2E_MODULES = path.join(REPO_ROOT, 'tests', 'e2e', 'node_modules');
if (!fs.existsSync(path.join(E2E_MODULES, '@azure', 'cosmos')) || !fs.existsSync(path.join(E2E_MODULES, '@vercel', 'cosmosdb-server'))) {
  console.error(`the e2e node modules are missing (${E2E_MODULES}): run scripts/install-deps.sh`);
  process.exit(1);
}
const { createPki, issueCert } = await import('../e2e/lib/pki.mjs');
const YAML = await import('yaml');

const bin = cosmosealBin();
const HOST = 'acct.documents.azure.com';
const ROGUE_HOST = 'rogue.documents.azure.com';
const EXAMPLE_HOST = 'myaccount.documents.azure.com';
const CLOUD_IP = '198.18.0.1';
const POD_IP = '198.18.0.2';
const tag = String(process.pid);
const NS_CLOUD = `csr-cloud-${tag}`;
const NS_POD = `csr-pod-${tag}`;
const VETH_CLOUD = `csrc${tag}`.slice(0, 15);
const VETH_POD = `csrp${tag}`.slice(0, 15);
const APP = path.join(REPO_ROOT, 'k8s', 'examples', 'app', 'app', 'app.js');
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const note = (msg) => console.log(`# [${elapsed()}] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Secret files as the kubelet writes them for a pod with fsGroup: owner root, group fsGroup, the
// defaultMode plus group read (0400 -> 0440). cosmoseal refuses group-readable key files today
// (keys.file_permissions), so by default the rehearsal gives them to the sidecar's uid with the
// plain defaultMode instead; REHEARSAL_KUBELET_PERMS=1 uses the kubelet's layout (see
// docs/KUBERNETES.md, "Key file permissions").
const KUBELET_PERMS = process.env.REHEARSAL_KUBELET_PERMS === '1';

reapStaleNamespaces('csr');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-rehearsal-'));
fs.chmodSync(work, 0o755);
onCleanup(() => {
  if (process.env.REHEARSAL_KEEP === '1') console.log(`# work dir kept: ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
});

// ---- the rendered pod --------------------------------------------------------------------------
const objects = render(kubectl, 'k8s/examples/transparent');
const deployment = objects.find((o) => o.kind === 'Deployment');
const pod = podSpecOf(deployment);
const captureC = findContainer(pod.initContainers, 'cosmoseal-capture');
const sidecarC = findContainer(pod.initContainers, 'cosmoseal');
const appC = findContainer(pod.containers, 'app');
const fsGroup = pod.securityContext?.fsGroup;
const proxyUid = sidecarC.securityContext.runAsUser;
const appUid = appC.securityContext.runAsUser;
const appGid = appC.securityContext.runAsGroup ?? appUid;

// ---- state shared by the tests -----------------------------------------------------------------
let rootfs;
let secrets;
let volumes; // name -> {dir, update, perms}
let cloud;
let sidecar;
let sidecarLog;
let firstRun;
let hostsFile;
const children = new Set();
onCleanup(() => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The cloud process: JSON lines on stdin/stdout (tests/k8s/lib/cloud.mjs). */
async function startCloud(opts) {
  const child = spawn('ip', ['netns', 'exec', NS_CLOUD, process.execPath, path.join(REPO_ROOT, 'tests/k8s/lib/cloud.mjs'), JSON.stringify(opts)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const stderr = [];
  child.stderr.on('data', (c) => stderr.push(c));
  const pending = new Map();
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`cloud exited (${code}): ${Buffer.concat(stderr)}`)));
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.event === 'ready') return ready(msg);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg);
    else p.reject(new Error(`cloud: ${msg.error}`));
  });
  let seq = 0;
  const call = (cmd, args = {}) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  await readyP;
  return { child, call };
}

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Runs a container of the rendered pod in the pod namespace: a private mount namespace in which
 * the image's rootfs is bind-mounted read-only with the container's volumes on top (read-only
 * where the manifest says so) and the pod's hosts file, then setpriv (capability bounding set,
 * no_new_privs) and chroot to the container's uid/gid with the fsGroup as supplementary group.
 * Returns the spawned child (its pid is the container's process: every step execs).
 */
function runContainer(c, { env = {}, logFile, extraMounts = [] } = {}) {
  const sc = c.securityContext || {};
  const uid = sc.runAsUser ?? 0;
  const gid = sc.runAsGroup ?? uid;
  const add = (sc.capabilities?.add || []).map((x) => `+${x.toLowerCase()}`);
  const bounding = ['-all', ...add, '+sys_chroot', ...(uid === 0 ? [] : ['+setuid', '+setgid'])].join(',');
  const mounts = [
    ...(c.volumeMounts || []).map((m) => ({ host: volumes.get(m.name).dir, target: m.mountPath, ro: m.readOnly === true })),
    { host: hostsFile, target: '/etc/hosts', ro: true, file: true },
    ...extraMounts,
  ];
  for (const m of mounts) {
    const t = path.join(rootfs, m.target);
    if (m.file) {
      fs.mkdirSync(path.dirname(t), { recursive: true });
      if (!fs.existsSync(t)) fs.writeFileSync(t, '');
    } else {
      fs.mkdirSync(t, { recursive: true });
    }
  }
  const envList = Object.entries({ PATH: '/usr/local/bin:/usr/sbin:/usr/bin', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', ...env }).map(
    ([k, v]) => `${k}=${v}`,
  );
  const user = uid === 0 ? [] : [`--userspec=${uid}:${gid}`, `--groups=${[gid, fsGroup].filter((g) => g !== undefined).join(',')}`];
  const script = [
    'set -e',
    `mount --bind ${shq(rootfs)} ${shq(rootfs)}`,
    ...mounts.flatMap((m) => {
      const t = shq(path.join(rootfs, m.target));
      return [`mount --bind ${shq(m.host)} ${t}`, ...(m.ro ? [`mount -o remount,bind,ro ${t}`] : [])];
    }),
    ...(sc.readOnlyRootFilesystem ? [`mount -o remount,bind,ro ${shq(rootfs)}`] : []),
    `exec env -i ${envList.map(shq).join(' ')} setpriv --bounding-set=${bounding} --inh-caps=-all` +
      `${sc.allowPrivilegeEscalation === false ? ' --no-new-privs' : ''}${uid === 0 ? ' --clear-groups' : ''}` +
      ` chroot ${user.map(shq).join(' ')} ${shq(rootfs)} ${[...(c.command || ['/usr/local/bin/cosmoseal']), ...(c.args || [])].map(shq).join(' ')}`,
  ].join('\n');
  const out = logFile ? fs.openSync(logFile, 'a') : 'pipe';
  const child = spawn('ip', ['netns', 'exec', NS_POD, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], {
    stdio: ['ignore', out, out],
  });
  if (logFile) fs.closeSync(out);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

/** Runs the app container once (the example app with INTERVAL_SECONDS=0) as the manifest's user. */
async function runApp({ key, runId, timeoutMs = 20000 } = {}) {
  const env = {};
  for (const e of appC.env || []) {
    if (e.value !== undefined) env[e.name] = e.value.replaceAll(EXAMPLE_HOST, HOST);
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key: k } = e.valueFrom.secretKeyRef;
      env[e.name] = secretData(secrets, name, k);
    }
  }
  if (key) env.COSMOS_KEY = key;
  // The container's mounts, seen from the host: NODE_EXTRA_CA_CERTS points into a mounted volume.
  for (const m of appC.volumeMounts || []) {
    for (const [k, v] of Object.entries(env)) {
      if (typeof v === 'string' && v.startsWith(`${m.mountPath}/`)) env[k] = path.join(volumes.get(m.name).dir, v.slice(m.mountPath.length + 1));
    }
  }
  Object.assign(env, {
    PATH: '/usr/bin:/bin',
    HOME: '/nonexistent',
    NODE_PATH: E2E_MODULES,
    INTERVAL_SECONDS: '0',
    RUN_ID: runId,
  });
  const args = [
    'netns', 'exec', NS_POD, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    'setpriv', `--reuid=${appUid}`, `--regid=${appGid}`, `--groups=${[appGid, fsGroup].filter((g) => g !== undefined).join(',')}`,
    '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
    process.execPath, APP,
  ];
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out = [];
  const err = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  const r = await waitExit(child, timeoutMs);
  children.delete(child);
  if (!r) child.kill('SIGKILL');
  const stdout = Buffer.concat(out).toString('utf8');
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  return { exit: r, stdout, stderr: Buffer.concat(err).toString('utf8'), result: line ? JSON.parse(line) : null };
}

/** An unprivileged TLS client in the pod (the app's uid) connecting to host:443 with SNI host. */
async function tlsFromPod(host) {
  const code = `const tls=require('tls');const s=tls.connect({host:${JSON.stringify(host)},port:443,servername:${JSON.stringify(host)},` +
    `ca:require('fs').readFileSync(process.env.CA)},()=>{console.log('CONNECTED '+s.getPeerCertificate().subject.CN);s.end();process.exit(0)});` +
    `s.on('error',e=>{console.log('ERROR '+(e.code||'')+' '+e.message);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},5000)`;
  const ca = path.join(volumes.get('cosmoseal-intercept-ca-cert').dir, 'ca.crt');
  const r = run('ip', ['netns', 'exec', NS_POD, 'env', '-i', `CA=${ca}`, 'setpriv', `--reuid=${appUid}`, `--regid=${appGid}`, '--clear-groups', '--no-new-privs',
    process.execPath, '-e', code], { timeoutMs: 10000 });
  return r.stdout.trim();
}

async function metric(name) {
  const r = await cloud.call('probe', { url: `http://${POD_IP}:9901/metrics` });
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

function report() {
  return cloud.call('report');
}

before(async () => {
  // The image's root file system, as the pod's containers would see it.
  rootfs = assembleRootfs(path.join(work, 'rootfs'), bin);
  note(`image rootfs assembled (scripts/build-image --rootfs-only)`);

  // Test material, made the way docs/KUBERNETES.md tells an operator to.
  secrets = makeTestSecrets(path.join(work, 'secrets'), bin, { hosts: [HOST] });
  const cloudPki = createPki(path.join(work, 'cloud'));
  const acct = issueCert(cloudPki, 'account', { dns: [HOST, 'localhost'], ips: ['127.0.0.1'] });

  // The ConfigMap's cosmoseal.yaml, pointed at the test account; the only addition is the test
  // CA for the upstream (a real pod verifies Azure's certificate with the image's CA bundle).
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cosmoseal-config');
  const cfg = parseYaml(cm.data['cosmoseal.yaml'].replaceAll(EXAMPLE_HOST, HOST));
  cfg.upstream.ca_file = '/etc/cosmoseal/upstream-ca.crt';
  const cmData = { 'cosmoseal.yaml': YAML.stringify(cfg), 'upstream-ca.crt': fs.readFileSync(cloudPki.caCert) };

  // Volumes as the kubelet writes them.
  volumes = new Map();
  for (const v of pod.volumes) {
    const dir = path.join(work, 'volumes', v.name);
    let files;
    let perms;
    if (v.configMap) {
      files = cmData;
      perms = { mode: v.configMap.defaultMode ?? 0o644, uid: 0, gid: 0 };
    } else if (v.secret) {
      const obj = objects.find((o) => o.kind === 'Secret' && o.metadata.name === v.secret.secretName);
      assert.ok(obj, `Secret ${v.secret.secretName} is rendered`);
      const keys = Object.keys(obj.data || {});
      const items = v.secret.items ?? keys.map((k) => ({ key: k, path: k }));
      files = {};
      for (const it of items) {
        const content = secretData(secrets, obj.metadata.name, it.key);
        assert.ok(content !== undefined, `no test data for Secret ${obj.metadata.name} key ${it.key}`);
        files[it.path] = content;
      }
      const mode = v.secret.defaultMode ?? 0o644;
      const cosmosealOnly = (sidecarC.volumeMounts || []).some((m) => m.name === v.name);
      if (KUBELET_PERMS || !cosmosealOnly) {
        perms = { mode: fsGroup !== undefined ? mode | 0o440 : mode, uid: 0, gid: fsGroup ?? 0 };
      } else {
        perms = { mode, uid: proxyUid, gid: proxyUid };
      }
    } else {
      throw new Error(`volume ${v.name}: only ConfigMap and Secret volumes are rehearsed`);
    }
    volumes.set(v.name, { ...kubeletVolume(dir, files, perms), perms });
  }
  note(`volumes written kubelet-style: ${[...volumes.keys()].join(', ')}${KUBELET_PERMS ? ' (kubelet permissions)' : ''}`);

  // Namespaces, the veth between them, the pod's hosts file.
  must('ip', ['netns', 'add', NS_CLOUD]);
  onCleanup(() => run('ip', ['netns', 'del', NS_CLOUD]));
  must('ip', ['netns', 'add', NS_POD]);
  onCleanup(() => run('ip', ['netns', 'del', NS_POD]));
  must('ip', ['-n', NS_CLOUD, 'link', 'add', VETH_CLOUD, 'type', 'veth', 'peer', 'name', VETH_POD, 'netns', NS_POD]);
  for (const [ns, dev, ip] of [[NS_CLOUD, VETH_CLOUD, CLOUD_IP], [NS_POD, VETH_POD, POD_IP]]) {
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    must('ip', ['-n', ns, 'addr', 'add', `${ip}/30`, 'dev', dev]);
    must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  const hosts = `127.0.0.1 localhost\n::1 localhost\n${POD_IP} orders-api-pod\n${CLOUD_IP} ${HOST}\n${CLOUD_IP} ${ROGUE_HOST}\n`;
  fs.mkdirSync(`/etc/netns/${NS_POD}`, { recursive: true });
  onCleanup(() => {
    fs.rmSync(`/etc/netns/${NS_POD}`, { recursive: true, force: true });
    try {
      fs.rmdirSync('/etc/netns'); // only if empty (ip netns exec reads it; nobody else here uses it)
    } catch {
      /* not empty, or absent */
    }
  });
  fs.writeFileSync(`/etc/netns/${NS_POD}/hosts`, hosts);
  hostsFile = path.join(work, 'hosts');
  fs.writeFileSync(hostsFile, hosts);
  note(`namespaces ${NS_CLOUD} (${CLOUD_IP}) and ${NS_POD} (${POD_IP}) connected`);

  cloud = await startCloud({
    dir: path.join(work, 'cloud'),
    listen: CLOUD_IP,
    port: 443,
    accountKey: secrets.accountKey,
    clientKeys: secrets.clientKeys,
    cert: acct.cert,
    key: acct.key,
    caCert: cloudPki.caCert,
  });
  note(`cloud: cosmosdb-server behind the signature-checking front on https://${HOST}:443/ (${CLOUD_IP})`);
});

after(async () => {
  if (sidecar && sidecar.exitCode === null && sidecar.signalCode === null) sidecar.kill('SIGKILL');
  if (cloud) {
    await cloud.call('quit').catch(() => {});
    await waitExit(cloud.child, 3000);
  }
  if (sidecarLog && fs.existsSync(sidecarLog)) {
    note('cosmoseal log (tail):');
    for (const l of fs.readFileSync(sidecarLog, 'utf8').trim().split('\n').slice(-12)) console.log(`#   ${l}`);
  }
});

test('the capture init container installs the owner-exempt redirect (root, manifest capabilities only)', async () => {
  const log = path.join(work, 'capture.log');
  const child = runContainer(captureC, { logFile: log });
  const r = await waitExit(child, 20000);
  const out = fs.readFileSync(log, 'utf8');
  assert.deepEqual(r, { code: 0, signal: null }, `capture-init failed:\n${out}`);
  assert.match(out, new RegExp(`port\\(s\\) 443 now goes to 127\\.0\\.0\\.1:8081 \\(cosmoseal\\); uid ${proxyUid} is exempt`));
  const rules = must('ip', ['netns', 'exec', NS_POD, 'iptables', '-t', 'nat', '-S', 'COSMOSEAL_OUTPUT']);
  assert.match(rules, new RegExp(`--uid-owner ${proxyUid} -j RETURN`));
  note(`capture-init: ${out.trim().split('\n').pop()}`);
});

test('the cosmoseal sidecar starts from the image under its own uid and turns ready on the pod IP', async () => {
  sidecarLog = path.join(work, 'cosmoseal.log');
  sidecar = runContainer(sidecarC, { logFile: sidecarLog });
  const probe = sidecarC.startupProbe.httpGet;
  const port = (sidecarC.ports || []).find((p) => p.name === probe.port)?.containerPort ?? probe.port;
  const deadline = Date.now() + 15000;
  let last;
  while (Date.now() < deadline) {
    if (sidecar.exitCode !== null || sidecar.signalCode !== null) break;
    last = await cloud.call('probe', { url: `http://${POD_IP}:${port}${probe.path}` });
    if (last.status === 200) break;
    await sleep(100);
  }
  assert.equal(last?.status, 200, `startupProbe ${probe.path} never succeeded (${JSON.stringify(last)}); log:\n${fs.readFileSync(sidecarLog, 'utf8')}`);
  const live = await cloud.call('probe', { url: `http://${POD_IP}:${port}${sidecarC.livenessProbe.httpGet.path}` });
  assert.equal(live.status, 200);
  const status = fs.readFileSync(`/proc/${sidecar.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${proxyUid}\\s+${proxyUid}\\s+${proxyUid}\\s+${proxyUid}$`, 'm'), 'runs as the manifest\'s runAsUser');
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) assert.match(status, new RegExp(`^${set}:\\s+0+$`, 'm'), `${set} is empty`);
  // The emulation keeps CAP_SETUID/SETGID/SYS_CHROOT in the bounding set (chroot --userspec needs
  // them before it drops to the user); with no_new_privs and no file capabilities they are unusable.
  const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)[1]}`);
  assert.equal(bnd & ~((1n << 6n) | (1n << 7n) | (1n << 18n)), 0n, 'bounding set beyond setuid/setgid/sys_chroot');
  assert.match(status, /^NoNewPrivs:\s+1$/m, 'no_new_privs (allowPrivilegeEscalation: false)');
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  note(`cosmoseal ready (pid ${sidecar.pid}, uid ${proxyUid}, no capabilities, RSS ${Math.round(rss / 1024)} MiB); GET http://${POD_IP}:${port}${probe.path} -> 200`);
});

test('the unchanged app (real endpoint, client key) does CRUD + a query through the capture', async () => {
  const runId = crypto.randomBytes(4).toString('hex');
  await cloud.call('addCanaries', { values: [`ssn-${runId}-1`, `1 ${runId} Lane`, `4111-${runId}-1`, `ssn-${runId}-1-temp`, `4111-${runId}-1-temp`] });
  firstRun = await runApp({ runId });
  assert.ok(firstRun.result, `the app printed no result (exit ${JSON.stringify(firstRun.exit)}):\n${firstRun.stdout}${firstRun.stderr}`);
  assert.equal(firstRun.result.ok, true, `the app failed: ${JSON.stringify(firstRun.result)}\n${firstRun.stderr}`);
  assert.deepEqual(firstRun.result.steps, { setup: true, create: 201, read: true, replace: 200, readAfterReplace: true, query: true, delete: 204 });
  assert.deepEqual(firstRun.exit, { code: 0, signal: null });
  note(`app (uid ${appUid}, COSMOS_ENDPOINT=https://${HOST}:443/): ${JSON.stringify(firstRun.result.steps)}`);
});

test('the account stored ciphertext at the protected paths (read directly in the cloud namespace)', async () => {
  const { doc } = await cloud.call('read', { db: 'shop', container: 'customers', docId: firstRun.result.id, pk: firstRun.result.id });
  assert.ok(doc, 'the document is stored');
  const written = firstRun.result.written;
  for (const [where, v] of [['ssn', doc.ssn], ['address', doc.address], ['cards[0].number', doc.cards?.[0]?.number]]) {
    assert.ok(typeof v === 'string' && v.startsWith('csx1:'), `${where} is stored as ${JSON.stringify(v)}, not an envelope`);
  }
  assert.equal(doc.name, written.name, 'unprotected fields stay as written');
  assert.equal(doc.tier, 'gold');
  assert.equal(doc.cards[0].brand, 'visa');
  note(`stored: ssn=${doc.ssn.slice(0, 24)}..., address=${doc.address.slice(0, 24)}..., name=${JSON.stringify(doc.name)}`);
});

test('every request the account saw came through cosmoseal, re-signed with the account key, canary-free', async () => {
  const r = await report();
  assert.ok(r.requests.length >= 8, `only ${r.requests.length} requests reached the account`);
  const viaPod = r.requests.filter((q) => q.origin !== 'direct'); // not the test's own direct reads
  assert.ok(viaPod.length >= 8, `only ${viaPod.length} requests came from the pod`);
  const bad = viaPod.filter((q) => !q.verified || q.signedWith !== 'account' || q.listener !== 'main');
  assert.deepEqual(bad, [], 'requests not signed with the account key, or around cosmoseal');
  assert.ok(viaPod.every((q) => q.host === HOST || q.host === `${HOST}:443`), 'Host is the account');
  assert.deepEqual(r.canaryHits, [], 'plaintext of a protected field reached the account');
  const log = fs.readFileSync(sidecarLog, 'utf8');
  assert.match(log, new RegExp(`issued a certificate for ${HOST.replace(/\./g, '\\.')}`));
  note(`account saw ${viaPod.length} requests from the pod, all signed with the account key; 0 canary hits`);
});

test('an SNI name outside listen.transparent.allowed_hosts is refused in the pod', async () => {
  const before = await cloud.call('mark');
  const out = await tlsFromPod(ROGUE_HOST);
  assert.match(out, /^ERROR /, `a TLS connection for ${ROGUE_HOST} got through: ${out}`);
  const since = await cloud.call('since', { mark: before.mark });
  assert.equal(since.connections, 0, 'the refused connection must not reach the account');
  const ok = await tlsFromPod(HOST);
  assert.equal(ok, `CONNECTED ${HOST}`, 'the allowed host gets a certificate from the interception CA');
  note(`SNI ${ROGUE_HOST}: ${out}`);
});

test('a client-key rotation through the Secret volume is reloaded (watch: true)', async () => {
  const reloads = await metric('cosmoseal_reloads_total');
  assert.ok(reloads !== null, 'cosmoseal_reloads_total is exported on the admin port');
  const oldKey = secrets.clientKeys['orders-api'];
  const newKey = randomKey();
  secrets.clientKeys['orders-api'] = newKey;
  volumes.get('cosmoseal-clients').update({ 'orders-api': newKey });
  const deadline = Date.now() + 15000;
  let now = reloads;
  while (Date.now() < deadline && now === reloads) {
    await sleep(200);
    now = await metric('cosmoseal_reloads_total');
  }
  assert.ok(now > reloads, 'cosmoseal did not reload after the kubelet-style Secret update');
  const withNew = await runApp({ runId: crypto.randomBytes(4).toString('hex') });
  assert.equal(withNew.result?.ok, true, `the new client key is refused: ${withNew.stdout}${withNew.stderr}`);
  const withOld = await runApp({ key: oldKey, runId: crypto.randomBytes(4).toString('hex') });
  assert.equal(withOld.result?.ok, false, 'the retired client key still works');
  assert.match(withOld.result.error, /401|Unauthorized|auth/i);
  note(`rotation: reloads ${reloads} -> ${now}; new key works, old key: ${withOld.result.error.slice(0, 100)}`);
});

test('with cosmoseal stopped the app cannot reach the account: no bypass', async () => {
  sidecar.kill('SIGTERM');
  const r = await waitExit(sidecar, 30000);
  assert.deepEqual(r, { code: 0, signal: null }, 'cosmoseal drains and exits 0 on SIGTERM');
  const mark = await cloud.call('mark');
  const res = await runApp({ runId: crypto.randomBytes(4).toString('hex'), timeoutMs: 60000 });
  assert.equal(res.result?.ok, false, `the app still works without cosmoseal: ${res.stdout}`);
  assert.match(`${res.result?.error}`, /ECONNREFUSED|connect/i);
  const direct = await tlsFromPod(HOST);
  assert.match(direct, /^ERROR .*ECONNREFUSED/, `a direct TLS connection from the app's uid: ${direct}`);
  const since = await cloud.call('since', { mark: mark.mark });
  assert.deepEqual({ connections: since.connections, bytes: since.bytes, requests: since.requests }, { connections: 0, bytes: 0, requests: 0 },
    'something reached the account while cosmoseal was down');
  note(`cosmoseal stopped (exit 0); app: ${res.result.error.slice(0, 100)}; account saw 0 connections`);
});
