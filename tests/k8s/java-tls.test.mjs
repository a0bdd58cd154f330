// The Java app's side of k8s/examples/java-app, played with a real JVM: the Java SDK speaks HTTPS
// only, so cosmoseal listens with listen.tls on loopback and the JVM trusts the pod-local CA
// through JAVA_TOOL_OPTIONS. This test issues the material with the example's
// make-loopback-tls.sh, runs cosmoseal with the example's cosmoseal.yaml (mount paths mapped to a
// scratch directory, free ports) and, from a JVM started with the Deployment's JAVA_TOOL_OPTIONS:
//   - https://localhost:PORT/ (the Deployment's endpoint) and https://127.0.0.1:PORT/ complete the
//     handshake with hostname verification and get cosmoseal's own 401 auth.missing;
//   - without the truststore the handshake fails (PKIX), and http:// gets no HTTP answer;
//   - a renewed server certificate (same CA) is reloaded by watch: true and the same truststore
//     still trusts it: no app restart after a renewal.
// Needs java, javac, keytool, openssl and the cosmoseal binary; fails without the JDK.
//
//   COSMOSEAL_BIN=build/proxy/cosmoseal node tests/k8s/java-tls.test.mjs     (ctest: k8s.java_tls)

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { K8S_DIR, parseYaml } from './lib/kube.mjs';
import { cosmosealBin, haveCommand, must, onCleanup, run } from './lib/sys.mjs';
import { randomKey } from './lib/testdata.mjs';

