// SoftHSM2 for the KEK-provider tests: a private token directory per test file (SOFTHSM2_CONF),
// tokens initialised with softhsm2-util, the AES KEK made with `cosmoseal keyring create-kek`,
// and the data keys of a file-KEK keyring unwrapped here (docs/FORMAT.md §7.2) so a test knows
// exactly which bytes must never show up.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCosmoseal } from './cosmoseal.mjs';

export const SOFTHSM_MODULE = process.env.COSMOSEAL_SOFTHSM_MODULE || '/usr/lib/softhsm/libsofthsm2.so';

/** True when SoftHSM2 is installed (scripts/install-deps.sh installs it). */
export function haveSoftHsm() {
  return fs.existsSync(SOFTHSM_MODULE) && spawnSync('sh', ['-c', 'command -v softhsm2-util']).status === 0;
}

/**
 * A token store under `dir` with the given token labels, and a PIN file.
 * @returns {{env: object, pin: string, pinFile: string, spec: (token: string, key: string) => string,
 *   kek: (token: string, key: string) => object}}
 */
export function makeSoftHsm(dir, tokens = ['cosmoseal-e2e']) {
  assert.ok(haveSoftHsm(), `SoftHSM2 is required (${SOFTHSM_MODULE}, softhsm2-util): run scripts/install-deps.sh`);
  const tokenDir = path.join(dir, 'softhsm-tokens');
  fs.mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  // A PIN that is distinctive enough to grep a core dump for.
  const pin = `PIN${crypto.randomBytes(12).toString('hex')}`;
  for (const label of tokens) {
    const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '0000', '--pin', pin],
      { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, `softhsm2-util --init-token ${label}: ${r.stdout}${r.stderr}`);
  }
  const pinFile = path.join(dir, 'hsm-pin');
  fs.writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return {
    env,
    pin,
    pinFile,
    /** The CLI form (--kek, --from, --to). */
    spec: (token, key, pf = pinFile) => `pkcs11:module=${SOFTHSM_MODULE};token=${token};key=${key};pin-file=${pf}`,
    /** The config form (keys.kek). */
    kek: (token, key, pf = pinFile) => ({ provider: 'pkcs11', module: SOFTHSM_MODULE, token_label: token, key_label: key, pin_file: pf }),
  };
}

/** `cosmoseal keyring create-kek --kek SPEC` (asserts exit 0). */
export async function createKek(hsm, spec) {
  const r = await runCosmoseal(['keyring', 'create-kek', '--kek', spec], { env: hsm.env });
  assert.equal(r.code, 0, `create-kek: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Every data key of a keyring wrapped by a file KEK (format byte 0x01): [{label, bytes}]. */
export function unwrapFileKeyring(keyringFile, kek) {
  const text = fs.readFileSync(keyringFile, 'utf8');
  const keys = [];
  let name = null;
  let version = null;
  let id = null;
  for (const line of text.split('\n')) {
    let m;
    if ((m = line.match(/^\s*- name:\s*(\S+)/))) name = m[1].replace(/"/g, '');
    else if ((m = line.match(/^\s*- version:\s*(\d+)/))) version = Number(m[1]);
    else if ((m = line.match(/^\s*id:\s*"?([0-9a-fA-F]{8})"?/))) id = m[1];
    else if ((m = line.match(/^\s*wrapped:\s*"?([A-Za-z0-9+/=]+)"?/))) {
      const w = Buffer.from(m[1], 'base64');
      assert.equal(w.length, 93, 'wrapped key length');
      assert.equal(w[0], 1, 'a file-KEK wrap (format 0x01)');
      const v = Buffer.alloc(4);
      v.writeUInt32BE(version);
      const aad = Buffer.concat([Buffer.from('cosmoseal/v1/keywrap\0'), Buffer.from(name), Buffer.from([0]), v, Buffer.from(id, 'hex')]);
      const d = crypto.createDecipheriv('aes-256-gcm', kek, w.subarray(1, 13));
      d.setAAD(aad);
      d.setAuthTag(w.subarray(77, 93));
      keys.push({ label: `data key ${name} v${version}`, id, bytes: Buffer.concat([d.update(w.subarray(13, 77)), d.final()]) });
    }
  }
  return keys;
}
