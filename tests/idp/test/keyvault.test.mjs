// The local Key Vault / Managed HSM (tests/keyvault) against the IdP: the REST shapes cosmoseal's
// azure_key_vault KEK provider relies on, and the refusals it must report.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { createPki } from '../../e2e/lib/pki.mjs';
import { startIdp } from '../lib/idp.mjs';
import { startKeyVault } from '../../keyvault/lib/keyvault.mjs';
import { request } from './helpers.mjs';

describe('local Key Vault', () => {
  let dir, pki, idp, app, vault, hsm;
  const token = async (scope) => {
    const r = await request(idp.tokenEndpoint, { ca: pki.ca, form: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: 's', scope } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token;
  };
  const call = (v, method, p, tok, json) => request(`${v.url}${p}`, { method, ca: pki.ca, json, headers: tok ? { authorization: `Bearer ${tok}` } : {} });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyvault-'));
    pki = createPki(dir);
    idp = await startIdp({ pki });
    app = idp.addApp({ name: 'kv', secret: 's' });
    const o = { pki, jwksUri: idp.jwksUri, issuer: idp.issuer, tenantId: idp.tenantId };
    vault = await startKeyVault(o);
    hsm = await startKeyVault({ ...o, kind: 'managedhsm' });
  });
  after(async () => {
    await vault?.stop();
    await hsm?.stop();
    await idp?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('get key, wrapkey and unwrapkey round trip (RSA 2048, 3072; oct-HSM A256KW)', async () => {
    const tok = await token('https://vault.azure.net/.default');
    for (const size of [2048, 3072]) {
      const { kid } = vault.createKey(`rsa-${size}`, { kty: 'RSA', size });
      const g = await call(vault, 'GET', `/keys/rsa-${size}?api-version=7.4`, tok);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.key.kid, kid);
      assert.equal(g.json.key.kty, 'RSA');
      const cek = crypto.randomBytes(32).toString('base64url');
      for (const alg of ['RSA-OAEP-256', 'RSA-OAEP']) {
        const w = await call(vault, 'POST', `${new URL(kid).pathname}/wrapkey?api-version=7.4`, tok, { alg, value: cek });
        assert.equal(w.status, 200, w.text);
        assert.equal(w.json.kid, kid);
        const u = await call(vault, 'POST', `${new URL(kid).pathname}/unwrapkey?api-version=7.4`, tok, { alg, value: w.json.value });
        assert.equal(u.json.value, cek);
      }
    }
    const htok = await token('https://managedhsm.azure.net/.default');
    const { kid } = hsm.createKey('aes', { kty: 'oct-HSM' });
    const cek = crypto.randomBytes(32).toString('base64url');
    const w = await call(hsm, 'POST', `${new URL(kid).pathname}/wrapkey?api-version=7.4`, htok, { alg: 'A256KW', value: cek });
    assert.equal(w.status, 200, w.text);
    assert.equal(Buffer.from(w.json.value, 'base64url').length, 40);
    const u = await call(hsm, 'POST', `${new URL(kid).pathname}/unwrapkey?api-version=7.4`, htok, { alg: 'A256KW', value: w.json.value });
    assert.equal(u.json.value, cek);
    const bad = await call(hsm, 'POST', `${new URL(kid).pathname}/unwrapkey?api-version=7.4`, htok, { alg: 'A256KW', value: crypto.randomBytes(40).toString('base64url') });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'BadParameter');
  });

  test('refusals: no token, wrong audience, RBAC, missing key, disabled version, down', async () => {
    const { kid, version } = vault.createKey('k');
    const p = new URL(kid).pathname;
    const none = await call(vault, 'GET', '/keys/k?api-version=7.4');
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, 'Unauthorized');
    assert.match(none.headers['www-authenticate'], /resource="https:\/\/vault.azure.net"/);
    const hsmTok = await token('https://managedhsm.azure.net/.default');
    const aud = await call(vault, 'GET', '/keys/k?api-version=7.4', hsmTok);
    assert.equal(aud.status, 401);
    assert.match(aud.json.error.message, /audience/);
    const tok = await token('https://vault.azure.net/.default');
    vault.setAccess([]);
    const rbac = await call(vault, 'POST', `${p}/unwrapkey?api-version=7.4`, tok, { alg: 'RSA-OAEP-256', value: 'AA' });
    assert.equal(rbac.status, 403);
    assert.equal(rbac.json.error.innererror.code, 'ForbiddenByRbac');
    vault.setAccess(null);
    const missing = await call(vault, 'GET', '/keys/nope?api-version=7.4', tok);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'KeyNotFound');
    vault.setEnabled('k', version, false);
    const dis = await call(vault, 'POST', `${p}/wrapkey?api-version=7.4`, tok, { alg: 'RSA-OAEP-256', value: 'AAAA' });
    assert.equal(dis.status, 403);
    assert.equal(dis.json.error.innererror.code, 'KeyDisabled');
    vault.setEnabled('k', version, true);
    await vault.goDown('503');
    assert.equal((await call(vault, 'GET', '/keys/k?api-version=7.4', tok)).status, 503);
    await vault.goDown('refuse');
    await assert.rejects(call(vault, 'GET', '/keys/k?api-version=7.4', tok));
    await vault.comeBack();
    assert.equal((await call(vault, 'GET', '/keys/k?api-version=7.4', tok)).status, 200);
  });
});
