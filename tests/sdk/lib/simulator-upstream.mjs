// The simulator (tests/simulator) as the launcher's upstream: adapts its API (startSimulator,
// requests(), scan(), stored(), addFault()) to the interface run.mjs uses for the e2e front
// (url, addCanary, canaryHits, takeCanaryHits, requests, proxiedRequests, signatureFailures,
// close) plus readStored / readAllStored / injectThrottle / throttleServed.
// Selected with COSMOSEAL_SDK_UPSTREAM=simulator.

import { startSimulator, textForms, derivedForms } from '../../simulator/lib/server.mjs';
import { effectivePartitionKey } from '../../simulator/lib/hash.mjs';

/** Three partition-key ranges per new container, TLS with the launcher's PKI, the account key. */
export async function startUpstream({ pki, accountKey }) {
  const sim = await startSimulator({ partitions: 3, tls: true, key: accountKey, pki });
  return new SimulatorUpstream(sim);
}

export class SimulatorUpstream {
  constructor(sim) {
    this.sim = sim;
    this.url = sim.endpoint;
    this.ca = sim.ca;
    this.accountKey = sim.key;
    this.canaries = [];
    this._acked = new Set();
  }

  addCanary(s) {
    if (!this.canaries.some((c) => c.canary === s)) this.canaries.push({ canary: s });
    return s;
  }

  /** Every request, shaped like the front's records; the first region plays the front's 'main'. */
  get requests() {
    const first = this.sim.regions[0].name;
    return this.sim.requests().map((r) => ({
      ...r,
      listener: r.region === first ? 'main' : 'regional',
      origin: 'proxy',
      response: r.response ?? { status: r.status },
    }));
  }

  get proxiedRequests() {
    return this.requests;
  }

  get signatureFailures() {
    return this.requests.filter((r) => !r.verified);
  }

  static _key(h) {
    return `${h.seq}|${h.canary}|${h.where}`;
  }

  /**
   * Every canary's hits, as sim.scan() finds them (its textual forms and the forms derived by the
   * SDKs' hashing, `derived: true`), but each (canary, request) pair searched once: a record is
   * complete when logged, so only requests newer than a canary's last scan are read. (sim.scan()
   * over the whole log for every canary after every scenario grew quadratic: minutes.)
   */
  get canaryHits() {
    const log = this.sim.requests();
    const last = log.length ? log[log.length - 1].seq : 0;
    const out = [];
    for (const c of this.canaries) {
      c.forms ??= [...textForms(c.canary), ...derivedForms(c.canary)];
      c.hits ??= [];
      c.scannedTo ??= 0;
      for (const r of log) {
        if (r.seq <= c.scannedTo) continue;
        const places = [['url', Buffer.from(r.url)], ...Object.entries(r.headers).map(([k, v]) => [`header:${k}`, Buffer.from(String(v))]), ['body', r.body]];
        for (const [where, buf] of places) {
          const f = c.forms.find((x) => buf.indexOf(x.bytes) >= 0);
          if (f) c.hits.push({ seq: r.seq, canary: c.canary, form: f.form, where, ...(f.derived ? { derived: true } : {}) });
        }
      }
      c.scannedTo = last;
      for (const hit of c.hits) if (!this._acked.has(SimulatorUpstream._key(hit))) out.push(hit);
    }
    return out;
  }

  takeCanaryHits(filter) {
    const reqs = this.requests;
    const hits = this.canaryHits.filter((h) => !filter || filter(h, reqs.find((r) => r.seq === h.seq)));
    for (const h of hits) this._acked.add(SimulatorUpstream._key(h));
    return hits;
  }

  readStored(db, coll, id, pk) {
    const c = this.sim.simulator.store.collection(db, coll);
    const key = (d) => JSON.stringify(c ? c.pkValuesOf(d) : [d.tenant]);
    const want = JSON.stringify(Array.isArray(pk) ? pk : [pk]);
    return this.sim.stored(db, coll).find((d) => d.id === id && key(d) === want) ?? null;
  }

  /** {rangeId: documents} by the EPK of each stored (sealed) partition-key value. */
  rangeCounts(db, coll) {
    const c = this.sim.simulator.store.collection(db, coll);
    const ranges = this.sim.ranges(db, coll);
    const counts = Object.fromEntries(ranges.map((r) => [r.id, 0]));
    for (const d of this.sim.stored(db, coll)) {
      const epk = effectivePartitionKey(c.pkValuesOf(d), c.pk);
      const r = ranges.find((x) => x.min <= epk && (epk < x.max || x.max === 'FF'));
      if (r) counts[r.id]++;
    }
    return counts;
  }

  readAllStored(db, coll) {
    return this.sim.stored(db, coll);
  }

  injectThrottle({ count = 1, retryAfterMs = 50, method, pathContains } = {}) {
    this.sim.addFault({ status: 429, count, retryAfterMs, match: { method, path: pathContains } });
  }

  throttleServed() {
    return this.sim.requests().filter((r) => r.fault && r.status === 429).map((r) => ({ seq: r.seq, method: r.method, url: r.url }));
  }

  async close() {
    await this.sim.stop();
  }
}
