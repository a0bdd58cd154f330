// Launches the cosmoseal binary for the tests and the demo: writes its YAML config (DESIGN.md §6),
// starts `$COSMOSEAL_BIN --config FILE` with stdout/stderr captured to a log file, waits until
// GET http://127.0.0.1:<admin>/readyz answers 200, and stops it with SIGTERM (expecting exit 0).
// Also runs one-shot subcommands (`check`, `keygen`, ...) and captures their output.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { cosmosealBin } from './paths.mjs';
import { track, waitExit } from './procs.mjs';
import { writeKeyFile } from './keys.mjs';
import { toYaml } from './yaml.mjs';

/** A free TCP port on 127.0.0.1 (bound to port 0 and released; a small race is accepted). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Fails with a clear message when the binary is not there (the proxy is not built yet). */
export function requireBinary(bin = cosmosealBin()) {
  assert.ok(
    fs.existsSync(bin),
    `cosmoseal binary not found at ${bin}: build it with scripts/build.sh, or set COSMOSEAL_BIN`,
  );
  return bin;
}

/**
 * Builds the config object (DESIGN.md §6 shape).
 * @param {object} o
 * @param {number} o.port listener port; @param {number} o.adminPort admin port
 * @param {{cert: string, key: string}|null} o.tls listener TLS files (null = plain HTTP)
 * @param {string} o.upstreamEndpoint e.g. https://localhost:1234/
 * @param {string} o.accountKeyFile @param {string} [o.caFile]
 * @param {Array<{name: string, key_file: string, allow: Array}>} o.clients
 * @param {object} [o.keys] {keyring_file, kek_file | kek_env}
 * @param {Array} [o.policies] [{database, container, fields: [{path, mode, key}]}]
 * @param {object} [o.extra] more top-level keys (e.g. {workers: 1, limits: {...}}), merged last
 * @param {object} [o.listenExtra] more keys under listen; @param {object} [o.upstreamExtra] under upstream
 */
export function buildConfig(o) {
  const cfg = {
    listen: { address: '127.0.0.1', port: o.port, ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key } } : {}), ...(o.listenExtra || {}) },
    admin: { address: '127.0.0.1', port: o.adminPort },
    upstream: {
      endpoint: o.upstreamEndpoint,
      key_file: o.accountKeyFile,
      ...(o.caFile ? { ca_file: o.caFile } : {}),
      ...(o.upstreamExtra || {}),
    },
    clients: o.clients,
  };
  // An Entra ID upstream (upstream.auth) takes the place of the account key.
  if (cfg.upstream.auth && cfg.upstream.auth.type !== 'key') delete cfg.upstream.key_file;
  if (o.keys) cfg.keys = o.keys;
  if (o.policies && o.policies.length) cfg.policies = o.policies;
  return { ...cfg, ...(o.extra || {}) };
}

/** Writes a config object as YAML to `file`. */
export function writeConfig(file, cfg) {
  fs.writeFileSync(file, toYaml(cfg));
  return file;
}

function readTail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function httpGetStatus(url, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

class Cosmoseal {
  constructor(fields) {
    Object.assign(this, fields);
  }

  /** The last `n` lines of cosmoseal's stdout+stderr. */
  logTail(n = 40) {
    return readTail(this.logPath, n);
  }

  /** Whole log text. */
  log() {
    return fs.readFileSync(this.logPath, 'utf8');
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** GET an admin endpoint: {status, body}. */
  admin(pathname) {
    return new Promise((resolve, reject) => {
      const req = http.get(`${this.adminUrl}${pathname.replace(/^\//, '')}`, { agent: false, timeout: 3000 }, (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new Error('admin request timed out')));
      req.on('error', reject);
    });
  }

  async waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(
          `cosmoseal exited during startup (code ${this.child.exitCode}, signal ${this.child.signalCode}); log tail:\n${this.logTail()}`,
        );
      }
      if ((await httpGetStatus(`${this.adminUrl}readyz`)) === 200) return this;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.child.kill('SIGKILL');
    throw new Error(`cosmoseal not ready within ${timeoutMs} ms (GET ${this.adminUrl}readyz); log tail:\n${this.logTail()}`);
  }

  /**
   * SIGTERM, then expects exit code 0 within `timeoutMs` (SIGKILL and an error otherwise).
   * @returns {Promise<{code: number|null, signal: string|null}>}
   */
  async stop({ timeoutMs = 5000, expectCode = 0 } = {}) {
    if (!this.running) {
      const r = { code: this.child.exitCode, signal: this.child.signalCode };
      assert.equal(r.code, expectCode, `cosmoseal had already exited (${JSON.stringify(r)}); log tail:\n${this.logTail()}`);
      return r;
    }
    this.child.kill('SIGTERM');
    const r = await waitExit(this.child, timeoutMs);
    if (!r) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 2000);
      throw new Error(`cosmoseal did not exit within ${timeoutMs} ms of SIGTERM; log tail:\n${this.logTail()}`);
    }
    assert.ok(
      r.code === expectCode && r.signal === null,
      `cosmoseal exited with ${JSON.stringify(r)} after SIGTERM (expected code ${expectCode}); log tail:\n${this.logTail()}`,
    );
    return r;
  }

  /** SIGKILL, no questions (cleanup paths). */
  async kill() {
    if (this.running) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 2000);
    }
  }
}

