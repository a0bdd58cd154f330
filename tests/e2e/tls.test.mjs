// TLS on both sides of cosmoseal (RELIABILITY.md T29, T30, B3).
//
// Listener: only TLS 1.2/1.3 with AEAD + ECDHE suites, no renegotiation, ALPN http/1.1 only, the
// configured certificate. Probed with node's tls client and `openssl s_client` (bounded by a
// timeout). Every refusal has a positive control: the same client settings DO handshake with a
// permissive server, so a refusal is cosmoseal's doing and not the local OpenSSL client's policy.
// The listener certificate is RSA here, so that RSA key exchange (AES128-SHA) and ECDHE-RSA-CBC
// suites would be possible if the cipher list allowed them.
//
// Upstream: cosmoseal verifies the upstream certificate against upstream.ca_file and the endpoint
// host. Self-signed, wrong host, expired, not yet valid, other CA -> 502 tls.verify_failed and not
// one request byte reaches the upstream (decrypted bytes are counted by the scripted upstream);
// a TLS 1.1-only upstream -> 502.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { describe, test, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultStack, adminRequest } from './lib/fault-stack.mjs';
import { startScriptedUpstream } from './lib/scripted-upstream.mjs';
import { issueLeaf, selfSigned, fingerprint256 } from './lib/pki-extra.mjs';
import { createPki } from './lib/pki.mjs';
import { writeConfig } from './lib/cosmoseal.mjs';
import { assertLocalError } from './lib/expect.mjs';

/** A TLS handshake with node's client: {ok, protocol, cipher, alpn, cert, error, socket}. */
function handshake(port, o = {}) {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['http/1.1'], ...o });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, error: 'timeout' });
    }, 4000);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ ok: true, protocol: sock.getProtocol(), cipher: sock.getCipher().name, alpn: sock.alpnProtocol, cert: sock.getPeerCertificate(), socket: sock });
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, error: e.code || e.message, message: e.message });
    });
  });
}

/**
 * Runs `openssl s_client` with `args` against 127.0.0.1:port, writing `input` pieces
 * ({delayMs} pauses), killed after `timeoutMs`. Returns {code, out, timedOut}.
 */
function sClient(port, args, { input = [], timeoutMs = 6000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let timedOut = false;
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.stdin.on('error', () => {});
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    (async () => {
      for (const piece of input) {
        if (typeof piece === 'object') await sleep(piece.delayMs);
        else if (!p.stdin.destroyed) p.stdin.write(piece);
      }
      await sleep(300);
      if (!p.stdin.destroyed) p.stdin.end();
    })();
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, timedOut });
    });
  });
}

/** "New, TLSv1.2, Cipher is X" -> X, or null when no cipher was agreed. */
function sClientCipher(out) {
  const m = /Cipher is (\S+)/.exec(out);
  return m && m[1] !== '(NONE)' ? m[1] : null;
}

const OLD = { ciphers: 'DEFAULT@SECLEVEL=0' };

