// The pod rehearsal: k8s/examples/transparent (and k8s/examples/app, gateway mode), rendered with
// kubectl kustomize, played for real on this machine with network namespaces instead of a cluster.
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
// Asserts (transparent): CRUD + query work through the unchanged endpoint; the stored documents
// hold ciphertext at the protected paths (read directly from the cloud namespace); every request
// the server saw was signed with the account key; an SNI name outside allowed_hosts is refused; a
// client-key rotation through the Secret volume is picked up by watch: true; with cosmoseal
// stopped the app cannot reach the account at all (no bypass), and nothing reaches the cloud.
// Asserts (gateway, a second pod namespace): the same CRUD/ciphertext/signature checks with the
// app on http://127.0.0.1:8081/; the app going around the sidecar with its client key (which a
// NetworkPolicy cannot stop) is refused by the account; SIGTERM drains and exits 0.
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
const tag = String(process.pid);
const NS_CLOUD = `csr-cloud-${tag}`;
const APP = path.join(REPO_ROOT, 'k8s', 'examples', 'app', 'app', 'app.js');
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const note = (msg) => console.log(`# [${elapsed()}] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// Secret files are written as the kubelet writes them for a pod with fsGroup: owner root, group
// fsGroup, the defaultMode plus group read (0400 -> 0440); cosmoseal, running as 65532 with
// that supplementary group, must accept them (docs/KUBERNETES.md, "Key file permissions").

reapStaleNamespaces('csr');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-rehearsal-'));
const appFilesByUid = new Map(); // "uid:gid" -> {app, modules} (Pod.appFiles)
fs.chmodSync(work, 0o755);
onCleanup(() => {
  if (process.env.REHEARSAL_KEEP === '1') console.log(`# work dir kept: ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
});

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
function track(child) {
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

/** The cloud process: JSON lines on stdin/stdout (tests/k8s/lib/cloud.mjs). */
async function startCloud(opts) {
  const child = track(spawn('ip', ['netns', 'exec', NS_CLOUD, process.execPath, path.join(REPO_ROOT, 'tests/k8s/lib/cloud.mjs'), JSON.stringify(opts)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  }));
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

// ---- shared: the image's rootfs, the cloud -------------------------------------------------------
let rootfs;
let cloud;
let cloudPki;
const accountKey = randomKey();

/**
 * One rehearsed pod: a rendered example (kubectl kustomize), its own network namespace joined to
 * the cloud namespace by a veth pair, its volumes written kubelet-style, its containers.
 */
class Pod {
  constructor(example, index, label) {
    this.example = example;
    this.label = label;
    this.ns = `csr-${example}-${tag}`;
    this.cloudIp = `198.18.0.${index * 4 + 1}`;
    this.ip = `198.18.0.${index * 4 + 2}`;
    this.vethCloud = `csc${index}${tag}`.slice(0, 15);
    this.vethPod = `csp${index}${tag}`.slice(0, 15);
    this.dir = path.join(work, example);
    this.objects = render(kubectl, `k8s/examples/${example}`);
    this.spec = podSpecOf(this.objects.find((o) => o.kind === 'Deployment'));
    this.capture = findContainer(this.spec.initContainers, 'cosmoseal-capture');
    this.sidecarC = findContainer(this.spec.initContainers, 'cosmoseal');
    this.appC = findContainer(this.spec.containers, 'app');
    this.fsGroup = this.spec.securityContext?.fsGroup;
    this.proxyUid = this.sidecarC.securityContext.runAsUser;
    this.appUid = this.appC.securityContext.runAsUser;
    this.appGid = this.appC.securityContext.runAsGroup ?? this.appUid;
    const port = (c, p) => (typeof p === 'number' ? p : (c.ports || []).find((x) => x.name === p)?.containerPort);
    this.adminPort = port(this.sidecarC, this.sidecarC.readinessProbe.httpGet.port);
  }

  async setup() {
    fs.mkdirSync(this.dir, { recursive: true });
    // Test material, made the way docs/KUBERNETES.md tells an operator to; one account for all pods.
    this.secrets = makeTestSecrets(path.join(this.dir, 'material'), bin, { hosts: [HOST] });
    this.secrets.accountKey = accountKey;

    // The ConfigMap's cosmoseal.yaml, pointed at the test account; the only addition is the test
    // CA for the upstream (a real pod verifies Azure's certificate with the image's CA bundle).
    const cm = this.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cosmoseal-config');
    this.config = parseYaml(cm.data['cosmoseal.yaml'].replaceAll(EXAMPLE_HOST, HOST));
    this.config.upstream.ca_file = '/etc/cosmoseal/upstream-ca.crt';
    const cmData = { 'cosmoseal.yaml': YAML.stringify(this.config), 'upstream-ca.crt': fs.readFileSync(cloudPki.caCert) };

    // Volumes as the kubelet writes them.
    this.volumes = new Map();
    for (const v of this.spec.volumes) {
      let files;
      let perms;
      if (v.configMap) {
        files = cmData;
        perms = { mode: v.configMap.defaultMode ?? 0o644, uid: 0, gid: 0 };
      } else if (v.secret) {
        const obj = this.objects.find((o) => o.kind === 'Secret' && o.metadata.name === v.secret.secretName);
        assert.ok(obj, `Secret ${v.secret.secretName} is rendered`);
        const items = v.secret.items ?? Object.keys(obj.data || {}).map((k) => ({ key: k, path: k }));
        files = {};
        for (const it of items) {
          const content = secretData(this.secrets, obj.metadata.name, it.key);
          assert.ok(content !== undefined, `no test data for Secret ${obj.metadata.name} key ${it.key}`);
          files[it.path] = content;
        }
        const mode = v.secret.defaultMode ?? 0o644;
        perms = { mode: this.fsGroup !== undefined ? mode | 0o440 : mode, uid: 0, gid: this.fsGroup ?? 0 };
      } else {
        throw new Error(`volume ${v.name}: only ConfigMap and Secret volumes are rehearsed`);
      }
      this.volumes.set(v.name, kubeletVolume(path.join(this.dir, 'volumes', v.name), files, perms));
    }

    // The namespace, the veth to the cloud, the hosts file (ip netns exec bind-mounts
    // /etc/netns/<ns>/hosts; the chrooted sidecar gets the same file as its /etc/hosts).
    must('ip', ['netns', 'add', this.ns]);
    onCleanup(() => run('ip', ['netns', 'del', this.ns]));
    must('ip', ['-n', NS_CLOUD, 'link', 'add', this.vethCloud, 'type', 'veth', 'peer', 'name', this.vethPod, 'netns', this.ns]);
    for (const [ns, dev, ip] of [[NS_CLOUD, this.vethCloud, this.cloudIp], [this.ns, this.vethPod, this.ip]]) {
      must('ip', ['-n', ns, 'addr', 'add', `${ip}/30`, 'dev', dev]);
      must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    must('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    const hosts = `127.0.0.1 localhost\n::1 localhost\n${this.ip} orders-api-pod\n${this.cloudIp} ${HOST}\n${this.cloudIp} ${ROGUE_HOST}\n`;
    fs.mkdirSync(`/etc/netns/${this.ns}`, { recursive: true });
    onCleanup(() => {
      fs.rmSync(`/etc/netns/${this.ns}`, { recursive: true, force: true });
      try {
        fs.rmdirSync('/etc/netns'); // only if empty
      } catch {
        /* not empty, or gone */
      }
    });
    fs.writeFileSync(`/etc/netns/${this.ns}/hosts`, hosts);
    this.hostsFile = path.join(this.dir, 'hosts');
    fs.writeFileSync(this.hostsFile, hosts);
    note(`${this.label}: pod namespace ${this.ns} (${this.ip}), volumes ${[...this.volumes.keys()].join(', ')} (kubelet permissions)`);
  }

  /**
   * Runs a container of the rendered pod in the pod namespace: a private mount namespace in which
   * the image's rootfs is bind-mounted read-only (readOnlyRootFilesystem) with the container's
   * volumes on top (read-only where the manifest says so) and the pod's hosts file, then setpriv
   * (capability bounding set, no_new_privs) and chroot to the container's uid/gid with the
   * fsGroup as supplementary group. Returns the child (its pid is the container's process).
   */
  runContainer(c, { env = {}, logFile } = {}) {
    const sc = c.securityContext || {};
    const uid = sc.runAsUser ?? 0;
    const gid = sc.runAsGroup ?? uid;
    const add = (sc.capabilities?.add || []).map((x) => `+${x.toLowerCase()}`);
    const bounding = ['-all', ...add, '+sys_chroot', ...(uid === 0 ? [] : ['+setuid', '+setgid'])].join(',');
    const mounts = [
      ...(c.volumeMounts || []).map((m) => ({ host: this.volumes.get(m.name).dir, target: m.mountPath, ro: m.readOnly === true })),
      { host: this.hostsFile, target: '/etc/hosts', ro: true, file: true },
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
    const envList = Object.entries({ PATH: '/usr/local/bin:/usr/sbin:/usr/bin', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', ...env })
      .map(([k, v]) => `${k}=${v}`);
    const user = uid === 0 ? [] : [`--userspec=${uid}:${gid}`, `--groups=${[gid, this.fsGroup].filter((g) => g !== undefined).join(',')}`];
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
    const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
    const child = track(spawn('ip', ['netns', 'exec', this.ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], {
      stdio: ['ignore', out, out],
    }));
    if (logFile) fs.closeSync(out);
    return child;
  }

  /** capture-init, as the pod's first init container; resolves with its output. */
  async runCapture() {
    const log = path.join(this.dir, 'capture.log');
    const r = await waitExit(this.runContainer(this.capture, { logFile: log }), 20000);
    return { exit: r, out: fs.readFileSync(log, 'utf8') };
  }

  /** Starts the sidecar and waits for its startupProbe, probed through the pod IP from the cloud. */
  async startSidecar() {
    this.sidecarLog = path.join(this.dir, 'cosmoseal.log');
    this.sidecar = this.runContainer(this.sidecarC, { logFile: this.sidecarLog });
    const probe = this.sidecarC.startupProbe.httpGet;
    const deadline = Date.now() + 15000;
    let last;
    while (Date.now() < deadline && this.sidecar.exitCode === null && this.sidecar.signalCode === null) {
      last = await this.probe(probe.path);
      if (last.status === 200) break;
      await sleep(100);
    }
    return last;
  }

  probe(p) {
    return cloud.call('probe', { url: `http://${this.ip}:${this.adminPort}${p}` });
  }

  async metric(name) {
    const r = await this.probe('/metrics');
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(r.body);
    return m ? Number(m[1]) : null;
  }

  log() {
    return fs.existsSync(this.sidecarLog) ? fs.readFileSync(this.sidecarLog, 'utf8') : '';
  }

  /** The app container once (INTERVAL_SECONDS=0), with the manifest's env and user. */
  /**
   * app.js and the SDK modules as the app's uid can read them: the checkout itself, or (when it
   * lies under a directory that uid cannot enter, e.g. a clone in a 0700 mktemp directory) a copy
   * in the work directory.
   */
  appFiles() {
    const cacheKey = `${this.appUid}:${this.appGid}`;
    if (appFilesByUid.has(cacheKey)) return appFilesByUid.get(cacheKey);
    let files;
    const readable = run('setpriv', [`--reuid=${this.appUid}`, `--regid=${this.appGid}`, '--clear-groups',
      'test', '-r', APP, '-a', '-r', path.join(E2E_MODULES, '@azure', 'cosmos', 'package.json')]).code === 0;
    if (readable) {
      files = { app: APP, modules: E2E_MODULES };
    } else {
      const dir = path.join(work, `app-copy-${this.appUid}`);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      fs.copyFileSync(APP, path.join(dir, 'app.js'));
      fs.cpSync(E2E_MODULES, path.join(dir, 'node_modules'), { recursive: true });
      run('chmod', ['-R', 'a+rX', dir]);
      files = { app: path.join(dir, 'app.js'), modules: path.join(dir, 'node_modules') };
      note(`${this.label}: the checkout is not readable by uid ${this.appUid}: the app runs from a copy in ${dir}`);
    }
    appFilesByUid.set(cacheKey, files);
    return files;
  }

  async runApp({ key, endpoint, extraEnv = {}, runId = crypto.randomBytes(4).toString('hex'), timeoutMs = 30000 } = {}) {
    const env = {};
    for (const e of this.appC.env || []) {
      if (e.value !== undefined) env[e.name] = e.value.replaceAll(EXAMPLE_HOST, HOST);
      else if (e.valueFrom?.secretKeyRef) env[e.name] = secretData(this.secrets, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
    }
    if (key) env.COSMOS_KEY = key;
    if (endpoint) env.COSMOS_ENDPOINT = endpoint;
    // The container's mounts, seen from the host: NODE_EXTRA_CA_CERTS points into a mounted volume.
    for (const m of this.appC.volumeMounts || []) {
      for (const [k, v] of Object.entries(env)) {
        if (typeof v === 'string' && v.startsWith(`${m.mountPath}/`)) env[k] = path.join(this.volumes.get(m.name).dir, v.slice(m.mountPath.length + 1));
      }
    }
    const files = this.appFiles();
    Object.assign(env, extraEnv, { PATH: '/usr/bin:/bin', HOME: '/nonexistent', NODE_PATH: files.modules, INTERVAL_SECONDS: '0', RUN_ID: runId });
    const args = [
      'netns', 'exec', this.ns, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      'setpriv', `--reuid=${this.appUid}`, `--regid=${this.appGid}`,
      `--groups=${[this.appGid, this.fsGroup].filter((g) => g !== undefined).join(',')}`,
      '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
      process.execPath, files.app,
    ];
    const child = track(spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const r = await waitExit(child, timeoutMs);
    if (!r) child.kill('SIGKILL');
    const stdout = Buffer.concat(out).toString('utf8');
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    return { exit: r, stdout, stderr: Buffer.concat(err).toString('utf8'), result: line ? JSON.parse(line) : null, runId };
  }

  /** An unprivileged TLS client in the pod (the app's uid) connecting to host:443 with SNI host. */
  tlsFrom(host, caFile) {
    const code = `const tls=require('tls');const s=tls.connect({host:${JSON.stringify(host)},port:443,servername:${JSON.stringify(host)},` +
      `ca:require('fs').readFileSync(process.env.CA)},()=>{console.log('CONNECTED '+s.getPeerCertificate().subject.CN);s.end();process.exit(0)});` +
      `s.on('error',e=>{console.log('ERROR '+(e.code||'')+' '+e.message);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},5000)`;
    const r = run('ip', ['netns', 'exec', this.ns, 'env', '-i', `CA=${caFile}`, 'setpriv', `--reuid=${this.appUid}`, `--regid=${this.appGid}`,
      '--clear-groups', '--no-new-privs', process.execPath, '-e', code], { timeoutMs: 10000 });
    return r.stdout.trim();
  }

  /** Canaries for what runApp writes (app.js: ssn, address street, card number). */
  canaries(runId) {
    return [`ssn-${runId}-1`, `1 ${runId} Lane`, `4111-${runId}-1`, `ssn-${runId}-1-temp`, `4111-${runId}-1-temp`];
  }
}

const transparent = new Pod('transparent', 0, 'transparent');
const gateway = new Pod('app', 1, 'gateway');

before(async () => {
  rootfs = assembleRootfs(path.join(work, 'rootfs'), bin);
  note('image rootfs assembled (scripts/build-image --rootfs-only)');
  cloudPki = createPki(path.join(work, 'cloud'));
  const acct = issueCert(cloudPki, 'account', { dns: [HOST, 'localhost'], ips: ['127.0.0.1'] });
  must('ip', ['netns', 'add', NS_CLOUD]);
  onCleanup(() => run('ip', ['netns', 'del', NS_CLOUD]));
  must('ip', ['-n', NS_CLOUD, 'link', 'set', 'lo', 'up']);
  for (const pod of [transparent, gateway]) await pod.setup();
  cloud = await startCloud({
    dir: path.join(work, 'cloud'),
    listen: '0.0.0.0',
    port: 443,
    accountKey,
    clientKeys: { ...transparent.secrets.clientKeys, 'gateway-orders-api': gateway.secrets.clientKeys['orders-api'] },
    cert: acct.cert,
    key: acct.key,
    caCert: cloudPki.caCert,
  });
  note(`cloud namespace ${NS_CLOUD}: cosmosdb-server behind the signature-checking front on https://${HOST}:443/`);
});

after(async () => {
  for (const pod of [transparent, gateway]) {
    if (pod.sidecar && pod.sidecar.exitCode === null && pod.sidecar.signalCode === null) pod.sidecar.kill('SIGKILL');
  }
  if (cloud) {
    await cloud.call('quit').catch(() => {});
    await waitExit(cloud.child, 3000);
  }
  const log = transparent.sidecarLog ? transparent.log() : '';
  if (log) {
    note('transparent pod: cosmoseal log (tail):');
    for (const l of log.trim().split('\n').slice(-12)) console.log(`#   ${l}`);
  }
});

async function checkSidecarProcess(pod, last) {
  assert.equal(last?.status, 200, `startupProbe never succeeded (${JSON.stringify(last)}); log:\n${pod.log()}`);
  assert.equal((await pod.probe(pod.sidecarC.livenessProbe.httpGet.path)).status, 200, 'livenessProbe');
  assert.equal((await pod.probe(pod.sidecarC.readinessProbe.httpGet.path)).status, 200, 'readinessProbe');
  const status = fs.readFileSync(`/proc/${pod.sidecar.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${pod.proxyUid}\\s+${pod.proxyUid}\\s+${pod.proxyUid}\\s+${pod.proxyUid}$`, 'm'), 'runs as runAsUser');
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) assert.match(status, new RegExp(`^${set}:\\s+0+$`, 'm'), `${set} is empty`);
  // The emulation keeps CAP_SETUID/SETGID/SYS_CHROOT in the bounding set (chroot --userspec needs
  // them before it drops to the user); with no_new_privs and no file capabilities they are unusable.
  const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)[1]}`);
  assert.equal(bnd & ~((1n << 6n) | (1n << 7n) | (1n << 18n)), 0n, 'bounding set beyond setuid/setgid/sys_chroot');
  assert.match(status, /^NoNewPrivs:\s+1$/m, 'no_new_privs (allowPrivilegeEscalation: false)');
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  note(`${pod.label}: cosmoseal ready (pid ${pod.sidecar.pid}, uid ${pod.proxyUid}, no capabilities, RSS ${Math.round(rss / 1024)} MiB); ` +
    `probes via http://${pod.ip}:${pod.adminPort} -> 200`);
}

async function checkCrud(pod) {
  const runId = crypto.randomBytes(4).toString('hex');
  await cloud.call('addCanaries', { values: pod.canaries(runId) });
  const res = await pod.runApp({ runId });
  assert.ok(res.result, `the app printed no result (exit ${JSON.stringify(res.exit)}):\n${res.stdout}${res.stderr}`);
  assert.equal(res.result.ok, true, `the app failed: ${JSON.stringify(res.result)}\n${res.stderr}\ncosmoseal log:\n${pod.log()}`);
  assert.deepEqual(res.result.steps, { setup: true, create: 201, read: true, replace: 200, readAfterReplace: true, query: true, delete: 204 });
  assert.deepEqual(res.exit, { code: 0, signal: null });
  return res;
}

async function checkStored(pod, res) {
  const { doc } = await cloud.call('read', { db: 'shop', container: 'customers', docId: res.result.id, pk: res.result.id });
  assert.ok(doc, 'the document is stored');
  for (const [where, v] of [['ssn', doc.ssn], ['address', doc.address], ['cards[0].number', doc.cards?.[0]?.number]]) {
    assert.ok(typeof v === 'string' && v.startsWith('csx1:'), `${where} is stored as ${JSON.stringify(v)}, not an envelope`);
  }
  assert.equal(doc.name, res.result.written.name, 'unprotected fields stay as written');
  assert.equal(doc.tier, 'gold');
  assert.equal(doc.cards[0].brand, 'visa');
  return doc;
}

async function checkSignatures(since) {
  const r = await cloud.call('report');
  const viaPods = r.requests.slice(since).filter((q) => q.origin !== 'direct'); // not the test's own direct reads
  assert.ok(viaPods.length >= 8, `only ${viaPods.length} requests came from the pod`);
  const bad = viaPods.filter((q) => !q.verified || q.signedWith !== 'account' || q.listener !== 'main');
  assert.deepEqual(bad, [], 'requests not signed with the account key, or around cosmoseal');
  assert.ok(viaPods.every((q) => q.host === HOST || q.host === `${HOST}:443`), 'Host is the account');
  assert.deepEqual(r.canaryHits, [], 'plaintext of a protected field reached the account');
  return { count: viaPods.length, total: r.requests.length };
}

// ---- transparent mode -----------------------------------------------------------------------------
let tRun;
let tSince = 0;

test('transparent: the capture init container installs the owner-exempt redirect (root, manifest capabilities only)', async () => {
  const { exit, out } = await transparent.runCapture();
  assert.deepEqual(exit, { code: 0, signal: null }, `capture-init failed:\n${out}`);
  assert.match(out, new RegExp(`port\\(s\\) 443 now goes to 127\\.0\\.0\\.1:8081 \\(cosmoseal\\); uid ${transparent.proxyUid} is exempt`));
  const rules = must('ip', ['netns', 'exec', transparent.ns, 'iptables', '-t', 'nat', '-S', 'COSMOSEAL_OUTPUT']);
  assert.match(rules, new RegExp(`--uid-owner ${transparent.proxyUid} -j RETURN`));
  note(`transparent: ${out.trim().split('\n').pop()}`);
});

test('transparent: the sidecar starts from the image under its own uid and turns ready on the pod IP', async () => {
  tSince = (await cloud.call('report')).requests.length;
  await checkSidecarProcess(transparent, await transparent.startSidecar());
});

test('transparent: the unchanged app (real endpoint, client key) does CRUD + a query through the capture', async () => {
  tRun = await checkCrud(transparent);
  note(`transparent: app (uid ${transparent.appUid}, COSMOS_ENDPOINT=https://${HOST}:443/): ${JSON.stringify(tRun.result.steps)}`);
});

test('transparent: the account stored ciphertext at the protected paths (read directly in the cloud namespace)', async () => {
  const doc = await checkStored(transparent, tRun);
  note(`transparent: stored ssn=${doc.ssn.slice(0, 24)}..., address=${doc.address.slice(0, 24)}..., name=${JSON.stringify(doc.name)}`);
});

test('transparent: every request the account saw was re-signed with the account key; no canary', async () => {
  const { count } = await checkSignatures(tSince);
  assert.match(transparent.log(), new RegExp(`issued a certificate for ${HOST.replace(/\./g, '\\.')}`));
  note(`transparent: the account saw ${count} requests from the pod, all signed with the account key; 0 canary hits`);
});

test('transparent: an SNI name outside listen.transparent.allowed_hosts is refused in the pod', async () => {
  const ca = path.join(transparent.volumes.get('cosmoseal-intercept-ca-cert').dir, 'ca.crt');
  const mark = await cloud.call('mark');
  const out = transparent.tlsFrom(ROGUE_HOST, ca);
  assert.match(out, /^ERROR /, `a TLS connection for ${ROGUE_HOST} got through: ${out}`);
  const since = await cloud.call('since', { mark: mark.mark });
  assert.equal(since.connections, 0, 'the refused connection must not reach the account');
  assert.equal(transparent.tlsFrom(HOST, ca), `CONNECTED ${HOST}`, 'the allowed host gets a certificate from the interception CA');
  note(`transparent: SNI ${ROGUE_HOST}: ${out.slice(0, 60)}`);
});

test('transparent: a client-key rotation through the Secret volume is reloaded (watch: true)', async () => {
  const reloads = await transparent.metric('cosmoseal_reloads_total');
  assert.ok(reloads !== null, 'cosmoseal_reloads_total is exported on the admin port');
  const oldKey = transparent.secrets.clientKeys['orders-api'];
  const newKey = randomKey();
  transparent.secrets.clientKeys['orders-api'] = newKey;
  transparent.volumes.get('cosmoseal-clients').update({ 'orders-api': newKey });
  const deadline = Date.now() + 15000;
  let now = reloads;
  while (Date.now() < deadline && now === reloads) {
    await sleep(200);
    now = await transparent.metric('cosmoseal_reloads_total');
  }
  assert.ok(now > reloads, 'cosmoseal did not reload after the kubelet-style Secret update');
  const withNew = await transparent.runApp();
  assert.equal(withNew.result?.ok, true, `the new client key is refused: ${withNew.stdout}${withNew.stderr}`);
  const withOld = await transparent.runApp({ key: oldKey });
  assert.equal(withOld.result?.ok, false, 'the retired client key still works');
  assert.match(withOld.result.error, /401|Unauthorized|auth/i);
  note(`transparent: rotation: reloads ${reloads} -> ${now}; new key works, old key: ${withOld.result.error.slice(0, 90)}`);
});

test('transparent: with cosmoseal stopped the app cannot reach the account: no bypass', async () => {
  transparent.sidecar.kill('SIGTERM');
  const r = await waitExit(transparent.sidecar, 30000);
  assert.deepEqual(r, { code: 0, signal: null }, 'cosmoseal drains and exits 0 on SIGTERM');
  const mark = await cloud.call('mark');
  const res = await transparent.runApp({ timeoutMs: 60000 });
  assert.equal(res.result?.ok, false, `the app still works without cosmoseal: ${res.stdout}`);
  assert.match(`${res.result?.error}`, /ECONNREFUSED|connect/i);
  const ca = path.join(transparent.volumes.get('cosmoseal-intercept-ca-cert').dir, 'ca.crt');
  const direct = transparent.tlsFrom(HOST, ca);
  assert.match(direct, /^ERROR .*ECONNREFUSED/, `a direct TLS connection from the app's uid: ${direct}`);
  const since = await cloud.call('since', { mark: mark.mark });
  assert.deepEqual({ connections: since.connections, bytes: since.bytes, requests: since.requests }, { connections: 0, bytes: 0, requests: 0 },
    'something reached the account while cosmoseal was down');
  note(`transparent: cosmoseal stopped (exit 0); app: ${res.result.error.slice(0, 90)}; the account saw 0 connections`);
});

// ---- gateway mode (k8s/examples/app) -----------------------------------------------------------------
let gRun;
let gSince = 0;

test('gateway: the sidecar starts from the image under its own uid and turns ready on the pod IP', async () => {
  gSince = (await cloud.call('report')).requests.length;
  await checkSidecarProcess(gateway, await gateway.startSidecar());
});

test('gateway: the app (endpoint http://127.0.0.1:8081/, client key) does CRUD + a query; ciphertext stored; account-key signatures', async () => {
  gRun = await checkCrud(gateway);
  const doc = await checkStored(gateway, gRun);
  const { count } = await checkSignatures(gSince);
  note(`gateway: app (COSMOS_ENDPOINT=${gateway.appC.env.find((e) => e.name === 'COSMOS_ENDPOINT').value}): ${JSON.stringify(gRun.result.steps)}; ` +
    `${count} requests, all signed with the account key; stored ssn=${doc.ssn.slice(0, 20)}...`);
});

test('gateway: the app going around the sidecar with its client key is refused by the account (no account key in the app)', async () => {
  // What a NetworkPolicy cannot prevent in gateway mode: the app connects to the account itself.
  const mark = await cloud.call('mark');
  // It trusts the test account's CA here, as a real app trusts Azure's, so that the refusal comes
  // from the account's signature check and not from TLS.
  const ca = path.join(gateway.dir, 'cloud-ca.crt');
  fs.copyFileSync(cloudPki.caCert, ca);
  fs.chmodSync(ca, 0o644);
  const res2 = await gateway.runApp({ endpoint: `https://${HOST}:443/`, extraEnv: { NODE_EXTRA_CA_CERTS: ca } });
  assert.equal(res2.result?.ok, false, 'the account accepted a request signed with a client key');
  assert.match(res2.result.error, /401|Unauthorized/i, res2.result.error);
  const r = await cloud.call('report');
  const direct = r.requests.slice(mark.mark.requests).filter((q) => q.origin !== 'direct');
  assert.ok(direct.length >= 1 && direct.every((q) => !q.verified && q.status === 401), JSON.stringify(direct));
  note(`gateway: the app direct to the account with its client key: ${res2.result.error.slice(0, 80)}`);
});

test('gateway: SIGTERM drains and exits 0 within timeouts.drain', async () => {
  const started = Date.now();
  gateway.sidecar.kill('SIGTERM');
  const r = await waitExit(gateway.sidecar, 30000);
  assert.deepEqual(r, { code: 0, signal: null });
  assert.ok(Date.now() - started < 20000 + 2000);
});