/**
 * Writes the key files and the config into `dir`, starts cosmoseal and waits for /readyz.
 * @param {object} o
 * @param {string} o.dir work directory (files: cosmoseal.yaml, account.key, client-<name>.key, cosmoseal.log)
 * @param {{url: string}} o.front the upstream front (startFront)
 * @param {string} o.accountKey the real account key
 * @param {{caCert: string, proxy: {cert: string, key: string}}} o.pki
 * @param {Array<{name: string, key: string, allow?: Array, rate?: object, max_in_flight?: number}>} o.clients
 *   client keys are written to files; allow defaults to [{database: 'shop', containers: ['*'],
 *   access: 'read-write'}]; rate and max_in_flight are copied into the config when given
 * @param {boolean} [o.tls=true] TLS on cosmoseal's listener (cert from pki.proxy)
 * @param {object} [o.keys] @param {Array} [o.policies] @param {object} [o.extra]
 * @param {object} [o.listenExtra] @param {object} [o.upstreamExtra]
 * @param {string} [o.bin] default $COSMOSEAL_BIN or build/proxy/cosmoseal
 * @param {number} [o.readyTimeoutMs=15000]
 * @param {Record<string,string>} [o.env] extra environment (e.g. a KEK for kek_env)
 * @returns {Promise<Cosmoseal>} with url, port, adminUrl, adminPort, configPath, logPath, config,
 *   clientKeyFiles, child, stop(), kill(), logTail(), admin()
 */
export async function startCosmoseal(o) {
  const bin = requireBinary(o.bin);
  const dir = o.dir;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const accountKeyFile = writeKeyFile(path.join(dir, 'account.key'), o.accountKey);
  const clientKeyFiles = {};
  const clients = o.clients.map((c) => {
    clientKeyFiles[c.name] = writeKeyFile(path.join(dir, `client-${c.name}.key`), c.key);
    return {
      name: c.name,
      key_file: clientKeyFiles[c.name],
      allow: c.allow || [{ database: 'shop', containers: ['*'], access: 'read-write' }],
      ...(c.rate ? { rate: c.rate } : {}),
      ...(c.max_in_flight !== undefined ? { max_in_flight: c.max_in_flight } : {}),
    };
  });
  const tls = o.tls === false ? null : o.pki.proxy;
  const port = o.port ?? (await freePort());
  const adminPort = o.adminPort ?? (await freePort());
  const config = buildConfig({
    port,
    adminPort,
    tls,
    upstreamEndpoint: o.front.url,
    accountKeyFile,
    caFile: o.pki.caCert,
    clients,
    keys: o.keys,
    policies: o.policies,
    extra: o.extra,
    listenExtra: o.listenExtra,
    upstreamExtra: o.upstreamExtra,
  });
  const configPath = writeConfig(path.join(dir, o.configName || 'cosmoseal.yaml'), config);
  const logPath = path.join(dir, o.logName || 'cosmoseal.log');
  const logFd = fs.openSync(logPath, 'a');
  const child = track(
    spawn(bin, ['--config', configPath], {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, ...(o.env || {}) },
    }),
  );
  fs.closeSync(logFd);
  const scheme = tls ? 'https' : 'http';
  const cs = new Cosmoseal({
    bin,
    dir,
    child,
    pid: child.pid,
    port,
    adminPort,
    url: `${scheme}://localhost:${port}/`,
    adminUrl: `http://127.0.0.1:${adminPort}/`,
    tls: !!tls,
    ca: o.pki.ca,
    configPath,
    logPath,
    config,
    accountKeyFile,
    clientKeyFiles,
  });
  await cs.waitReady(o.readyTimeoutMs ?? 15000);
  return cs;
}

/**
 * Runs `cosmoseal <args...>` to completion and captures its output.
 * @param {string[]} args e.g. ['check', '--config', file]
 * @param {{timeoutMs?: number, env?: object, cwd?: string, bin?: string, input?: string}} [o]
 * @returns {Promise<{code: number|null, signal: string|null, stdout: string, stderr: string, timedOut: boolean}>}
 */
export function runCosmoseal(args, o = {}) {
  const bin = requireBinary(o.bin);
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(bin, args, { cwd: o.cwd, env: { ...process.env, ...(o.env || {}) }, stdio: ['pipe', 'pipe', 'pipe'] }),
    );
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 15000);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // Most subcommands never read stdin and may exit before the pipe is written: EPIPE there is
    // not a result (the exit status and output are), so it must not fail the test.
    child.stdin.on('error', (e) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin.end(o.input ?? '');
  });
}

/** `cosmoseal check --config FILE`. */
export function checkConfig(configPath, o = {}) {
  return runCosmoseal(['check', '--config', configPath], o);
}