describe('listener TLS (T29)', () => {
  let s;
  let permissive; // positive control: a server allowing what cosmoseal must refuse
  let rsa;

  before(async () => {
    s = await startFaultStack({
      name: 'tls-listener',
      proxyCert: (pki) => (rsa = issueLeaf(pki, 'proxy-rsa', { keyType: 'rsa' })),
    });
    permissive = await startScriptedUpstream({ cert: rsa.cert, key: rsa.key, minVersion: 'TLSv1', ciphers: 'ALL@SECLEVEL=0' });
  });
  after(async () => {
    await permissive?.close();
    await s?.stop();
  });

  const ca = () => s.pki.ca;

  for (const [name, o] of [
    ['TLS 1.0', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ...OLD }],
    ['TLS 1.1', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ...OLD }],
  ]) {
    test(`${name} is refused (protocol_version alert); the same client handshakes with a permissive server`, async () => {
      const control = await handshake(permissive.port, { ...o, ca: ca() });
      assert.ok(control.ok, `control handshake failed (${control.error}): the local client cannot test ${name}`);
      control.socket.destroy();
      const r = await handshake(s.proxy.port, { ...o, ca: ca() });
      if (r.ok) r.socket.destroy();
      assert.equal(r.ok, false, `cosmoseal accepted ${name} (${r.protocol} ${r.cipher})`);
      assert.match(r.error, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|HANDSHAKE_FAILURE|ECONNRESET/, r.message);
    });
  }

  test('openssl s_client -tls1_1 is refused (and succeeds against the permissive server)', async () => {
    const args = ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', s.pki.caCert];
    const control = await sClient(permissive.port, args);
    assert.ok(sClientCipher(control.out), `control: s_client could not do TLS 1.1 at all:\n${control.out}`);
    const r = await sClient(s.proxy.port, args);
    assert.equal(r.timedOut, false, 's_client hung');
    assert.equal(sClientCipher(r.out), null, `cosmoseal negotiated TLS 1.1:\n${r.out}`);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /alert protocol version|unsupported protocol|wrong version/i, r.out);
  });

  for (const [name, o] of [
    ['TLS 1.2', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }],
    ['TLS 1.3', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }],
  ]) {
    test(`${name} is accepted with an AEAD suite and serves a request`, async () => {
      const r = await handshake(s.proxy.port, { ...o, ca: ca() });
      assert.ok(r.ok, `${name} refused: ${r.error}`);
      try {
        assert.equal(r.protocol, o.maxVersion);
        assert.match(r.cipher, /GCM|CHACHA20|POLY1305/, `non-AEAD cipher ${r.cipher}`);
        if (o.maxVersion === 'TLSv1.2') assert.match(r.cipher, /^ECDHE-/, `no forward secrecy: ${r.cipher}`);
        const resp = await new Promise((resolve) => {
          let buf = '';
          r.socket.on('data', (d) => {
            buf += d.toString('latin1');
            if (/\r\n\r\n/.test(buf)) resolve(buf);
          });
          r.socket.on('close', () => resolve(buf));
          r.socket.write(s.req());
          setTimeout(() => resolve(buf), 4000);
        });
        assert.match(resp, /^HTTP\/1\.1 200 /, resp.slice(0, 200));
      } finally {
        r.socket.destroy();
      }
    });
  }

  for (const [suite, why] of [
    ['AES128-SHA', 'RSA key exchange, CBC'],
    ['AES128-GCM-SHA256', 'RSA key exchange (no forward secrecy)'],
    ['ECDHE-RSA-AES128-SHA', 'CBC (non-AEAD)'],
    ['ECDHE-RSA-AES256-SHA384', 'CBC (non-AEAD)'],
  ]) {
    test(`TLS 1.2 cipher ${suite} (${why}) is refused; the permissive server accepts it`, async () => {
      const o = { maxVersion: 'TLSv1.2', ciphers: `${suite}@SECLEVEL=0`, ca: ca() };
      const control = await handshake(permissive.port, o);
      assert.ok(control.ok, `control: ${control.error}`);
      assert.equal(control.cipher, suite);
      control.socket.destroy();
      const r = await handshake(s.proxy.port, o);
      if (r.ok) r.socket.destroy();
      assert.equal(r.ok, false, `cosmoseal accepted ${suite} (${r.protocol} ${r.cipher})`);
    });
  }

  test('openssl s_client -cipher AES128-SHA is refused', async () => {
    const args = ['-tls1_2', '-cipher', 'AES128-SHA', '-CAfile', s.pki.caCert];
    const control = await sClient(permissive.port, args);
    assert.equal(sClientCipher(control.out), 'AES128-SHA', `control:\n${control.out}`);
    const r = await sClient(s.proxy.port, args);
    assert.equal(r.timedOut, false);
    assert.equal(sClientCipher(r.out), null, `cosmoseal negotiated AES128-SHA:\n${r.out}`);
    assert.match(r.out, /handshake failure|no shared cipher|no cipher/i, r.out);
  });

  test('renegotiation is refused: openssl s_client "R" command', async () => {
    const r = await sClient(s.proxy.port, ['-tls1_2', '-CAfile', s.pki.caCert], { input: [{ delayMs: 600 }, 'R\n', { delayMs: 800 }], timeoutMs: 6000 });
    assert.ok(sClientCipher(r.out), `the initial TLS 1.2 handshake failed:\n${r.out}`);
    assert.match(r.out, /RENEGOTIATING/, `s_client did not try:\n${r.out}`);
    assert.match(r.out, /no renegotiation|alert|error/i, `renegotiation was not refused:\n${r.out}`);
    // A successful renegotiation would print a second round of "verify return" lines after RENEGOTIATING.
    const after = r.out.slice(r.out.indexOf('RENEGOTIATING'));
    assert.doesNotMatch(after, /verify return:1/, `a second handshake completed:\n${r.out}`);
  });

  test("renegotiation is refused: node's socket.renegotiate() fails or the connection is closed", async () => {
    const r = await handshake(s.proxy.port, { maxVersion: 'TLSv1.2', ca: ca() });
    assert.ok(r.ok, r.error);
    const outcome = await new Promise((resolve) => {
      const t = setTimeout(() => resolve('no answer'), 4000);
      r.socket.once('close', () => {
        clearTimeout(t);
        resolve('closed');
      });
      r.socket.on('error', () => {});
      const ok = r.socket.renegotiate({ rejectUnauthorized: true }, (err) => {
        clearTimeout(t);
        resolve(err ? `error: ${err.code || err.message}` : 'renegotiated');
      });
      if (ok === false) resolve('refused locally');
    });
    r.socket.destroy();
    assert.notEqual(outcome, 'refused locally', 'node refused to even try (test invalid)');
    assert.match(outcome, /^(closed|error)/, `renegotiation outcome: ${outcome}`);
  });

  test('ALPN: http/1.1 is selected from [h2, http/1.1]; no ALPN is accepted; h2-only is refused in the handshake', async () => {
    const both = await handshake(s.proxy.port, { ca: ca(), ALPNProtocols: ['h2', 'http/1.1'] });
    assert.ok(both.ok, both.error);
    assert.equal(both.alpn, 'http/1.1');
    both.socket.destroy();
    const none = await handshake(s.proxy.port, { ca: ca(), ALPNProtocols: undefined });
    assert.ok(none.ok, `a client without ALPN must be served: ${none.error}`);
    none.socket.destroy();
    const h2 = await handshake(s.proxy.port, { ca: ca(), ALPNProtocols: ['h2'] });
    if (h2.ok) h2.socket.destroy();
    assert.equal(h2.ok, false, `h2-only ALPN accepted (alpn=${h2.alpn})`);
    assert.match(h2.error, /NO_APPLICATION_PROTOCOL/, h2.message);
  });

  test('the certificate served is the configured listen.tls.cert and verifies for localhost against the test CA', async () => {
    const r = await handshake(s.proxy.port, { ca: ca() });
    assert.ok(r.ok, r.error);
    r.socket.destroy();
    assert.equal(r.cert.fingerprint256, fingerprint256(rsa.cert));
    assert.equal(s.proxy.config.listen.tls.cert, rsa.cert);
    const x = new crypto.X509Certificate(fs.readFileSync(rsa.cert));
    assert.equal(x.publicKey.asymmetricKeyType, 'rsa');
    // Other trust anchors are not enough (the handshake is really verified by the client).
    const other = createPki(path.join(s.dir, 'other-ca'));
    const bad = await handshake(s.proxy.port, { ca: other.ca });
    if (bad.ok) bad.socket.destroy();
    assert.equal(bad.ok, false);
  });

  // Last in this block: it changes the listener certificate.
  test('reload with a new listen.tls certificate: new connections get it, an open connection keeps working', async () => {
    const old = await handshake(s.proxy.port, { ca: ca() });
    assert.ok(old.ok, old.error);
    const next = issueLeaf(s.pki, 'proxy-next');
    const cfg = JSON.parse(JSON.stringify(s.proxy.config));
    cfg.listen.tls = { cert: next.cert, key: next.key };
    writeConfig(s.proxy.configPath, cfg);
    try {
      const rl = await adminRequest(s.proxy, 'POST', '/reload');
      assert.equal(rl.status, 200, rl.body);
      const fresh = await handshake(s.proxy.port, { ca: ca() });
      assert.ok(fresh.ok, fresh.error);
      fresh.socket.destroy();
      assert.equal(fresh.cert.fingerprint256, fingerprint256(next.cert), 'new connections get the new certificate');
      assert.equal(old.cert.fingerprint256, fingerprint256(rsa.cert));
      const resp = await new Promise((resolve) => {
        let buf = '';
        old.socket.on('data', (d) => {
          buf += d.toString('latin1');
          if (/\r\n\r\n/.test(buf)) resolve(buf);
        });
        old.socket.on('close', () => resolve(buf));
        old.socket.write(s.req());
        setTimeout(() => resolve(buf), 4000);
      });
      assert.match(resp, /^HTTP\/1\.1 200 /, `the connection opened before the reload: ${resp.slice(0, 100)}`);
    } finally {
      old.socket.destroy();
    }
  });
});

