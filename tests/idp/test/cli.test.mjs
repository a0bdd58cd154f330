// The CLI: `node bin/idp.mjs --port 0 --ports-file F` writes its JSON line (file and stdout),
// serves tokens, obeys the admin API and exits 0 on SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPki } from '../../e2e/lib/pki.mjs';
import { request, claimsOf } from './helpers.mjs';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'idp.mjs');

test('CLI: ports file, a token with the registered app, admin lifetime, SIGTERM exits 0', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-cli-'));
  const pki = createPki(dir);
  const portsFile = path.join(dir, 'idp.json');
  const app = { clientId: 'cli-app', secret: 'cli-secret' };
  const child = spawn(process.execPath, [BIN, '--port', '0', '--ports-file', portsFile, '--pki-dir', pki.dir, '--lifetime', '120', '--app', JSON.stringify(app)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.on('exit', (code) => reject(new Error(`idp exited ${code}`)));
    });
    const info = JSON.parse(line);
    assert.deepEqual(JSON.parse(fs.readFileSync(portsFile, 'utf8')), info);
    assert.equal(info.caFile, pki.caCert);
    assert.equal(info.apps[0].clientId, 'cli-app');
    const tok = await request(info.tokenEndpoint, {
      form: { grant_type: 'client_credentials', client_id: 'cli-app', client_secret: 'cli-secret', scope: 'https://cosmos.azure.com/.default' },
      ca: pki.ca,
    });
    assert.equal(tok.status, 200, tok.text);
    assert.equal(tok.json.expires_in, 120);
    assert.equal(claimsOf(tok.json.access_token).aud, 'https://cosmos.azure.com');
    assert.equal(claimsOf(tok.json.access_token).iss, info.issuer);
    const stats = await request(`${info.adminUrl}stats`);
    assert.equal(stats.json.tokens, 1);
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