// A missing JDK fails the test (never a skip): ./scripts/install-deps.sh --sdks installs it.
for (const t of ['java', 'javac', 'keytool', 'openssl']) {
  if (!haveCommand(t)) {
    console.error(`'${t}' is not installed: run ./scripts/install-deps.sh --sdks (a JDK)`);
    process.exit(1);
  }
}
const bin = cosmosealBin();
const EXAMPLE = path.join(K8S_DIR, 'examples', 'java-app');
const MAKE_TLS = path.join(EXAMPLE, 'make-loopback-tls.sh');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-java-tls-'));
fs.chmodSync(dir, 0o700);
let proxy = null;
onCleanup(() => {
  if (proxy && proxy.exitCode === null) proxy.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// The Deployment's app container: its endpoint and its JAVA_TOOL_OPTIONS, with the truststore's
// mount directory mapped to where make-loopback-tls.sh wrote it.
const deployment = parseYaml(fs.readFileSync(path.join(EXAMPLE, 'deployment.yaml'), 'utf8'), 'deployment.yaml');
const app = deployment.spec.template.spec.containers.find((c) => c.name === 'app');
const envOf = (name) => app.env.find((e) => e.name === name).value;
const trustMount = app.volumeMounts.find((m) => m.name === 'cosmoseal-listen-truststore').mountPath;
const tlsDir = path.join(dir, 'tls');
const javaToolOptions = envOf('JAVA_TOOL_OPTIONS').split(trustMount).join(tlsDir);

const PROBE = `
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Probe {
  public static void main(String[] args) throws Exception {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(args[0])).timeout(Duration.ofSeconds(5)).GET().build();
    try {
      HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
      System.out.println("STATUS " + r.statusCode() + " " + r.body().replaceAll("\\\\s+", " "));
    } catch (Exception e) {
      Throwable root = e;
      while (root.getCause() != null) root = root.getCause();
      System.out.println("ERROR " + e + " | " + root);
    }
  }
}
`;

/** GET url from a JVM (java.net.http, the JDK's default SSLContext: what javax.net.ssl.* configure). */
function jvmGet(url, { options } = {}) {
  const env = { ...process.env };
  delete env.JAVA_TOOL_OPTIONS;
  delete env.JDK_JAVA_OPTIONS;
  if (options) env.JAVA_TOOL_OPTIONS = options;
  const r = run('java', ['-cp', path.join(dir, 'probe'), 'Probe', url], { env, timeoutMs: 60000 });
  assert.equal(r.code, 0, `java failed: ${r.stdout}${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => /^(STATUS|ERROR) /.test(l));
  assert.ok(line, `no probe output: ${r.stdout}${r.stderr}`);
  return line;
}

/** SHA-256 fingerprint of the certificate the listener serves now. */
const servedFingerprint = (port) =>
  new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
const fileFingerprint = (file) => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;

const adminGet = (port, p) =>
  new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });

let port;
let adminPort;
let cfgFile;

before(async () => {
  must(MAKE_TLS, [tlsDir]);
  for (const f of ['ca.crt', 'tls.crt', 'tls.key', 'truststore.p12']) assert.ok(fs.existsSync(path.join(tlsDir, f)), `make-loopback-tls.sh wrote no ${f}`);
  fs.mkdirSync(path.join(dir, 'probe'));
  fs.writeFileSync(path.join(dir, 'probe', 'Probe.java'), PROBE);
  must('javac', ['-d', path.join(dir, 'probe'), path.join(dir, 'probe', 'Probe.java')], { timeoutMs: 120000 });

  // The Secret volumes the example mounts into cosmoseal, as owner-only files in scratch directories.
  const text = fs.readFileSync(path.join(EXAMPLE, 'cosmoseal.yaml'), 'utf8');
  const c = parseYaml(text, 'cosmoseal.yaml');
  const listenDir = path.join(dir, 'listen-tls');
  const secrets = path.join(dir, 'secrets');
  for (const d of [listenDir, secrets]) fs.mkdirSync(d, { mode: 0o700 });
  const put = (file, content) => fs.writeFileSync(file, content, { mode: 0o600 });
  put(path.join(listenDir, path.basename(c.listen.tls.cert)), fs.readFileSync(path.join(tlsDir, 'tls.crt')));
  put(path.join(listenDir, path.basename(c.listen.tls.key)), fs.readFileSync(path.join(tlsDir, 'tls.key')));
  put(path.join(secrets, 'account-key'), randomKey());
  for (const cl of c.clients) put(path.join(secrets, path.basename(cl.key_file)), randomKey());
  must(bin, ['keygen', '--keyring', path.join(secrets, 'keyring.yaml'), '--kek-file', path.join(secrets, 'kek'), '--key', 'pii']);

  port = await freePort();
  adminPort = await freePort();
  const mapped = text
    .split(path.dirname(c.listen.tls.cert) + '/').join(listenDir + '/')
    .split(path.dirname(c.upstream.key_file) + '/').join(secrets + '/')
    .split(path.dirname(c.clients[0].key_file) + '/').join(secrets + '/')
    .split(path.dirname(c.keys.keyring_file) + '/').join(secrets + '/')
    .replace(/^  port: 8081\b/m, `  port: ${port}`)
    .replace(/^  port: 9901\b/m, `  port: ${adminPort}`)
    .replace(/^  address: 0\.0\.0\.0\b/m, '  address: 127.0.0.1');
  const m = parseYaml(mapped, 'mapped cosmoseal.yaml');
  assert.equal(m.listen.port, port);
  assert.equal(m.admin.port, adminPort);
  assert.ok(m.listen.tls.cert.startsWith(listenDir) && m.listen.tls.key.startsWith(listenDir));
  cfgFile = path.join(dir, 'cosmoseal.yaml');
  fs.writeFileSync(cfgFile, mapped, { mode: 0o600 });

  const check = run(bin, ['check', '--config', cfgFile]);
  assert.equal(check.code, 0, `cosmoseal check:\n${check.stdout}${check.stderr}`);
  assert.match(check.stdout, new RegExp(`listen\\s+https://127\\.0\\.0\\.1:${port}`));

  const log = fs.openSync(path.join(dir, 'cosmoseal.log'), 'a');
  proxy = spawn(bin, ['--config', cfgFile], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 100 && (await adminGet(adminPort, '/healthz')) !== 200; i++) {
    assert.equal(proxy.exitCode, null, `cosmoseal exited:\n${fs.readFileSync(path.join(dir, 'cosmoseal.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await adminGet(adminPort, '/healthz'), 200, 'cosmoseal did not come up');
});

after(() => {
  if (proxy && proxy.exitCode === null) proxy.kill('SIGTERM');
});

const AUTH_MISSING = /^STATUS 401 .*auth\.missing/;

test('the Deployment points the JVM at https://localhost:8081/ and a PKCS12 truststore', () => {
  assert.equal(envOf('COSMOS_ENDPOINT'), 'https://localhost:8081/');
  assert.match(javaToolOptions, /-Djavax\.net\.ssl\.trustStore=\S+\/truststore\.p12\b/);
  assert.match(javaToolOptions, /-Djavax\.net\.ssl\.trustStoreType=PKCS12\b/);
});

test('the JVM with the example\'s JAVA_TOOL_OPTIONS reaches cosmoseal over TLS at localhost and 127.0.0.1', () => {
  const endpoint = new URL(envOf('COSMOS_ENDPOINT'));
  endpoint.port = String(port);
  assert.match(jvmGet(endpoint.href, { options: javaToolOptions }), AUTH_MISSING);
  assert.match(jvmGet(`https://127.0.0.1:${port}/`, { options: javaToolOptions }), AUTH_MISSING);
});

test('without the truststore the JVM refuses the certificate; plain HTTP gets no answer', () => {
  assert.match(jvmGet(`https://localhost:${port}/`), /^ERROR .*SSLHandshakeException.*PKIX path building failed/);
  assert.match(jvmGet(`http://localhost:${port}/`, { options: javaToolOptions }), /^ERROR /);
});

test('a renewed server certificate is reloaded (watch: true) and trusted by the same truststore', async () => {
  const before = fileFingerprint(path.join(tlsDir, 'tls.crt'));
  const storeBefore = fs.readFileSync(path.join(tlsDir, 'truststore.p12'));
  assert.equal(await servedFingerprint(port), before);
  must(MAKE_TLS, [tlsDir]); // reuses ca.key: a new server key and certificate, the same CA
  const renewed = fileFingerprint(path.join(tlsDir, 'tls.crt'));
  assert.notEqual(renewed, before);
  assert.deepEqual(fs.readFileSync(path.join(tlsDir, 'truststore.p12')), storeBefore, 'the truststore is kept');
  // Replace both files atomically (as the kubelet's ..data swap does for a Secret volume).
  const listenDir = path.join(dir, 'listen-tls');
  for (const f of ['tls.key', 'tls.crt']) {
    fs.copyFileSync(path.join(tlsDir, f), path.join(listenDir, `${f}.new`));
    fs.chmodSync(path.join(listenDir, `${f}.new`), 0o600);
    fs.renameSync(path.join(listenDir, `${f}.new`), path.join(listenDir, f));
  }
  let served = before;
  for (let i = 0; i < 100 && served !== renewed; i++) {
    await new Promise((r) => setTimeout(r, 100));
    served = await servedFingerprint(port);
  }
  assert.equal(served, renewed, `cosmoseal still serves the old certificate:\n${fs.readFileSync(path.join(dir, 'cosmoseal.log'), 'utf8').slice(-2000)}`);
  assert.match(jvmGet(`https://localhost:${port}/`, { options: javaToolOptions }), AUTH_MISSING);
});
