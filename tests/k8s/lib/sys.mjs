// System helpers for the image test and the pod rehearsal: running commands, prerequisites
// (root, tools, network namespaces, iptables) that turn into a skip (exit 77) with the reason,
// the image's root file system (scripts/build-image --rootfs-only), kubelet-style volumes, and
// cleanup of namespaces and processes on every exit path.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, skip } from './kube.mjs';

/** The cosmoseal binary under test: $COSMOSEAL_BIN (set by ctest) or build/proxy/cosmoseal. */
export function cosmosealBin() {
  const bin = process.env.COSMOSEAL_BIN || path.join(REPO_ROOT, 'build', 'proxy', 'cosmoseal');
  if (!fs.existsSync(bin)) {
    console.error(`cosmoseal binary not found at ${bin}: build it (scripts/build.sh) or set COSMOSEAL_BIN`);
    process.exit(1);
  }
  return bin;
}

/** Runs a command to completion: {code, stdout, stderr}. Never throws for a non-zero exit. */
export function run(cmd, args, { input, env, timeoutMs = 60000, cwd } = {}) {
  const r = spawnSync(cmd, args, {
    input,
    env: env ?? process.env,
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** Runs a command that must succeed; throws with its output otherwise. Returns stdout. */
export function must(cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}${r.error ? `, ${r.error.message}` : ''}):\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

export function haveCommand(name) {
  return run('sh', ['-c', `command -v ${name}`]).code === 0;
}

/**
 * Skips (exit 77) unless this process is root and can create a network namespace with iptables
 * NAT rules in it; `tools` must all be on PATH.
 */
export function requireRootNetns(tools = []) {
  if (process.getuid() !== 0) skip('needs root (network namespaces, iptables, chroot, setpriv): run ctest as root');
  for (const t of ['ip', 'iptables', 'setpriv', 'unshare', 'chroot', ...tools]) {
    if (!haveCommand(t)) skip(`'${t}' is not installed (scripts/install-deps.sh --k8s)`);
  }
  const probe = `csprobe${process.pid % 100000}`;
  const add = run('ip', ['netns', 'add', probe]);
  if (add.code !== 0) skip(`cannot create a network namespace here (ip netns add: ${add.stderr.trim()})`);
  try {
    const nat = run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-S', 'OUTPUT']);
    if (nat.code !== 0) skip(`iptables cannot use the nat table in a network namespace here: ${nat.stderr.trim()}`);
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
}

/** Assembles the image's root file system into `dir` (scripts/build-image --rootfs-only). */
export function assembleRootfs(dir, bin) {
  must(path.join(REPO_ROOT, 'scripts', 'build-image'), ['--rootfs-only', dir, '--bin', bin], { timeoutMs: 120000 });
  return dir;
}

/**
 * Writes a volume the way the kubelet's AtomicWriter does for ConfigMaps and Secrets: the files in
 * a timestamped directory `..<ts>`, a symlink `..data` to it, and one symlink per key
 * (`key -> ..data/key`). `update()` swaps in new contents atomically (rename of ..data), which is
 * what cosmoseal's `watch: true` must notice.
 * @param {string} dir the volume directory (created)
 * @param {Record<string, string|Buffer>} files key -> content
 * @param {{mode: number, uid: number, gid: number}} perms
 */
export function kubeletVolume(dir, files, perms) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  let n = 0;
  const write = (content) => {
    const ts = `..2026_01_01_00_00_0${n++}.${process.pid}`;
    const tsDir = path.join(dir, ts);
    fs.mkdirSync(tsDir, { mode: 0o755 });
    for (const [key, value] of Object.entries(content)) {
      const f = path.join(tsDir, key);
      fs.writeFileSync(f, value);
      fs.chownSync(f, perms.uid, perms.gid);
      fs.chmodSync(f, perms.mode);
    }
    const tmpLink = path.join(dir, '..data_tmp');
    fs.rmSync(tmpLink, { force: true });
    fs.symlinkSync(ts, tmpLink);
    const old = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : null;
    fs.renameSync(tmpLink, path.join(dir, '..data'));
    for (const key of Object.keys(content)) {
      const link = path.join(dir, key);
      if (!fs.existsSync(link)) fs.symlinkSync(path.join('..data', key), link);
    }
    if (old) fs.rmSync(path.join(dir, old), { recursive: true, force: true });
  };
  write(files);
  return { dir, update: write };
}

/**
 * Cleanup registry: functions run once, in reverse order, at normal exit, on an uncaught error,
 * and on SIGINT/SIGTERM/SIGHUP (synchronous work only: they run from process 'exit').
 */
const cleanups = [];
let installed = false;
function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      fn();
    } catch (err) {
      console.error(`cleanup failed: ${err.message}`);
    }
  }
}
export function onCleanup(fn) {
  if (!installed) {
    installed = true;
    process.on('exit', runCleanups);
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
      process.on(sig, () => process.exit(code));
    }
  }
  cleanups.push(fn);
}
export { runCleanups };

/** Removes network namespaces named <prefix>-<pid>-... whose process is gone (earlier crashed runs). */
export function reapStaleNamespaces(prefix) {
  const list = run('ip', ['netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  for (const ns of list) {
    const m = new RegExp(`^${prefix}-[a-z]+-(\\d+)$`).exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      run('ip', ['netns', 'del', ns]);
      fs.rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
    }
  }
}

export function sha256File(file) {
  return execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
}
