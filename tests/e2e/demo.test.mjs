// The README's demo, as a test: `node tests/e2e/demo/demo.mjs` (field policy on by default) and
// `--no-policy` run as child processes; each must exit 0 and print "All checks passed.".
// The demo checks for itself that protected values are stored encrypted, that none of them
// reached the account (canaries), that the unmodified sample app read back what it wrote, that
// requests were re-signed with the account key, and that bad keys and Direct mode are refused.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { E2E_DIR } from './lib/paths.mjs';
import { requireBinary } from './lib/cosmoseal.mjs';
import { track, waitExit } from './lib/procs.mjs';

const DEMO = path.join(E2E_DIR, 'demo', 'demo.mjs');
const TIMEOUT_MS = 120000;

/** Runs the demo with `args`; resolves {code, signal, out}. */
async function runDemo(args) {
  requireBinary();
  const child = track(
    spawn(process.execPath, [DEMO, '--no-color', ...args], {
      cwd: E2E_DIR,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const out = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => out.push(c));
  const exit = await waitExit(child, TIMEOUT_MS);
  if (!exit) {
    // SIGTERM first: the demo then stops its own cosmoseal (lib/procs.mjs) before exiting.
    child.kill('SIGTERM');
    if (!(await waitExit(child, 5000))) {
      child.kill('SIGKILL');
      await waitExit(child, 5000);
    }
  }
  return { code: exit ? exit.code : null, signal: exit ? exit.signal : 'timeout', out: Buffer.concat(out).toString('utf8') };
}

function assertPassed(r, what) {
  const tail = r.out.split('\n').slice(-40).join('\n');
  assert.equal(r.code, 0, `${what}: exit ${r.code} (signal ${r.signal}); output tail:\n${tail}`);
  assert.ok(r.out.includes('All checks passed.'), `${what}: no "All checks passed." in the output; tail:\n${tail}`);
  assert.ok(!/✗/.test(r.out), `${what}: a failed check was printed; tail:\n${tail}`);
}

describe('demo (tests/e2e/demo/demo.mjs)', () => {
  test('default (field policy on): exit 0, "All checks passed."', { timeout: TIMEOUT_MS + 10000 }, async () => {
    const r = await runDemo([]);
    assertPassed(r, 'demo');
    assert.match(r.out, /field policy ON/);
    assert.match(r.out, /"ssn" is stored encrypted/);
    assert.match(r.out, /no protected value ever reached the account/);
  });

  test('--no-policy: exit 0, "All checks passed."', { timeout: TIMEOUT_MS + 10000 }, async () => {
    const r = await runDemo(['--no-policy']);
    assertPassed(r, 'demo --no-policy');
    assert.match(r.out, /no field policy/);
    assert.match(r.out, /stored exactly as written/);
  });
});
