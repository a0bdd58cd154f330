// Core-dump checks (issue 13 finding 3, issue 18 item 3): dump a live cosmoseal with gcore (gdb)
// and count, byte for byte, the secrets that must not be in it. Used by tests/security and by the
// KEK provider tests (kmip, azure_key_vault), each with a non-secret marker that must be found,
// or the search proves nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/** A core dump of the live process `pid`, read whole; the file is removed unless COREDUMP_KEEP. */
export function dumpCore(pid, dir) {
  const prefix = path.join(dir, 'core');
  const r = spawnSync('gcore', ['-o', prefix, String(pid)], { encoding: 'utf8', timeout: 120000 });
  const coreFile = `${prefix}.${pid}`;
  assert.ok(fs.existsSync(coreFile), `gcore failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  const core = fs.readFileSync(coreFile);
  if (!process.env.COREDUMP_KEEP) fs.rmSync(coreFile, { force: true });
  else console.log(`core kept: ${coreFile}`);
  return core;
}

/** Occurrences of `needle` in `hay` (overlapping ones counted once each start). */
export function countIn(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/** Needles for secret bytes: raw and as base64 text. */
export function secretNeedles(label, bytes) {
  return [
    { label: `${label} (raw)`, bytes },
    { label: `${label} (base64)`, bytes: Buffer.from(bytes.toString('base64')) },
  ];
}

/**
 * Asserts that `core` holds none of `needles` and at least one `marker` (a non-secret the process
 * surely holds). Returns {found, marker} for the test's log line.
 */
export function assertCoreClean(core, needles, marker) {
  const found = needles.map((n) => ({ label: n.label, n: countIn(core, n.bytes) })).filter((x) => x.n > 0);
  const markers = countIn(core, marker);
  assert.ok(markers > 0, 'the non-secret marker must be found in the core, or the search proves nothing');
  assert.equal(found.length, 0, `secrets found in the core dump:\n${found.map((x) => `  ${x.label}: ${x.n}`).join('\n')}`);
  return { copies: 0, markers };
}
