// Effective partition keys (EPK) as Cosmos computes them, written from the algorithm the SDKs
// document (FIDELITY.md cites the sources): MurmurHash3 over the binary encoding of each
// partition-key component. Hash V2: x64 128-bit hash, bytes reversed, top two bits cleared, 32 hex
// digits. Hash V1: x86 32-bit hash of the (truncated) component, then the hash and the component
// in Cosmos's order-preserving binary encoding. MultiHash (hierarchical keys): one V2 hash per
// component, concatenated. EPKs and range boundaries are upper-case hex compared as strings.

const M64 = (1n << 64n) - 1n;

// Type markers of the binary encoding (one byte before each component).
export const Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Number: 0x05,
  String: 0x08,
  Infinity: 0xff,
};

const rotl64 = (x, r) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M64;
const mul64 = (a, b) => (a * b) & M64;

function fmix64(k) {
  k ^= k >> 33n;
  k = mul64(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul64(k, 0xc4ceb9fe1a85ec53n);
  k ^= k >> 33n;
  return k;
}

function le64(bytes, at, n = 8) {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
  return v;
}

/** MurmurHash3_x64_128 (seed 0 unless given): returns [h1, h2] as 64-bit BigInts. */
export function murmur3x64_128(bytes, seed = 0n) {
  const c1 = 0x87c37b91114253d5n;
  const c2 = 0x4cf5ad432745937fn;
  let h1 = BigInt(seed);
  let h2 = BigInt(seed);
  const len = bytes.length;
  const blocks = Math.floor(len / 16);
  for (let b = 0; b < blocks; b++) {
    let k1 = le64(bytes, b * 16);
    let k2 = le64(bytes, b * 16 + 8);
    k1 = mul64(rotl64(mul64(k1, c1), 31), c2);
    h1 ^= k1;
    h1 = (mul64(rotl64(h1, 27) + h2, 5n) + 0x52dce729n) & M64;
    k2 = mul64(rotl64(mul64(k2, c2), 33), c1);
    h2 ^= k2;
    h2 = (mul64(rotl64(h2, 31) + h1, 5n) + 0x38495ab5n) & M64;
  }
  const tail = blocks * 16;
  const rest = len - tail;
  if (rest > 8) {
    const k2 = le64(bytes, tail + 8, rest - 8);
    h2 ^= mul64(rotl64(mul64(k2, c2), 33), c1);
  }
  if (rest > 0) {
    const k1 = le64(bytes, tail, Math.min(rest, 8));
    h1 ^= mul64(rotl64(mul64(k1, c1), 31), c2);
  }
  h1 ^= BigInt(len);
  h2 ^= BigInt(len);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  return [h1, h2];
}

/** MurmurHash3_x86_32 (seed 0 unless given): returns an unsigned 32-bit number. */
export function murmur3x86_32(bytes, seed = 0) {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const len = bytes.length;
  const blocks = len >>> 2;
  const rotl = (x, r) => (x << r) | (x >>> (32 - r));
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    let k = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    k = Math.imul(rotl(Math.imul(k, c1), 15), c2);
    h ^= k;
    h = (Math.imul(rotl(h, 13), 5) + 0xe6546b64) | 0;
  }
  const o = blocks * 4;
  let k = 0;
  switch (len & 3) {
    case 3:
      k ^= bytes[o + 2] << 16; // falls through
    case 2:
      k ^= bytes[o + 1] << 8; // falls through
    case 1:
      k ^= bytes[o];
      k = Math.imul(rotl(Math.imul(k, c1), 15), c2);
      h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hex = (bytes) => Buffer.from(bytes).toString('hex').toUpperCase();

function doubleBits(v) {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.readBigUInt64BE();
}

function doubleLE(v) {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [...b];
}

/**
 * Cosmos's order-preserving number encoding: marker 0x05, the sign-folded IEEE bits' top byte,
 * then 7 bits per byte with the low bit as "more follows", trailing zero groups dropped.
 */
export function encodeNumber(v) {
  const bits = doubleBits(v);
  let payload = bits < 1n << 63n ? bits ^ (1n << 63n) : (M64 + 1n - bits) & M64;
  const out = [Marker.Number, Number(payload >> 56n)];
  payload = (payload << 8n) & M64;
  let pending = null;
  do {
    if (pending !== null) out.push(pending);
    pending = Number((payload >> 56n) & 0xffn) | 1;
    payload = (payload << 7n) & M64;
  } while (payload !== 0n);
  const last = pending & 0xfe;
  if (last !== 0) out.push(last);
  return out;
}

function kindOf(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') return Object.keys(v).length === 0 ? 'undefined' : 'object';
  return typeof v;
}

function scalarMarker(v) {
  switch (kindOf(v)) {
    case 'boolean':
      return v ? Marker.True : Marker.False;
    case 'null':
      return Marker.Null;
    case 'undefined':
      return Marker.Undefined;
    default:
      throw new Error(`a partition-key component must be a string, number, boolean, null or {} (got ${JSON.stringify(v)})`);
  }
}

/** One component's bytes in the V2 hash input (marker, then UTF-8 + FF or a little-endian double). */
export function v2Component(v) {
  if (typeof v === 'string') return [Marker.String, ...Buffer.from(v, 'utf8'), Marker.Infinity];
  if (typeof v === 'number') return [Marker.Number, ...doubleLE(v)];
  return [scalarMarker(v)];
}

/** Hash V2 over all components (one path: one component). 32 upper-case hex digits. */
export function epkV2(values) {
  const input = Uint8Array.from(values.flatMap(v2Component));
  const [h1, h2] = murmur3x64_128(input);
  // The 128-bit value h2:h1 written big-endian (the SDKs get there by reversing the 16 bytes of
  // the hash's little-endian form); the top two bits are then cleared.
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(h2, 0);
  b.writeBigUInt64BE(h1, 8);
  b[0] &= 0x3f;
  return hex(b);
}

const V1_MAX_CHARS = 100;

/** The V1 hash input of a component (strings cut at 100 chars, 00-terminated). */
export function v1HashInput(v) {
  if (typeof v === 'string') return [Marker.String, ...Buffer.from(v.slice(0, V1_MAX_CHARS), 'utf8'), Marker.Undefined];
  if (typeof v === 'number') return [Marker.Number, ...doubleLE(v)];
  return [scalarMarker(v)];
}

function v1Encoded(v) {
  if (typeof v === 'string') {
    const bytes = [...Buffer.from(v.slice(0, V1_MAX_CHARS), 'utf8')].map((c) => (c < 0xff ? c + 1 : c));
    return [Marker.String, ...bytes, Marker.Undefined];
  }
  if (typeof v === 'number') return encodeNumber(v);
  return [scalarMarker(v)];
}

/** Hash V1 (first component only, as V1 containers have one path). */
export function epkV1(values) {
  const v = values[0];
  const h = murmur3x86_32(Uint8Array.from(v1HashInput(v)));
  return hex([...encodeNumber(h), ...v1Encoded(v)]);
}

/** One V2 hash per component (hierarchical partition keys), concatenated. */
export function epkMultiHash(values) {
  return values.map((v) => epkV2([v])).join('');
}

/**
 * The EPK of a partition-key value for a collection's partitionKey definition.
 * @param {unknown[]} values the components, as in the x-ms-documentdb-partitionkey header
 * @param {{kind?: string, version?: number}} def
 */
export function effectivePartitionKey(values, def = {}) {
  if (def.kind === 'MultiHash') return epkMultiHash(values);
  return def.version === 1 ? epkV1(values) : epkV2(values);
}

/**
 * Boundaries of `n` equal physical ranges: [{min, max}] with min "" first and max "FF" last.
 * V2 (and MultiHash): the 126-bit hash space, 32 hex digits. V1: the 32-bit hash space, each
 * boundary in the number encoding, the first bytes of every V1 EPK.
 */
export function rangeBoundaries(n, version = 2) {
  const cuts = [];
  for (let k = 1; k < n; k++) {
    if (version === 1) cuts.push(hex(encodeNumber(Math.floor((k * 2 ** 32) / n))));
    else cuts.push(((BigInt(k) * (1n << 126n)) / BigInt(n)).toString(16).toUpperCase().padStart(32, '0'));
  }
  const bounds = ['', ...cuts, 'FF'];
  return bounds.slice(0, -1).map((min, i) => ({ min, max: bounds[i + 1] }));
}
