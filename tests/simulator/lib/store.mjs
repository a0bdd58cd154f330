// In-memory account state: databases, collections with their physical partition-key ranges, and
// documents placed by effective partition key. Each range has its own LSN (bumped by every write
// in it), which drives session tokens and the change feed.

import crypto from 'node:crypto';
import { effectivePartitionKey, rangeBoundaries } from './hash.mjs';
import { newDatabaseRid, newCollectionRid, childRid, ChildType, parseRid } from './rid.mjs';

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export function newEtag() {
  const h = crypto.randomBytes(16).toString('hex');
  return `"${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}"`;
}

/** Canonical text of partition-key values ({} and undefined are the same "None" value). */
export function pkKey(values) {
  return JSON.stringify(values.map((v) => (v === undefined || (v && typeof v === 'object' && Object.keys(v).length === 0) ? { none: 1 } : v)));
}

function getPath(doc, path) {
  let cur = doc;
  for (const seg of path.split('/').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[seg];
  }
  return cur;
}

export class Collection {
  constructor(db, body, partitions, taken) {
    this.db = db;
    const { bytes, rid } = newCollectionRid(db.bytes, taken);
    this.bytes = bytes;
    this.rid = rid;
    this.id = body.id;
    const pk = body.partitionKey ?? { paths: ['/_partitionKey'], kind: 'Hash' };
    this.pk = { paths: pk.paths, kind: pk.kind ?? 'Hash', version: pk.version ?? 2 };
    this.ts = nowSeconds();
    this.etag = newEtag();
    this.body = {
      indexingPolicy: { indexingMode: 'consistent', automatic: true, includedPaths: [{ path: '/*' }], excludedPaths: [{ path: '/"_etag"/?' }] },
      conflictResolutionPolicy: { mode: 'LastWriterWins', conflictResolutionPath: '/_ts', conflictResolutionProcedure: '' },
      geospatialConfig: { type: 'Geography' },
      ...body,
      partitionKey: this.pk,
    };
    this.docs = new Map(); // pkKey \0 id -> entry
    this.docsByRid = new Map();
    this.nextDoc = 1;
    this.nextRange = 0;
    this.rangesEtag = 1;
    this.ranges = rangeBoundaries(partitions, this.pk.kind === 'MultiHash' ? 2 : this.pk.version).map((b) => this._newRange(b.min, b.max, [], 0));
    this.goneRanges = new Map(); // id -> child ids
  }

  _newRange(min, max, parents, lsn) {
    const id = String(this.nextRange++);
    return { id, rid: childRid(this.bytes, Number(id) + 1, ChildType.PartitionKeyRange).rid, min, max, parents, lsn, ts: nowSeconds(), etag: newEtag() };
  }

  get self() {
    return `dbs/${this.db.rid}/colls/${this.rid}/`;
  }

  toJSON() {
    return {
      ...this.body,
      id: this.id,
      _rid: this.rid,
      _ts: this.ts,
      _self: this.self,
      _etag: this.etag,
      _docs: 'docs/',
      _sprocs: 'sprocs/',
      _triggers: 'triggers/',
      _udfs: 'udfs/',
      _conflicts: 'conflicts/',
    };
  }

  /** The partition-key values of a document body (missing paths are the None value {}). */
  pkValuesOf(doc) {
    return this.pk.paths.map((p) => {
      const v = getPath(doc, p);
      return v === undefined ? {} : v;
    });
  }

  epk(values) {
    return effectivePartitionKey(values, this.pk);
  }

  rangeForEpk(epk) {
    return this.ranges.find((r) => r.min <= epk && (r.max === 'FF' ? true : epk < r.max));
  }

  rangeById(id) {
    return this.ranges.find((r) => r.id === id);
  }

  rangeOfEntry(e) {
    return this.rangeForEpk(e.epk);
  }