describe('upstream TLS verification (T30)', () => {
  let s;
  let certs;
  let c; // one app keep-alive connection used by every case

  before(async () => {
    s = await startFaultStack({ name: 'tls-upstream' });
    const other = createPki(path.join(s.dir, 'other'));
    certs = {
      good: s.pki.upstream,
      'self-signed': selfSigned(s.pki.dir, 'self'),
      'SAN/hostname mismatch': issueLeaf(s.pki, 'wrong-name', { dns: ['other.example'], ips: [] }),
      expired: issueLeaf(s.pki, 'expired', { notBefore: '20200101000000Z', notAfter: '20200201000000Z' }),
      'not yet valid': issueLeaf(s.pki, 'future', { notBefore: '20990101000000Z', notAfter: '20990201000000Z' }),
      'signed by another CA': other.upstream,
      'DNS-only SAN': issueLeaf(s.pki, 'dns-only', { dns: ['localhost'], ips: [] }),
    };
    c = await s.open();
  });
  after(async () => {
    await s?.stop();
  });

  async function useUpstream(tlsOpts) {
    s.up.setTls(tlsOpts);
    await s.up.quiesce();
    return s.up.mark();
  }

  async function expectGood(what) {
    await useUpstream(certs.good);
    c.write(s.req());
    const r = await c.response(4000);
    assert.equal(r?.status, 200, `${what}: the same app connection works with the good certificate again`);
  }

  test('the good certificate: 200, SNI localhost, TLS >= 1.2', async () => {
    const m = await useUpstream(certs.good);
    c.write(s.req());
    const r = await c.response(4000);
    assert.equal(r?.status, 200);
    const [conn] = s.up.since(m).conns;
    assert.equal(conn.servername, 'localhost', 'SNI');
    assert.match(conn.tlsVersion, /^TLSv1\.[23]$/);
    assert.equal(conn.alpn, 'http/1.1');
  });

  for (const [name, reason] of [
    ['self-signed', /self.signed/i],
    ['SAN/hostname mismatch', /hostname mismatch/i],
    ['expired', /expired/i],
    ['not yet valid', /not yet valid/i],
    ['signed by another CA', /issuer|unable to get/i],
  ]) {
    test(`upstream certificate ${name} -> 502 tls.verify_failed, no request byte sent`, async () => {
      const m = await useUpstream(certs[name]);
      c.write(s.req({ method: 'POST', path: '/dbs/shop/colls/c1/docs', body: '{"id":"secret-doc"}', headers: { 'Content-Type': 'application/json' } }));
      const r = await c.response(4000);
      assert.ok(r, `no response (closed=${c.closed})`);
      const j = assertLocalError(r, 502, 'tls.verify_failed', name);
      assert.match(j.message, reason);
      await sleep(150);
      const d = s.up.since(m);
      assert.ok(d.connections >= 1, 'the TLS handshake was attempted');
      assert.equal(d.appBytes, 0, `${d.appBytes} application bytes reached the upstream`);
      assert.equal(d.requests.length, 0);
      await expectGood(name);
    });
  }

  test('TLS 1.1-only upstream -> 502 (tls.*), no request byte sent', async () => {
    const m = await useUpstream({ ...certs.good, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    c.write(s.req());
    const r = await c.response(4000);
    assert.ok(r, 'no response');
    assert.equal(r.status, 502);
    assert.match(String(r.headers['x-cosmoseal-detail']), /^tls\./);
    await sleep(150);
    const d = s.up.since(m);
    assert.ok(d.connections >= 1);
    assert.equal(d.appBytes, 0);
    await expectGood('TLS 1.1');
  });

  test('IP-literal endpoint: verified against the IP SAN (no SNI); a DNS-only certificate fails', async () => {
    const cfg = { ...s.proxy.config, upstream: { ...s.proxy.config.upstream, endpoint: `https://127.0.0.1:${s.up.port}/` } };
    writeConfig(s.proxy.configPath, cfg);
    const rl = await adminRequest(s.proxy, 'POST', '/reload');
    assert.equal(rl.status, 200, rl.body);
    let m = await useUpstream(certs.good);
    c.write(s.req());
    let r = await c.response(4000);
    assert.equal(r?.status, 200);
    const [conn] = s.up.since(m).conns;
    assert.ok(!conn.servername, `no SNI for an IP literal (got ${conn.servername})`);
    assert.equal(s.up.since(m).requests[0].headers.host, `127.0.0.1:${s.up.port}`);
    m = await useUpstream(certs['DNS-only SAN']);
    c.write(s.req());
    r = await c.response(4000);
    assert.ok(r);
    assertLocalError(r, 502, 'tls.verify_failed', 'IP endpoint, DNS-only SAN');
    assert.equal(s.up.since(m).appBytes, 0);
  });
});
