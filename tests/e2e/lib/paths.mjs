// Well-known locations: the e2e project, the repository root, the work area, the cosmoseal binary.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');
export const WORK_ROOT = path.join(E2E_DIR, '.work');
export const PAYLOADS_DIR = path.join(REPO_ROOT, 'tests', 'security', 'payloads');

/** The cosmoseal binary: $COSMOSEAL_BIN, else <repo>/build/proxy/cosmoseal. */
export function cosmosealBin() {
  return process.env.COSMOSEAL_BIN || path.join(REPO_ROOT, 'build', 'proxy', 'cosmoseal');
}

/**
 * A fresh directory under tests/e2e/.work/ (gitignored). `name` is a readable prefix; with
 * `exact: true` the directory is exactly .work/<name> and is emptied first (the demo uses this).
 */
export function makeWorkDir(name, { exact = false } = {}) {
  const dir = exact
    ? path.join(WORK_ROOT, name)
    : path.join(WORK_ROOT, `${name}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`);
  if (exact) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
