// Resource ids (_rid) in the service's layout: a database is 4 bytes, a collection 8 (its
// database's 4, then 4 with the top bit set, which marks a collection rather than a user), and a
// collection's children 16 (the collection's 8, then a little-endian 64-bit counter whose top
// nibble is the child type: 0 document, 5 partition-key range). Printed as base64 with '-' for
// '/', so a RID can stand in a URL path segment.

import crypto from 'node:crypto';

export const ChildType = { Document: 0x0, PartitionKeyRange: 0x5 };

export const ridToString = (bytes) => Buffer.from(bytes).toString('base64').replace(/\//g, '-');

/** The bytes of a RID string, or null when it is not base64 of 4, 8 or 16 bytes. */
export function parseRid(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+\-/]+={0,2}$/.test(s)) return null;
  const b = Buffer.from(s.replace(/-/g, '/'), 'base64');
  if (![4, 8, 16].includes(b.length) || ridToString(b) !== s.replace(/\//g, '-')) return null;
  return b;
}

export function newDatabaseRid(taken) {
  for (;;) {
    const b = crypto.randomBytes(4);
    if (b.readUInt32BE(0) === 0) continue;
    const s = ridToString(b);
    if (!taken.has(s)) return { bytes: b, rid: s };
  }
}

export function newCollectionRid(dbBytes, taken) {
  for (;;) {
    const tail = crypto.randomBytes(4);
    tail[0] |= 0x80;
    const b = Buffer.concat([dbBytes, tail]);
    const s = ridToString(b);
    if (!taken.has(s)) return { bytes: b, rid: s };
  }
}

/** A child of a collection: counter n (1-based) of the given type. */
export function childRid(collBytes, n, type) {
  const tail = Buffer.alloc(8);
  tail.writeBigUInt64LE(BigInt(n));
  tail[7] = (tail[7] & 0x0f) | (type << 4);
  const b = Buffer.concat([collBytes, tail]);
  return { bytes: b, rid: ridToString(b) };
}
