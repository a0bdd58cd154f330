// PyKMIP, a real KMIP server, for the kmip KEK-provider tests (tests/kmip/README.md): a test CA,
// a server certificate for 127.0.0.1 and a client certificate (clientAuth: KMIP servers identify
// clients by certificate; PyKMIP lets only the creating client use a key), the server started
// from tests/kmip/.venv on a free port, and keys made with tests/kmip/admin.py.
// A missing venv or a server that does not come up FAILS the test, never skips it.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './cosmoseal.mjs';
import { REPO_ROOT } from './paths.mjs';
import { track, waitExit } from './procs.mjs';

export const KMIP_DIR = path.join(REPO_ROOT, 'tests', 'kmip');
export const KMIP_PYTHON = path.join(KMIP_DIR, '.venv', 'bin', 'python');

function openssl(args) {
  try {
    return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

function leaf(dir, ca, name, eku, cn) {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n` +
    `extendedKeyUsage=${eku}\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  fs.chmodSync(key, 0o600);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-sha256',
    '-extfile', ext, '-out', cert]);
  fs.rmSync(csr);
  fs.rmSync(ext);
  return { cert, key };
}

/** A CA (or a second, unrelated one) under dir. */
export function makeCa(dir, name = 'kmip-ca') {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-subj', `/CN=cosmoseal ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert]);
  return { key, cert };
}

/** A client certificate from `ca` (default: the server's CA). */
export function clientCert(kmip, name, ca = kmip.ca, cn = 'cosmoseal') {
  return leaf(kmip.pkiDir, ca, name, 'clientAuth', cn);
}

/**
 * Starts PyKMIP under `dir`/kmip. Returns the handle the tests use:
 *   spec(name, o), kek(name, o)  the CLI and the config forms of a kmip KEK for key `name`
 *   admin(op, name, ...flags)   tests/kmip/admin.py (create | revoke), its stdout
 *   stop(), start()             the same server (same port, same database) down and up again
 */
export async function startKmip(dir) {
  assert.ok(fs.existsSync(KMIP_PYTHON), `PyKMIP is required (${KMIP_PYTHON}): run scripts/install-deps.sh`);
  const base = path.join(dir, 'kmip');
  const pkiDir = path.join(base, 'pki');
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const ca = makeCa(pkiDir);
  const k = {
    dir: base,
    pkiDir,
    ca,
    port: await freePort(),
    server: null,
    child: null,
    log: '',
  };
  k.server = leaf(pkiDir, ca, 'server', 'serverAuth', 'localhost');
  k.client = leaf(pkiDir, ca, 'client', 'clientAuth', 'cosmoseal');
  k.address = `127.0.0.1:${k.port}`;
  k.spec = (name, o = {}) => `kmip:server=${o.server ?? k.address};${o.id ? `key-id=${o.id}` : `key=${name}`};` +
    `ca=${o.ca ?? ca.cert};cert=${(o.client ?? k.client).cert};key-file=${(o.client ?? k.client).key}`;
  k.kek = (name, o = {}) => ({
    provider: 'kmip', server: o.server ?? k.address, ...(o.id ? { key_id: o.id } : { key_name: name }),
    ca_file: o.ca ?? ca.cert, cert_file: (o.client ?? k.client).cert, key_file: (o.client ?? k.client).key,
  });
  k.admin = (op, name, ...flags) => {
    try {
      return execFileSync(KMIP_PYTHON, ['-W', 'ignore', path.join(KMIP_DIR, 'admin.py'), '--port', String(k.port),
        '--cert', k.client.cert, '--key', k.client.key, '--ca', ca.cert, op, name, ...flags],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }).trim();
    } catch (err) {
      throw new Error(`admin.py ${op} ${name}: ${err.stderr || err.message}`);
    }
  };
  k.start = async () => {
    const child = track(spawn(KMIP_PYTHON, ['-W', 'ignore', path.join(KMIP_DIR, 'server.py'), '--dir', base,
      '--port', String(k.port), '--cert', k.server.cert, '--key', k.server.key, '--ca', ca.cert],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
    k.child = child;
    let out = '';  // this run's output: an earlier run's "listening" line must not count
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`PyKMIP did not start in 60 s:\n${out}`)), 60000);
      const onData = (c) => {
        out += c.toString();
        k.log += c.toString();
        if (out.includes(`kmip: listening on ${k.address}`)) {
          clearTimeout(t);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`PyKMIP exited (${code}) before listening:\n${out}`));
      });
    });
  };
  k.stop = async () => {
    if (!k.child || k.child.exitCode !== null || k.child.signalCode !== null) return;
    k.child.kill('SIGTERM');
    if (!(await waitExit(k.child, 10000))) {
      k.child.kill('SIGKILL');
      await waitExit(k.child, 5000);
    }
  };
  await k.start();
  return k;
}
