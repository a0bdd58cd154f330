// The simulator (tests/simulator) as the launcher's upstream: adapts its API (startSimulator,
// requests(), scan(), stored(), addFault()) to the interface run.mjs uses for the e2e front
// (url, addCanary, canaryHits, takeCanaryHits, requests, proxiedRequests, signatureFailures,
// close) plus readStored / readAllStored / injectThrottle / throttleServed.
// Selected with COSMOSEAL_SDK_UPSTREAM=simulator.

import { startSimulator } from '../../simulator/lib/server.mjs';

/** Three partition-key ranges per new container, TLS with the launcher's PKI, the account key. */
export async function startUpstream({ pki, accountKey }) {
  const sim = await startSimulator({ partitions: 3, tls: true, key: accountKey, pki });
  return new SimulatorUpstream(sim);
}

class SimulatorUpstream {
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

  get canaryHits() {
    const out = [];
    for (const { canary } of this.canaries) {
      for (const h of this.sim.scan(canary)) {
        // scan() also finds plaintext-derived forms (EPKs, MurmurHash3 outputs): `derived: true`.
        const hit = { seq: h.seq, canary, form: h.form, where: h.where, ...(h.derived ? { derived: true } : {}) };
        if (!this._acked.has(SimulatorUpstream._key(hit))) out.push(hit);
      }
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
    return this.sim.stored(db, coll).find((d) => d.id === id && JSON.stringify(d.tenant) === JSON.stringify(pk)) ?? null;
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
