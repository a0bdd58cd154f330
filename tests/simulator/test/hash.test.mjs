// Effective partition keys against the SDKs' published test vectors, and range placement.
//
// Vectors (written down from their sources):
// - Hash V2 and V1: Azure/azure-sdk-for-js, sdk/cosmosdb/cosmos/test/internal/unit/hashing/v2.spec.ts
//   and v1.spec.ts (the same values appear in the .NET and Java SDKs' EPK tests).
// - Cross-check (not published vectors): values printed by the Python SDK azure-cosmos 4.9.0,
//   azure/cosmos/partition_key.py PartitionKey._get_effective_partition_key_string, run here on
//   strings with non-BMP characters, long strings and hierarchical keys (60 keys matched; a few
//   are kept below). Its integer keys are not used: that version hashes ints as int64 bytes,
//   not as doubles like the other SDKs.
// - MurmurHash3 x86_32: the reference implementation's widely published values for seed 0.

import test from 'node:test';
import assert from 'node:assert/strict';
import { epkV1, epkV2, epkMultiHash, effectivePartitionKey, murmur3x86_32, rangeBoundaries, encodeNumber } from '../lib/hash.mjs';

const A110 = 'a'.repeat(110);

const V2 = [
  [['redmond'], '22E342F38A486A088463DFF7838A5963'],
  [[A110], '0BA3E9CA8EE4C14538828D1612A4B652'],
  [[''], '32E9366E637A71B4E710384B2F4970A0'],
  [['aa'], '05033626483AE80D00E44FBD35362B19'],
  [[null], '378867E4430E67857ACE5C908374FE16'],
  [[true], '0E711127C5B5A8E4726AC6DD306A3E59'],
  [[false], '2FE1BE91E90A3439635E0E9E37361EF2'],
  [[{}], '11622DAA78F835834610ABE56EFF5CB5'],
  [[5], '19C08621B135968252FB34B4CF66F811'],
  [[5.5], '0E2EE47829D1AF775EEFB6540FD1D0ED'],
  [[12313.1221], '27E7ECA8F2EE3E53424DE8D5220631C6'],
  [[123456789], '1F56D2538088EBA82CCF988F36E16760'],
  [['redmond', 50, 5.5, true, false, null, '', 12313.1221], '1A5E512F591E980E07A6D8AD5BD5AB2F'],
];

const V1 = [
  [['partitionKey'], '05C1E1B3D9CD2608716273756A756A706F4C667A00'],
  [['redmond'], '05C1EFE313830C087366656E706F6500'],
  [[A110], `05C1EB5921F70608${'62'.repeat(100)}00`],
  [[''], '05C1CF33970FF80800'],
  [['aa'], '05C1C7B7270FE008626200'],
  [[null], '05C1ED45D7475601'],
  [[true], '05C1D7C5A903D803'],
  [[false], '05C1DB857D857C02'],
  [[{}], '05C1D529E345DC00'],
  [[5], '05C1D9C1C5517C05C014'],
  [[5.5], '05C1D7A771716C05C016'],
  [[12313.1221], '05C1ED154D592E05C0C90723F50FC925D8'],
  [[123456789], '05C1D9E1A5311C05C19DB7CD8B40'],
];

test('hash V2 EPKs match the JS SDK vectors', () => {
  for (const [key, want] of V2) assert.equal(epkV2(key), want, JSON.stringify(key));
});

test('hash V1 EPKs match the JS SDK vectors', () => {
  for (const [key, want] of V1) assert.equal(epkV1(key), want, JSON.stringify(key));
});

test('cross-check with the Python SDK (4.9.0) for V2 and MultiHash', () => {
  assert.equal(epkV2(['é€𝄞']), '2388514534F3E97906C38749D4805F5B');
  assert.equal(epkV2(['x'.repeat(300)]), '0CAB7AEEEBDAB636883E36C4B75B837D');
  assert.equal(epkV2(['key-7']), '098BA5E2DC561A3714A1965D8E9BB1CE');
  assert.equal(epkMultiHash(['t1', 'u1']), '3D48BB14DA9D090D22112C96695028B62A947C94F6E254B945CEBC3196C9897C');
  assert.equal(epkMultiHash(['é', 'x'.repeat(40)]), '007199F104E04116EE25AF912CA4889B2BA5636E640ADF909D2628D73E44B2EC');
});

test('MurmurHash3 x86_32 reference values (seed 0)', () => {
  assert.equal(murmur3x86_32(Buffer.from('')), 0);
  assert.equal(murmur3x86_32(Buffer.from('hello')), 0x248bfa47);
  assert.equal(murmur3x86_32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x2e4ff723);
});

test('MultiHash: one V2 hash per component, concatenated', () => {
  assert.equal(epkMultiHash(['redmond', 5]), epkV2(['redmond']) + epkV2([5]));
  assert.equal(effectivePartitionKey(['redmond'], { kind: 'MultiHash', version: 2 }), epkV2(['redmond']));
});

test('the number encoding is order-preserving', () => {
  const nums = [-1e9, -5.5, -1, 0, 1, 5, 5.5, 1e3, 2 ** 31, 2 ** 32 - 1];
  const hex = nums.map((n) => Buffer.from(encodeNumber(n)).toString('hex'));
  assert.deepEqual([...hex].sort(), hex);
});

test('range boundaries cover the space, V2 EPKs spread over every range', () => {
  for (const n of [1, 3, 5]) {
    const b = rangeBoundaries(n, 2);
    assert.equal(b.length, n);
    assert.equal(b[0].min, '');
    assert.equal(b[n - 1].max, 'FF');
    for (let i = 1; i < n; i++) assert.equal(b[i].min, b[i - 1].max);
  }
  const ranges = rangeBoundaries(3, 2);
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) {
    const epk = epkV2([`key-${i}`]);
    assert.ok(epk < '40', 'V2 EPKs have the top two bits cleared');
    counts[ranges.findIndex((r) => r.min <= epk && (r.max === 'FF' || epk < r.max))]++;
  }
  for (const c of counts) assert.ok(c > 50, `every range gets documents: ${counts}`);
  const v1 = rangeBoundaries(3, 1);
  const c1 = [0, 0, 0];
  for (let i = 0; i < 300; i++) {
    const epk = epkV1([`key-${i}`]);
    c1[v1.findIndex((r) => r.min <= epk && (r.max === 'FF' || epk < r.max))]++;
  }
  for (const c of c1) assert.ok(c > 50, `every V1 range gets documents: ${c1}`);
});
