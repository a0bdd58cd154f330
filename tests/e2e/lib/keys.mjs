// Random Cosmos-style keys (64 bytes, base64 like the Azure portal shows them) and key files with
// mode 0600 (cosmoseal refuses group/other-readable key files).

import crypto from 'node:crypto';
import fs from 'node:fs';

/** A fresh random 64-byte key, base64. */
export function randomKey() {
  return crypto.randomBytes(64).toString('base64');
}

/** Writes `content` to `file` with mode 0600 (also when the file already existed). */
export function writeSecretFile(file, content) {
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

/**
 * Writes a key file: the base64 text exactly (no newline, like a Kubernetes secret made with
 * --from-literal). `newline: true` appends one, as `echo $KEY > file` would.
 */
export function writeKeyFile(file, key, { newline = false } = {}) {
  return writeSecretFile(file, newline ? `${key}\n` : key);
}
