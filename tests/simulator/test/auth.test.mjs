// Signature rules: the .NET SDK's baseline vectors (name and RID links), then the live checks on
// every request: name and RID links accepted, wrong key / wrong link / stale date refused with 401.
//
// Vectors: Azure/azure-cosmos-dotnet-v3,
// Microsoft.Azure.Cosmos/tests/Microsoft.Azure.Cosmos.Tests/AuthorizationHelperTests.cs
// (AuthorizationBaseline / AuthorizationBaselineResults, key "VGhpcyBpcyBhIHNhbXBsZSBzdHJpbmc=").

import test from 'node:test';
import assert from 'node:assert/strict';
import { sign, signedResource, pathSegments, stringToSign } from '../lib/auth.mjs';
import { startSimulator } from '../lib/server.mjs';
import { call, makeCollection, pkHeader } from './helpers.mjs';

const DOTNET_KEY = 'VGhpcyBpcyBhIHNhbXBsZSBzdHJpbmc=';
const DOTNET = [
  // [verb, path, ridBased, x-ms-date, sig]
  ['GET', '/', false, 'Tue, 21 Jul 2020 17:55:31 GMT', '4ldo2CcZsh80o/VDqZFPS+3d2O0hTGfsVmhTfnSlE8g='],
  ['GET', '/dbs/92dc837c73484349852a2c8f05777565', false, 'Tue, 21 Jul 2020 17:55:36 GMT', 'niv0JZU/T0s8tmaod36QbBmZJBCIbkJU31r5Rp+rJGQ='],
  ['POST', '/dbs/92dc837c73484349852a2c8f05777565/colls', false, 'Tue, 21 Jul 2020 17:55:36 GMT', '2MIgOuCzkrWLI6+j5NYnmKYm8a7oS1dmcvETQAs3sEQ='],
  ['GET', '/dbs/DPZtAA==/colls/DPZtAKyOj5g=/pkranges', true, 'Tue, 21 Jul 2020 17:55:37 GMT', 'qH73yd16s9pr9e3X4azaZc97zyqs4oyxkB1L+LdsGbk='],
  ['GET', '/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs', true, 'Tue, 21 Jul 2020 17:55:37 GMT', 'nWZ29vBWEbWx7UZlJP+TzbgHoYCVVy6mz004thDJuPc='],
  ['PUT', '/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs/DPZtAKyOj5gBAAAAAAAAAA==', true, 'Tue, 21 Jul 2020 17:55:37 GMT', 'F8ZE0qxkWE1DszV7y46GWQs42kdkFfT2+hGHK0zJp7U='],
  ['DELETE', '/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs/DPZtAKyOj5gBAAAAAAAAAA==', true, 'Tue, 21 Jul 2020 17:55:38 GMT', 'yw/Thc12voLUXMZ7NMDp5VsCgAwRGNF2K38oulEfpGg='],
];

test('.NET baseline signatures: name links as sent, RID links as the last RID lower-cased', () => {
  for (const [verb, path, rid, date, want] of DOTNET) {
    const { type, link } = signedResource(pathSegments(path), rid);
    assert.equal(sign(DOTNET_KEY, verb, type, link, date), want, `${verb} ${path}`);
  }
  const { type, link } = signedResource(pathSegments('/dbs/DPZtAA==/colls/DPZtAKyOj5g=/pkranges'), true);
  assert.equal(stringToSign('GET', type, link, 'Tue, 21 Jul 2020 17:55:37 GMT'), 'get\npkranges\ndpztakyoj5g=\ntue, 21 jul 2020 17:55:37 gmt\n\n');
});

test('live signature checks', async (t) => {
  const sim = await startSimulator({ partitions: 3 });
  t.after(() => sim.stop());
  const { db, coll } = await makeCollection(sim, { db: 'db full', coll: 'Items' });
  const created = await call(sim, { method: 'POST', path: '/dbs/db%20full/colls/Items/docs', body: { id: 'b é', pk: 'p1' }, headers: pkHeader('p1') });
  assert.equal(created.status, 201, created.text);

  await t.test('name-based links (percent-decoded, case kept) are accepted', async () => {
    const r = await call(sim, { path: `/dbs/db%20full/colls/Items/docs/${encodeURIComponent('b é')}`, headers: pkHeader('p1') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, 'b é');
  });

  await t.test('RID links are signed over the last RID, lower-cased', async () => {
    const base = `/dbs/${db._rid}/colls/${coll._rid}`;
    const pk = await call(sim, { path: `${base}/pkranges`, ridBased: true });
    assert.equal(pk.status, 200, pk.text);
    assert.equal(pk.json.PartitionKeyRanges.length, 3);
    const doc = await call(sim, { path: `${base}/docs/${created.json._rid}`, ridBased: true });
    assert.equal(doc.status, 200, doc.text);
    assert.equal(doc.json.id, 'b é');
    const dbr = await call(sim, { path: `/dbs/${db._rid}`, ridBased: true });
    assert.equal(dbr.status, 200);
    assert.equal(dbr.json.id, 'db full');
    // The same RID path signed over the full path (as a name link) is refused.
    const wrong = await call(sim, { path: `${base}/pkranges`, ridBased: false });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.code, 'Unauthorized');
    assert.match(wrong.json.message, /Server used the following payload to sign: 'get\\npkranges\\n/);
  });

  await t.test('doubled leading slash (Python 3.x style URLs) is accepted', async () => {
    const r = await call(sim, { path: '//dbs/db%20full', signPath: '/dbs/db%20full' });
    assert.equal(r.status, 200, r.text);
  });

  await t.test('a wrong key, a wrong link, a missing header are refused', async () => {
    const other = Buffer.alloc(64, 7).toString('base64');
    assert.equal((await call(sim, { path: '/dbs', key: other })).status, 401);
    assert.equal((await call(sim, { path: '/dbs/db%20full', signPath: '/dbs/db%20Full' })).status, 401);
    const none = await call(sim, { path: '/dbs', sign: false });
    assert.equal(none.status, 401);
    assert.match(none.json.message, /authorization/i);
  });

  await t.test('x-ms-date must be within 15 minutes', async () => {
    const at = (ms) => new Date(Date.now() + ms);
    assert.equal((await call(sim, { path: '/dbs', date: at(-14 * 60e3) })).status, 200);
    assert.equal((await call(sim, { path: '/dbs', date: at(14 * 60e3) })).status, 200);
    const old = await call(sim, { path: '/dbs', date: at(-16 * 60e3) });
    assert.equal(old.status, 401);
    assert.match(old.json.message, /not valid at the current time/);
    assert.equal((await call(sim, { path: '/dbs', date: at(16 * 60e3) })).status, 401);
  });

  await t.test('every request is logged with its verdict', () => {
    const log = sim.requests();
    assert.ok(log.some((r) => r.verified === false && r.status === 401));
    assert.ok(log.every((r) => typeof r.seq === 'number' && r.method && r.url));
  });
});
