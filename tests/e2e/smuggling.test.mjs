// Replays every raw HTTP/1.1 attack payload of tests/security/payloads/ (manifest.json holds the
// expected outcome of each) against cosmoseal's listener, over TLS and over plain TCP. Each must be
// answered locally with its status and x-cosmoseal-detail, the connection closed, and NOT ONE BYTE
// may reach the upstream meanwhile. The payloads carry a valid client signature, so a lenient
// parser would forward them (and the front would count the bytes).

import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './lib/stack.mjs';
import { rawExchange, buildRequest, jsonBody } from './lib/raw.mjs';
import { loadManifest, payloadBytes } from './lib/payloads.mjs';
import { assertLocalError } from './lib/expect.mjs';

const manifest = loadManifest();
const PAYLOAD_TIMEOUT_MS = 2500;

for (const transport of ['tls', 'plain']) {
  describe(`smuggling payloads over ${transport === 'tls' ? 'TLS' : 'plain TCP'}`, () => {
    let stack;
    const conn = () => ({ port: stack.proxy.port, tls: transport === 'tls' ? { ca: stack.pki.ca } : null });
    const host = () => `localhost:${stack.proxy.port}`;

    before(async () => {
      stack = await startStack({
        name: `smuggling-${transport}`,
        tls: transport === 'tls',
        // The payloads address /dbs/x/colls/y/docs: allowed, so only the framing can stop them.
        clients: [{ name: 'app', allow: [{ database: 'x', containers: ['*'], access: 'read-write' }] }],
      });
      const client = stack.client('app');
      const { database } = await client.databases.createIfNotExists({ id: 'x' });
      const { container } = await database.containers.createIfNotExists({ id: 'y', partitionKey: { paths: ['/pk'] } });
      await container.items.create({ id: 'seed', pk: 'p' });
      stack.closeClients();
    });
    after(async () => {
      await stack?.stop();
    });

    for (const [name, exp0] of Object.entries(manifest.payloads)) {
      const exp = { ...manifest.defaults, ...exp0 };
      test(`${name} -> ${exp.status} ${exp.detail}`, async () => {
        const data = await payloadBytes(name, { host: host(), key: stack.clientKeys.app });
        const m = await stack.front.quiesce();
        const r = await rawExchange({ ...conn(), data, timeoutMs: PAYLOAD_TIMEOUT_MS });
        await sleep(100);
        const d = stack.front.since(m);
        const ctx = `${name} (${exp.technique}); got ${r.responses.length} response(s), closed=${r.closed}, ` +
          `timedOut=${r.timedOut}, error=${r.error ?? '-'}; first bytes: ${JSON.stringify(r.text.slice(0, 200))}`;
        assert.equal(d.bytes, exp.upstreamBytes, `${ctx}\nthe upstream received ${d.bytes} bytes: ` +
          `${d.requests.map((x) => `${x.method} ${x.url}`).join(', ') || '(no complete request)'}`);
        assert.ok(r.responses.length >= 1, `no response: ${ctx}`);
        assertLocalError(r.responses[0], exp.status, exp.detail, ctx);
        assert.equal(r.responses.length, exp.responses, `response count: ${ctx}`);
        if (exp.close) assert.ok(r.closed && !r.timedOut, `cosmoseal must close the connection: ${ctx}`);
        stack.front.assertClean();
      });
    }

    test('a valid pipelined pair is answered in order on one keep-alive connection', async () => {
      const key = stack.clientKeys.app;
      const data = Buffer.concat([
        buildRequest({ method: 'GET', path: '/dbs/x/colls/y/docs', host: host(), key }),
        buildRequest({ method: 'GET', path: '/', host: host(), key }),
      ]);
      const r = await rawExchange({ ...conn(), data, expectResponses: 2, timeoutMs: 5000 });
      assert.deepEqual(r.responses.map((x) => x.status), [200, 200], r.text.slice(0, 400));
      assert.ok(Array.isArray(jsonBody(r.responses[0]).Documents), 'first answer is the read feed');
      assert.ok(Array.isArray(jsonBody(r.responses[1]).writableLocations), 'second answer is the account');
      assert.equal(r.closed, false, 'a valid pipeline keeps the connection open');
      stack.front.assertClean();
    });

    if (transport === 'tls') {
      test('TLS offering only h2 by ALPN: refused in the handshake, or HTTP/1.1 only and the preface gets 400', async () => {
        const m = await stack.front.quiesce();
        const r = await rawExchange({
          port: stack.proxy.port,
          tls: { ca: stack.pki.ca, ALPNProtocols: ['h2'] },
          data: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
          timeoutMs: PAYLOAD_TIMEOUT_MS,
        });
        if (r.handshakeError) {
          assert.ok(r.closed);
        } else {
          assert.notEqual(r.alpn, 'h2', 'cosmoseal must never select h2');
          assert.ok(r.responses.length >= 1, `no response to the preface: ${r.text}`);
          assertLocalError(r.responses[0], 400, 'http1.http2_preface', 'h2 preface after h2-only ALPN');
          assert.ok(r.closed && !r.timedOut);
        }
        await sleep(100);
        assert.equal(stack.front.since(m).bytes, 0);
        stack.front.assertClean();
      });

      test('ALPN: cosmoseal selects http/1.1', async () => {
        const alpn = await new Promise((resolve, reject) => {
          const s = tls.connect({ port: stack.proxy.port, host: '127.0.0.1', servername: 'localhost', ca: stack.pki.ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
            resolve(s.alpnProtocol);
            s.destroy();
          });
          s.on('error', reject);
        });
        assert.equal(alpn, 'http/1.1');
        stack.front.assertClean();
      });
    }

    test('after every payload cosmoseal still serves the SDK', async () => {
      const client = stack.client('app');
      const { resource } = await client.database('x').container('y').item('seed', 'p').read();
      assert.equal(resource.id, 'seed');
      stack.closeClients();
      stack.front.assertNoBypass();
      stack.front.assertClean();
    });
  });
}
