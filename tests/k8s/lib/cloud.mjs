#!/usr/bin/env node
// The "cloud" side of the pod rehearsal (rehearsal.test.mjs), run inside the cloud network
// namespace with `ip netns exec`: the e2e harness's signature-checking front over the real
// @vercel/cosmosdb-server (tests/e2e/lib/front.mjs), reachable as https://<host>:443/ on the
// namespace's veth address through a plain TCP relay (the front itself listens on loopback; TLS
// ends at the front, with a certificate for <host> from the test CA).
//
//   node cloud.mjs '{"dir": ..., "host": "acct.documents.azure.com", "listen": "198.18.0.1",
//                    "accountKey": ..., "clientKeys": {...}, "cert": ..., "key": ..., "caCert": ...}'
//
// Protocol: one JSON object per line. It prints {"event":"ready", ...} once listening, then
// answers each command read from stdin with one line {"id", "ok", ...}:
//   {"id":1, "cmd":"addCanaries", "values":[...]}
//   {"id":2, "cmd":"report"}          every request the front saw: method, url, listener,
//                                     verified (signature checked with the ACCOUNT key), signedWith,
//                                     canary hits, raw TLS bytes received
//   {"id":3, "cmd":"mark"} / {"cmd":"since", "mark": {...}}
//   {"id":4, "cmd":"read", "db", "container", "docId", "pk"}   the stored document, read directly
//                                     from cosmosdb-server with the account key (no cosmoseal)
//   {"id":5, "cmd":"probe", "url"}    GET url from the cloud namespace (the kubelet's and
//                                     Prometheus's view of the pod IP): {status, body}
//   {"id":6, "cmd":"quit"}

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import { startFront } from '../../e2e/lib/front.mjs';
import { directClient, closeClient } from '../../e2e/lib/sdk.mjs';

const opts = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const pki = {
  dir: opts.dir,
  caCert: opts.caCert,
  ca: fs.readFileSync(opts.caCert),
  upstream: { cert: opts.cert, key: opts.key },
};
const front = await startFront({ pki, accountKey: opts.accountKey, clientKeys: opts.clientKeys || {} });

// <listen>:443 -> 127.0.0.1:<front port>, byte for byte.
const sockets = new Set();
const relay = net.createServer((inbound) => {
  const upstream = net.connect(front.port, '127.0.0.1');
  sockets.add(inbound);
  sockets.add(upstream);
  const done = () => {
    inbound.destroy();
    upstream.destroy();
    sockets.delete(inbound);
    sockets.delete(upstream);
  };
  inbound.on('error', done).on('close', done);
  upstream.on('error', done).on('close', done);
  inbound.pipe(upstream);
  upstream.pipe(inbound);
});
await new Promise((resolve, reject) => {
  relay.once('error', reject);
  relay.listen(opts.port || 443, opts.listen, resolve);
});

const direct = directClient(front);

function report() {
  return {
    bytes: front.bytesReceived,
    connections: front.connections,
    requests: front.requests.map((r) => ({
      seq: r.seq,
      listener: r.listener,
      origin: r.origin,
      method: r.method,
      url: r.url,
      host: r.headers.host,
      verified: r.verified,
      verifyReason: r.verifyReason,
      signedWith: r.signedWith,
      status: r.response?.status ?? null,
    })),
    canaryHits: front.canaryHits.map((h) => ({ seq: h.seq, canary: h.canary, form: h.form, where: h.where })),
  };
}

async function handle(msg) {
  switch (msg.cmd) {
    case 'addCanaries':
      for (const v of msg.values) front.addCanary(v);
      return {};
    case 'report':
      return report();
    case 'mark':
      return { mark: front.mark() };
    case 'since': {
      const s = front.since(msg.mark);
      return { bytes: s.bytes, connections: s.connections, requests: s.requests.length };
    }
    case 'read': {
      const { resource } = await direct.database(msg.db).container(msg.container).item(msg.docId, msg.pk).read();
      return { doc: resource ?? null };
    }
    case 'probe':
      return new Promise((resolve) => {
        const req = http.get(msg.url, { agent: false, timeout: 2000 }, (res) => {
          const parts = [];
          res.on('data', (c) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8') }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (err) => resolve({ status: 0, body: String(err.code || err.message) }));
      });
    case 'quit':
      setImmediate(async () => {
        for (const s of sockets) s.destroy();
        relay.close();
        closeClient(direct);
        await front.close();
        process.exit(0);
      });
      return {};
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
    out({ id: msg.id, ok: true, ...(await handle(msg)) });
  } catch (err) {
    out({ id: msg?.id ?? null, ok: false, error: String(err?.stack || err) });
  }
});
// The test process went away: do not outlive it.
rl.on('close', () => process.exit(0));

out({ event: 'ready', frontPort: front.port, regionalPort: front.regionalPort, listen: opts.listen, port: opts.port || 443 });