  entriesIn(range, { minEpk, maxEpk } = {}) {
    const out = [];
    for (const e of this.docs.values()) {
      if (this.rangeOfEntry(e) !== range) continue;
      if (minEpk !== undefined && minEpk !== '' && e.epk < minEpk) continue;
      if (maxEpk !== undefined && maxEpk !== 'FF' && maxEpk !== '' && e.epk >= maxEpk) continue;
      out.push(e);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Stores (creates or replaces) a document body; returns the entry. */
  put(body, values, epk, existing) {
    const range = this.rangeForEpk(epk);
    range.lsn++;
    const rid = existing ? existing.doc._rid : childRid(this.bytes, this.nextDoc++, ChildType.Document).rid;
    const doc = { ...body, id: body.id, _rid: rid, _self: `${this.self}docs/${rid}/`, _etag: newEtag(), _attachments: 'attachments/', _ts: nowSeconds() };
    const entry = { doc, epk, pk: pkKey(values), lsn: range.lsn, seq: existing ? existing.seq : this.nextDoc };
    this.docs.set(`${entry.pk}\u0000${doc.id}`, entry);
    this.docsByRid.set(rid, entry);
    return { entry, range };
  }

  remove(entry) {
    const range = this.rangeOfEntry(entry);
    range.lsn++;
    this.docs.delete(`${entry.pk}\u0000${entry.doc.id}`);
    this.docsByRid.delete(entry.doc._rid);
    return range;
  }

  find(values, id) {
    return this.docs.get(`${pkKey(values)}\u0000${id}`);
  }

  /** Splits a range in two at the midpoint of its EPK interval; the old id then answers 410/1002. */
  split(rangeId) {
    const i = this.ranges.findIndex((r) => r.id === rangeId);
    if (i < 0) throw new Error(`no range ${rangeId}`);
    const r = this.ranges[i];
    const lo = r.min === '' ? 0n : BigInt(`0x${r.min.padEnd(32, '0')}`);
    const hi = BigInt(`0x${(r.max === 'FF' ? 'FF' : r.max).padEnd(32, '0')}`);
    const mid = ((lo + hi) / 2n).toString(16).toUpperCase().padStart(32, '0');
    const a = this._newRange(r.min, mid, [...r.parents, r.id], r.lsn);
    const b = this._newRange(mid, r.max, [...r.parents, r.id], r.lsn);
    this.ranges.splice(i, 1, a, b);
    this.goneRanges.set(r.id, [a.id, b.id]);
    this.rangesEtag++;
    return [a, b];
  }

  pkRangeJSON(r) {
    return {
      id: r.id,
      _rid: r.rid,
      _self: `${this.self}pkranges/${r.rid}/`,
      _etag: r.etag,
      _ts: r.ts,
      minInclusive: r.min,
      maxExclusive: r.max,
      ridPrefix: Number(r.id),
      throughputFraction: 1 / this.ranges.length,
      status: 'online',
      parents: r.parents,
      ownedArchivalPKRangeIds: [],
      lsn: r.lsn,
    };
  }
}

export class Store {
  constructor({ partitions = 3 } = {}) {
    this.partitions = partitions;
    this.dbs = new Map();
    this.rids = new Set();
  }

  dbByName(id) {
    return this.dbs.get(id);
  }

  dbByRid(rid) {
    for (const d of this.dbs.values()) if (d.rid === rid) return d;
    return undefined;
  }

  /** True when the first id segment of a /dbs/... path is a database RID, not a name. */
  isRidPath(segments) {
    return segments[0] === 'dbs' && segments.length >= 2 && !this.dbs.has(segments[1]) && parseRid(segments[1])?.length === 4;
  }

  createDb(body) {
    const { bytes, rid } = newDatabaseRid(this.rids);
    this.rids.add(rid);
    const db = { id: body.id, rid, bytes, ts: nowSeconds(), etag: newEtag(), colls: new Map() };
    db.toJSON = () => ({ id: db.id, _rid: db.rid, _self: `dbs/${db.rid}/`, _etag: db.etag, _colls: 'colls/', _users: 'users/', _ts: db.ts });
    this.dbs.set(body.id, db);
    return db;
  }

  createColl(db, body, partitions = this.partitions) {
    const c = new Collection(db, body, partitions, this.rids);
    this.rids.add(c.rid);
    db.colls.set(body.id, c);
    return c;
  }

  collByRid(db, rid) {
    for (const c of db.colls.values()) if (c.rid === rid) return c;
    return undefined;
  }

  /** Resolves a collection by name or RID (for the inspection API). */
  collection(dbName, collName) {
    const db = this.dbByName(dbName) ?? this.dbByRid(dbName);
    if (!db) return undefined;
    return db.colls.get(collName) ?? this.collByRid(db, collName);
  }
}
