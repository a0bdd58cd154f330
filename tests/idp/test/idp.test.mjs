// The test identity provider speaks the Entra v2.0 protocol: discovery, JWKS, the token endpoint
// (secret, certificate assertion, federated assertion), managed identity (IMDS, App Service), and
// its admin controls (lifetime, rotation, down/up, counters). Raw HTTP: no dependencies.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startIdp, JWT_BEARER, TOKEN_EXCHANGE_AUDIENCE } from '../lib/idp.mjs';
import { signJwt, verifyJwt, certThumbprints } from '../lib/jwt.mjs';
import { makeClientCertificate } from '../lib/certs.mjs';
import { request, claimsOf, headerOf } from './helpers.mjs';

const RESOURCE = 'https://127.0.0.1:8081';
let idp;
let dir;
let app;
let cert;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-test-'));
  cert = makeClientCertificate(dir, 'app');
  idp = await startIdp({ dir });
  app = idp.addApp({
    name: 'orders',
    secret: 'correct horse',
    certificates: [cert.certPem],
    federatedCredentials: [{ issuer: idp.k8sIssuer, subject: 'system:serviceaccount:shop:orders' }],
  });
});

after(async () => {
  await idp?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const token = (form, headers) => request(idp.tokenEndpoint, { form: { grant_type: 'client_credentials', scope: `${RESOURCE}/.default`, ...form }, headers, ca: idp.ca });
const jwks = async () => (await request(idp.jwksUri, { ca: idp.ca })).json;
const verifyAgainst = (keys, t, o = {}) =>
  verifyJwt(t, { keyFor: (h) => keys.keys.find((k) => k.kid === h.kid) ?? null, audience: RESOURCE, issuer: idp.issuer, ...o });

function certAssertion({ aud = idp.tokenEndpoint, key = cert.keyPem, certPem = cert.certPem, exp } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const { x5t } = certThumbprints(certPem);
  return signJwt(
    { aud, iss: app.clientId, sub: app.clientId, jti: crypto.randomUUID(), nbf: now, iat: now, exp: exp ?? now + 600 },
    { privateKey: crypto.createPrivateKey(key) },
    { x5t },
  );
}

test('OpenID configuration: issuer, jwks_uri and token_endpoint of the tenant, as Entra v2.0 lists them', async () => {
  const r = await request(`${idp.url}/${idp.tenantId}/v2.0/.well-known/openid-configuration`, { ca: idp.ca });
  assert.equal(r.status, 200);
  assert.equal(r.json.issuer, `${idp.url}/${idp.tenantId}/v2.0`);
  assert.equal(r.json.jwks_uri, `${idp.url}/${idp.tenantId}/discovery/v2.0/keys`);
  assert.equal(r.json.token_endpoint, `${idp.url}/${idp.tenantId}/oauth2/v2.0/token`);
  assert.ok(r.json.authorization_endpoint);
  assert.deepEqual(r.json.id_token_signing_alg_values_supported, ['RS256']);
  const unknown = await request(`${idp.url}/${crypto.randomUUID()}/v2.0/.well-known/openid-configuration`, { ca: idp.ca });
  assert.equal(unknown.status, 400);
  assert.match(unknown.json.error_description, /^AADSTS90002: Tenant '.*' not found/);
  assert.deepEqual(unknown.json.error_codes, [90002]);
});

test('JWKS: several RSA signing keys with kid, n and e', async () => {
  const k = await jwks();
  assert.ok(k.keys.length >= 2);
  for (const key of k.keys) {
    assert.equal(key.kty, 'RSA');
    assert.equal(key.use, 'sig');
    assert.ok(key.kid && key.n && key.e);
  }
  assert.equal(new Set(k.keys.map((x) => x.kid)).size, k.keys.length);
});

test('client secret: an access token with Entra claims, RS256 under a published kid', async () => {
  const before = idp.stats().tokens;
  const r = await token({ client_id: app.clientId, client_secret: 'correct horse' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.expires_in, 3599);
  const { header, payload } = verifyAgainst(await jwks(), r.json.access_token);
  assert.equal(header.alg, 'RS256');
  assert.equal(payload.aud, RESOURCE);
  assert.equal(payload.tid, idp.tenantId);
  assert.equal(payload.oid, app.objectId);
  assert.equal(payload.sub, app.objectId);
  assert.equal(payload.azp, app.clientId);
  assert.equal(payload.azpacr, '1');
  assert.equal(payload.ver, '2.0');
  assert.equal(payload.idtyp, 'app');
  assert.equal(payload.exp - payload.iat, 3599);
  assert.ok(payload.nbf <= Math.floor(Date.now() / 1000));
  assert.equal(idp.stats().tokens, before + 1);
  // HTTP Basic client authentication is accepted as well.
  const basic = Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent('correct horse')}`).toString('base64');
  const b = await token({}, { authorization: `Basic ${basic}` });
  assert.equal(b.status, 200, b.text);
});

test('token endpoint errors are worded as Entra words them', async () => {
  const bad = await token({ client_id: app.clientId, client_secret: 'wrong' });
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error, 'invalid_client');
  assert.match(bad.json.error_description, /^AADSTS7000215: Invalid client secret provided/);
  const unknown = await token({ client_id: crypto.randomUUID(), client_secret: 'x' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error, 'unauthorized_client');
  assert.deepEqual(unknown.json.error_codes, [700016]);
  const scope = await token({ client_id: app.clientId, client_secret: 'correct horse', scope: `${RESOURCE}/user_impersonation` });
  assert.equal(scope.status, 400);
  assert.equal(scope.json.error, 'invalid_scope');
  assert.deepEqual(scope.json.error_codes, [1002012]);
  await request(`${idp.adminUrl}resources`, { method: 'POST', json: { resources: ['https://cosmos.azure.com'] } });
  const unknownResource = await token({ client_id: app.clientId, client_secret: 'correct horse' });
  assert.equal(unknownResource.json.error, 'invalid_resource');
  assert.deepEqual(unknownResource.json.error_codes, [500011]);
  await request(`${idp.adminUrl}resources`, { method: 'POST', json: {} });
  const grant = await token({ grant_type: 'password', client_id: app.clientId });
  assert.equal(grant.json.error, 'unsupported_grant_type');
  const tenant = await request(`${idp.url}/${crypto.randomUUID()}/oauth2/v2.0/token`, { form: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: 'correct horse', scope: `${RESOURCE}/.default` }, ca: idp.ca });
  assert.deepEqual(tenant.json.error_codes, [90002]);
  assert.ok(bad.json.trace_id && bad.json.correlation_id && bad.json.timestamp);
});

test('certificate assertion: signed by a registered certificate, audience the token endpoint', async () => {
  const ok = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: certAssertion() });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(claimsOf(ok.json.access_token).azpacr, '2');
  const other = makeClientCertificate(dir, 'other');
  const foreign = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: certAssertion({ key: other.keyPem, certPem: other.certPem }) });
  assert.equal(foreign.status, 401);
  assert.deepEqual(foreign.json.error_codes, [700027]);
  // The registered thumbprint with another key's signature.
  const forged = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: certAssertion({ key: other.keyPem }) });
  assert.equal(forged.status, 401);
  assert.deepEqual(forged.json.error_codes, [700027]);
  const aud = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: certAssertion({ aud: 'https://elsewhere/' }) });
  assert.equal(aud.status, 400);
  const expired = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: certAssertion({ exp: Math.floor(Date.now() / 1000) - 3600 }) });
  assert.deepEqual(expired.json.error_codes, [700024]);
});

test('federated assertion: a Kubernetes service-account token matched on issuer, subject and audience', async () => {
  const sa = idp.serviceAccountToken({ namespace: 'shop', serviceAccount: 'orders' });
  assert.equal(headerOf(sa).alg, 'RS256');
  assert.deepEqual(claimsOf(sa).aud, [TOKEN_EXCHANGE_AUDIENCE]);
  const ok = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: sa });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(claimsOf(ok.json.access_token).oid, app.objectId);
  const kinds = [
    [{ namespace: 'shop', serviceAccount: 'intruder' }, 70021],
    [{ namespace: 'shop', serviceAccount: 'orders', audience: 'api://somethingElse' }, 70021],
    [{ namespace: 'shop', serviceAccount: 'orders', issuer: 'https://other-issuer.example' }, 70021],
    [{ namespace: 'shop', serviceAccount: 'orders', signWith: 'foreign' }, 700211],
    [{ namespace: 'shop', serviceAccount: 'orders', lifetimeSec: 10, now: Math.floor(Date.now() / 1000) - 7200 }, 700024],
  ];
  for (const [o, code] of kinds) {
    const r = await token({ client_id: app.clientId, client_assertion_type: JWT_BEARER, client_assertion: idp.serviceAccountToken(o) });
    assert.ok(r.status >= 400, JSON.stringify(o));
    assert.deepEqual(r.json.error_codes, [code], `${JSON.stringify(o)}: ${r.json.error_description}`);
  }
  const disc = await request(`${idp.k8sIssuer}/.well-known/openid-configuration`, { ca: idp.ca });
  assert.equal(disc.json.issuer, idp.k8sIssuer);
  const k8sKeys = (await request(disc.json.jwks_uri, { ca: idp.ca })).json;
  verifyJwt(sa, { keyFor: (h) => k8sKeys.keys.find((k) => k.kid === h.kid), issuer: idp.k8sIssuer, audience: TOKEN_EXCHANGE_AUDIENCE });
});

test('managed identity: IMDS (Metadata: true) and App Service (X-IDENTITY-HEADER), plain HTTP on loopback', async () => {
  const imds = `${idp.miUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`;
  const noHeader = await request(imds);
  assert.equal(noHeader.status, 400);
  assert.equal(noHeader.json.error, 'invalid_request');
  const r = await request(imds, { headers: { Metadata: 'true' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(typeof r.json.expires_on, 'string');
  assert.equal(r.json.resource, RESOURCE);
  const c = verifyAgainst(await jwks(), r.json.access_token).payload;
  assert.equal(c.oid, idp.systemIdentity.objectId);
  assert.equal(c.azp, idp.systemIdentity.clientId);
  // MSAL for Node asks with a trailing slash; IMDS serves it.
  const slash = await request(imds.replace('/token?', '/token/?'), { headers: { Metadata: 'true' } });
  assert.equal(slash.status, 200, slash.text);
  const user = idp.addManagedIdentity({ name: 'orders-id' });
  const u = await request(`${imds}&client_id=${user.clientId}`, { headers: { Metadata: 'true' } });
  assert.equal(claimsOf(u.json.access_token).oid, user.objectId);
  const env = idp.appServiceEnv();
  const asvc = `${env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent(RESOURCE)}`;
  assert.equal((await request(asvc, { headers: { 'X-IDENTITY-HEADER': 'nope' } })).status, 401);
  const a = await request(asvc, { headers: { 'X-IDENTITY-HEADER': env.IDENTITY_HEADER } });
  assert.equal(a.status, 200, a.text);
  assert.equal(claimsOf(a.json.access_token).aud, RESOURCE);
  assert.ok(Number(a.json.expires_on) > Date.now() / 1000);
  // A resource the tenant does not know is refused here too, as at the token endpoint.
  await request(`${idp.adminUrl}resources`, { method: 'POST', json: { resources: ['https://cosmos.azure.com'] } });
  try {
    const other = encodeURIComponent('https://localhost');
    const ri = await request(`${idp.miUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${other}`, { headers: { Metadata: 'true' } });
    const ra = await request(`${env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${other}`, { headers: { 'X-IDENTITY-HEADER': env.IDENTITY_HEADER } });
    for (const x of [ri, ra]) {
      assert.equal(x.status, 400, x.text);
      assert.equal(x.json.error, 'invalid_resource');
      assert.match(x.json.error_description, /^AADSTS500011: The resource principal named https:\/\/localhost was not found/);
    }
    const known = await request(`${env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent('https://cosmos.azure.com')}`, { headers: { 'X-IDENTITY-HEADER': env.IDENTITY_HEADER } });
    assert.equal(known.status, 200, known.text);
  } finally {
    await request(`${idp.adminUrl}resources`, { method: 'POST', json: {} });
  }
});

test('admin: token lifetime, key rotation (old keys stay published unless retired), v1 tokens', async () => {
  const admin = (p, json) => request(`${idp.adminUrl}${p}`, { method: 'POST', json: json ?? {} });
  assert.equal((await admin('lifetime', { seconds: 5 })).json.tokenLifetimeSec, 5);
  const short = await token({ client_id: app.clientId, client_secret: 'correct horse' });
  assert.equal(short.json.expires_in, 5);
  const sc = claimsOf(short.json.access_token);
  assert.equal(sc.exp - sc.iat, 5);
  await admin('lifetime', { seconds: 3599 });

  const oldKid = headerOf(short.json.access_token).kid;
  const rot = (await admin('rotate')).json;
  assert.notEqual(rot.kid, oldKid);
  const after = await token({ client_id: app.clientId, client_secret: 'correct horse' });
  assert.equal(headerOf(after.json.access_token).kid, rot.kid);
  const keys = await jwks();
  verifyAgainst(keys, after.json.access_token);
  verifyAgainst(keys, short.json.access_token, { now: sc.iat * 1000 });
  await admin('rotate', { keep: false });
  const retired = await jwks();
  assert.equal(retired.keys.length, 1);
  assert.throws(() => verifyAgainst(retired, after.json.access_token), /no signing key/);

  await admin('token-version', { version: 1 });
  const v1 = claimsOf((await token({ client_id: app.clientId, client_secret: 'correct horse' })).json.access_token);
  assert.equal(v1.ver, '1.0');
  assert.equal(v1.appid, app.clientId);
  assert.equal(v1.iss, `${idp.url}/${idp.tenantId}/`);
  await admin('token-version', { version: 2 });

  const stats = (await request(`${idp.adminUrl}stats`)).json;
  assert.ok(stats.tokens >= 3);
  assert.ok(stats.byClient[app.clientId] >= 3);
});

test('down and back: refused connections, resets, 503s; recovery on the same port; slow and failing token answers', async () => {
  const ok = () => token({ client_id: app.clientId, client_secret: 'correct horse' });
  await idp.goDown('refuse');
  await assert.rejects(ok(), /ECONNREFUSED/);
  await assert.rejects(request(`${idp.miUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x`, { headers: { Metadata: 'true' } }), /ECONNREFUSED/);
  await idp.comeBack();
  assert.equal((await ok()).status, 200);
  await idp.goDown('reset');
  await assert.rejects(ok(), /socket hang up|ECONNRESET/);
  await idp.comeBack();
  await request(`${idp.adminUrl}down`, { method: 'POST', json: { mode: '503' } });
  const r = await ok();
  assert.equal(r.status, 503);
  assert.equal(r.json.error, 'temporarily_unavailable');
  await request(`${idp.adminUrl}up`, { method: 'POST', json: {} });
  assert.equal((await ok()).status, 200);
  await request(`${idp.adminUrl}delay`, { method: 'POST', json: { ms: 400 } });
  const t0 = Date.now();
  assert.equal((await ok()).status, 200);
  assert.ok(Date.now() - t0 >= 380, 'the token answer waited');
  idp.setTokenDelay(0);
  idp.failTokens({ count: 1, status: 500, error: 'server_error', code: 50000 });
  assert.equal((await ok()).status, 500);
  assert.equal((await ok()).status, 200);
});
