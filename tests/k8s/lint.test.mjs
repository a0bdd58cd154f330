// Lint over the rendered manifests (kubectl kustomize): every security setting, probe and mount of
// the cosmoseal sidecar, the grace period against the configured drain timeout, the capture init
// container's privileges, the coherence of cosmoseal.yaml with the pod (paths under mounted
// Secrets, ports, uid), the app's limited view of the Secrets, and the NetworkPolicy.
// Needs kubectl: without it this file exits 77 (skipped).
//
//   node tests/k8s/lint.test.mjs          (ctest: k8s.lint)

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  cosmosealConfigText, durationMs, findContainer, parseYaml, podSpecOf, quantity, requireKubectl, sizeBytes,
} from './lib/kube.mjs';
import { renderings } from './lib/fixtures.mjs';

const kubectl = requireKubectl();
const PROXY_UID = 65532;
const ADMIN_PORT = 9901;
const BINARY = '/usr/local/bin/cosmoseal';
const CONFIG_PATH = '/etc/cosmoseal/cosmoseal.yaml';
const DEFAULT_DRAIN_MS = 20000; // docs/CONFIG.md timeouts.drain
const DEFAULT_BUFFERED = 512 * 1024 ** 2; // docs/CONFIG.md limits.max_buffered_bytes
const SLACK_MS = 5000;

const all = renderings(kubectl).map((r) => ({ ...r, objects: r.objects() }));
const workloads = [];
for (const r of all) {
  const config = cosmosealConfigText(r.objects);
  for (const d of r.objects.filter((o) => o.kind === 'Deployment')) {
    const spec = podSpecOf(d);
    const native = findContainer(spec.initContainers, 'cosmoseal');
    const classic = findContainer(spec.containers, 'cosmoseal');
    if (!native && !classic) continue;
    workloads.push({
      name: `${r.name}: Deployment/${d.metadata.name}`,
      objects: r.objects,
      deployment: d,
      spec,
      cs: native ?? classic,
      native: !!native,
      config: config ? parseYaml(config, `${r.name} cosmoseal.yaml`) : null,
    });
  }
}

test('the renderings contain the cosmoseal sidecar where expected', () => {
  const names = workloads.map((w) => w.name);
  for (const want of ['k8s/examples/app', 'k8s/examples/java-app', 'k8s/examples/transparent', 'k8s/sidecar (on', 'k8s/sidecar-classic', 'k8s/sidecar + k8s/capture']) {
    assert.ok(names.some((n) => n.startsWith(want)), `no cosmoseal container in ${want}: ${names.join(', ')}`);
  }
});

const volumeOf = (w, name) => (w.spec.volumes || []).find((v) => v.name === name);
const portNumber = (c, port) => (typeof port === 'number' ? port : (c.ports || []).find((p) => p.name === port)?.containerPort);
const under = (file, dir) => file === dir || file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

for (const w of workloads) {
  test(`${w.name}: container security context`, () => {
    const sc = w.cs.securityContext || {};
    assert.equal(sc.runAsNonRoot, true, 'runAsNonRoot');
    assert.equal(sc.runAsUser, PROXY_UID, 'runAsUser');
    assert.equal(sc.runAsGroup, PROXY_UID, 'runAsGroup');
    assert.equal(sc.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
    assert.equal(sc.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation');
    assert.notEqual(sc.privileged, true, 'privileged');
    assert.deepEqual(sc.capabilities?.drop, ['ALL'], 'capabilities.drop');
    assert.equal(sc.capabilities?.add, undefined, 'capabilities.add must be empty');
    assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', 'seccompProfile');
  });

  test(`${w.name}: native sidecar or classic container, image, arguments`, () => {
    if (w.native) assert.equal(w.cs.restartPolicy, 'Always', 'a native sidecar is an init container with restartPolicy: Always');
    else assert.equal(w.cs.restartPolicy, undefined);
    assert.match(w.cs.image, /cosmoseal:[0-9]/, 'the image carries an explicit tag');
    assert.deepEqual(w.cs.args, ['--config', CONFIG_PATH]);
    assert.equal(w.cs.command, undefined, 'the image entrypoint is the binary');
  });

  test(`${w.name}: resources`, () => {
    const r = w.cs.resources || {};
    for (const k of ['cpu', 'memory']) {
      assert.ok(r.requests?.[k], `requests.${k}`);
      assert.ok(r.limits?.[k], `limits.${k}`);
      assert.ok(quantity(r.requests[k]) <= quantity(r.limits[k]), `requests.${k} <= limits.${k}`);
    }
  });

  test(`${w.name}: probes on the admin port, preStop hook`, () => {
    const probes = { livenessProbe: '/healthz', readinessProbe: '/readyz' };
    if (w.native) probes.startupProbe = '/readyz'; // gates the app's start on cosmoseal being ready
    for (const [kind, p] of Object.entries(probes)) {
      const probe = w.cs[kind];
      assert.ok(probe?.httpGet, `${kind} is an httpGet probe`);
      assert.equal(probe.httpGet.path, p, `${kind} path`);
      assert.equal(portNumber(w.cs, probe.httpGet.port), ADMIN_PORT, `${kind} port`);
      assert.notEqual(probe.httpGet.scheme, 'HTTPS');
    }
    const cmd = w.cs.lifecycle?.preStop?.exec?.command;
    assert.ok(Array.isArray(cmd), 'preStop exec');
    assert.deepEqual(cmd.slice(0, 3), [BINARY, 'prestop', '--delay']);
    assert.equal(cmd.length, 4);
    durationMs(cmd[3]);
  });

  test(`${w.name}: terminationGracePeriodSeconds covers preStop + drain + slack`, () => {
    const delay = durationMs(w.cs.lifecycle.preStop.exec.command[3]);
    const drain = w.config?.timeouts?.drain !== undefined ? durationMs(w.config.timeouts.drain) : DEFAULT_DRAIN_MS;
    const grace = w.spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(
      grace * 1000 >= delay + drain + SLACK_MS,
      `terminationGracePeriodSeconds ${grace}s < preStop ${delay}ms + drain ${drain}ms + ${SLACK_MS}ms slack`,
    );
  });

  test(`${w.name}: read-only mounts; Secrets with defaultMode 0400; no subPath`, () => {
    assert.ok((w.cs.volumeMounts || []).length >= 4);
    let secrets = 0;
    for (const m of w.cs.volumeMounts) {
      assert.equal(m.readOnly, true, `${m.mountPath} is mounted read-only`);
      assert.equal(m.subPath, undefined, `${m.mountPath}: subPath mounts never see ConfigMap/Secret updates`);
      const v = volumeOf(w, m.name);
      assert.ok(v, `volume ${m.name} exists`);
      if (v.secret) {
        secrets++;
        assert.equal(v.secret.defaultMode, 0o400, `${m.name}: defaultMode 0400`);
        for (const it of v.secret.items || []) assert.ok(it.mode === undefined || it.mode === 0o400, `${m.name}: item ${it.key} mode`);
      } else if (v.emptyDir) {
        // A PKCS#11 module copied in by an init container that runs before cosmoseal (the HSM
        // example): read-only for cosmoseal, written only before it starts.
        const inits = w.spec.initContainers.map((c) => c.name);
        const writer = w.spec.initContainers.find((c) => c.name !== 'cosmoseal' &&
          (c.volumeMounts || []).some((vm) => vm.name === m.name && !vm.readOnly));
        assert.ok(writer && inits.indexOf(writer.name) < inits.indexOf('cosmoseal'),
          `${m.name}: an emptyDir mounted into cosmoseal must be filled by an init container before it`);
      } else {
        assert.ok(v.configMap, `${m.name}: only ConfigMaps and Secrets are mounted into cosmoseal`);
      }
    }
    assert.ok(secrets >= 3, 'account key, client keys and keyring come from Secrets');
    // The kubelet leaves Secret files owned by root; a 0400 file is readable by uid 65532 only
    // through the pod's fsGroup (the kubelet then makes it root:<fsGroup> 0440).
    assert.equal(w.spec.securityContext?.fsGroup, PROXY_UID, 'pod securityContext.fsGroup');
  });

  if (!w.config) continue; // the component fixtures have no cosmoseal.yaml

  test(`${w.name}: cosmoseal.yaml agrees with the pod`, () => {
    const c = w.config;
    assert.equal(c.watch, true, 'watch: true (ConfigMap/Secret updates reload)');
    assert.ok(Number.isInteger(c.workers) && c.workers >= 1, 'workers is a number ("auto" counts the node\'s CPUs)');
    assert.ok(c.workers <= Math.max(1, Math.ceil(quantity(w.cs.resources.limits.cpu))), 'workers <= CPU limit');
    assert.match(String(c.listen?.address ?? '127.0.0.1'), /^(127\.0\.0\.1|::1|\[::1\])$/, 'the listener stays on loopback');
    assert.equal(c.admin?.address, '0.0.0.0', 'admin on the pod IP for the kubelet probes');
    assert.equal(c.admin?.port ?? 9901, ADMIN_PORT);
    assert.ok(c.timeouts?.drain !== undefined, 'timeouts.drain is set explicitly');
    const buffered = c.limits?.max_buffered_bytes !== undefined ? sizeBytes(c.limits.max_buffered_bytes) : DEFAULT_BUFFERED;
    assert.ok(buffered * 2 <= quantity(w.cs.resources.limits.memory),
      `limits.max_buffered_bytes (${buffered}) must be at most half the memory limit (${w.cs.resources.limits.memory})`);

    // Every file cosmoseal reads lies on a mount of the right kind, and the mounted object has that key.
    const files = [
      [c.upstream.key_file, 'secret'],
      ...c.clients.map((cl) => [cl.key_file, 'secret']),
      [c.keys.keyring_file, 'secret'],
    ];
    // The KEK: a file (kek_file or keys.kek provider file), an env variable, or a PKCS#11 token
    // whose PIN is a Secret file and whose module lies on some mount.
    if (c.keys.kek_file) files.push([c.keys.kek_file, 'secret']);
    if (c.keys.kek?.file) files.push([c.keys.kek.file, 'secret']);
    if (c.keys.kek?.pin_file) files.push([c.keys.kek.pin_file, 'secret']);
    if (c.keys.kek?.module) {
      assert.ok(w.cs.volumeMounts.some((vm) => under(c.keys.kek.module, vm.mountPath)),
        `the PKCS#11 module ${c.keys.kek.module} is not under any mount (the image is FROM scratch)`);
    }
    if (c.listen?.transparent) files.push([c.listen.transparent.ca_cert, 'secret'], [c.listen.transparent.ca_key, 'secret']);
    if (c.listen?.tls) files.push([c.listen.tls.cert, 'secret'], [c.listen.tls.key, 'secret']);
    if (c.upstream.ca_file) files.push([c.upstream.ca_file, 'any']);
    for (const [file, kind] of files) {
      const m = w.cs.volumeMounts.find((vm) => under(file, vm.mountPath));
      assert.ok(m, `${file} is not under any mount of the cosmoseal container`);
      const v = volumeOf(w, m.name);
      if (kind === 'secret') assert.ok(v.secret, `${file} must come from a Secret (it is on ${m.name})`);
      const key = path.relative(m.mountPath, file);
      const objName = v.secret?.secretName ?? v.configMap?.name;
      const obj = w.objects.find((o) => (o.kind === 'Secret' || o.kind === 'ConfigMap') && o.metadata.name === objName);
      assert.ok(obj, `${objName} is rendered with the example`);
      assert.ok(Object.keys({ ...obj.data, ...obj.stringData }).includes(key), `${objName} has no key ${key} (for ${file})`);
    }
    const cfgMount = w.cs.volumeMounts.find((vm) => under(CONFIG_PATH, vm.mountPath));
    assert.ok(volumeOf(w, cfgMount.name).configMap, 'cosmoseal.yaml comes from the ConfigMap');
  });

  test(`${w.name}: the app container sees its client key and nothing else of cosmoseal's`, () => {
    const app = findContainer(w.spec.containers, 'app');
    assert.ok(app, 'app container');
    const env = Object.fromEntries((app.env || []).map((e) => [e.name, e]));
    const ref = env.COSMOS_KEY?.valueFrom?.secretKeyRef;
    assert.ok(ref, 'COSMOS_KEY comes from a Secret');
    assert.equal(ref.name, 'cosmoseal-clients');
    assert.ok(w.config.clients.some((cl) => path.basename(cl.key_file) === ref.key), `client ${ref.key} is configured`);
    for (const e of app.env || []) {
      const n = e.valueFrom?.secretKeyRef?.name;
      assert.ok(!n || n === 'cosmoseal-clients', `the app reads Secret ${n}`);
    }
    assert.equal(app.envFrom, undefined, 'no envFrom');
    for (const m of app.volumeMounts || []) {
      const v = volumeOf(w, m.name);
      if (!v.secret) continue;
      assert.equal(v.secret.secretName, 'cosmoseal-intercept-ca', `the app mounts Secret ${v.secret.secretName}`);
      assert.deepEqual(v.secret.items, [{ key: 'tls.crt', path: 'ca.crt' }], 'the app gets the CA certificate only, never tls.key');
    }
    const endpoint = new URL(env.COSMOS_ENDPOINT.value);
    const upstream = new URL(w.config.upstream.endpoint);
    if (w.config.listen?.mode === 'transparent') {
      assert.equal(endpoint.host, upstream.host, 'transparent mode: the app keeps the real endpoint');
      assert.ok(w.config.listen.transparent.allowed_hosts.includes(endpoint.hostname), 'the app\'s host is allowed');
      const ca = env.NODE_EXTRA_CA_CERTS?.value;
      assert.ok(ca && (app.volumeMounts || []).some((m) => under(ca, m.mountPath) && volumeOf(w, m.name).secret), 'the app trusts the mounted CA');
    } else if (w.config.listen?.tls) {
      // A TLS listener (required by the Java SDK): https, a name its loopback certificate carries.
      assert.equal(endpoint.protocol, 'https:', 'listen.tls: the app uses https');
      assert.ok(['localhost', '127.0.0.1'].includes(endpoint.hostname), `gateway mode: the app talks to the sidecar (${endpoint.hostname})`);
      assert.equal(Number(endpoint.port), w.config.listen.port);
    } else {
      assert.equal(endpoint.protocol, 'http:', 'a plain listener: http');
      assert.equal(endpoint.hostname, '127.0.0.1', 'gateway mode: the app talks to the sidecar');
      assert.equal(Number(endpoint.port), w.config.listen.port);
    }
  });

  const javaOptions = findContainer(w.spec.containers, 'app')?.env?.find((e) => e.name === 'JAVA_TOOL_OPTIONS');
  if (!javaOptions) continue;

  test(`${w.name}: the JVM trusts the TLS listener through a mounted truststore`, () => {
    const app = findContainer(w.spec.containers, 'app');
    assert.equal(javaOptions.valueFrom, undefined, 'JAVA_TOOL_OPTIONS is a literal value');
    const props = Object.fromEntries(
      javaOptions.value.trim().split(/\s+/).map((o) => {
        const m = /^-D([^=]+)=(.*)$/.exec(o);
        assert.ok(m, `JAVA_TOOL_OPTIONS: ${o} is not a -Dname=value`);
        return [m[1], m[2]];
      }),
    );
    assert.ok(w.config.listen?.tls, 'a Java app needs listen.tls: the Java SDK speaks HTTPS only');
    assert.equal(new URL(app.env.find((e) => e.name === 'COSMOS_ENDPOINT').value).href, `https://localhost:${w.config.listen.port}/`);
    assert.equal(props['javax.net.ssl.trustStoreType'], 'PKCS12');
    assert.ok(props['javax.net.ssl.trustStorePassword'], 'a PKCS12 truststore written by keytool needs its password');
    const store = props['javax.net.ssl.trustStore'];
    assert.ok(store?.startsWith('/'), 'javax.net.ssl.trustStore is an absolute path');
    const m = (app.volumeMounts || []).find((vm) => under(store, vm.mountPath));
    assert.ok(m, `${store} is not under any mount of the app container`);
    assert.equal(m.readOnly, true);
    assert.equal(m.subPath, undefined);
    const v = volumeOf(w, m.name);
    assert.ok(v.configMap, 'the truststore (public certificates) comes from a ConfigMap, beside no key');
    const cm = w.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name);
    assert.ok(cm, `${v.configMap.name} is rendered with the example`);
    assert.ok(Object.keys({ ...cm.data, ...cm.binaryData }).includes(path.relative(m.mountPath, store)), `${v.configMap.name} has the truststore`);
    // cosmoseal's listener key stays in cosmoseal's container only.
    const tlsMount = w.cs.volumeMounts.find((vm) => under(w.config.listen.tls.key, vm.mountPath));
    assert.ok(!(app.volumeMounts || []).some((am) => am.name === tlsMount.name), 'the app must not mount the listener key');
  });
}

test('transparent: the capture init container runs first, as root with NET_ADMIN and NET_RAW only', () => {
  const list = workloads.filter((w) => w.spec.initContainers?.some((c) => c.name === 'cosmoseal-capture'));
  assert.ok(list.length >= 2, 'the transparent example and the capture fixture');
  for (const w of list) {
    const names = w.spec.initContainers.map((c) => c.name);
    assert.ok(names.indexOf('cosmoseal-capture') < names.indexOf('cosmoseal'), `${w.name}: capture before the sidecar`);
    const cap = findContainer(w.spec.initContainers, 'cosmoseal-capture');
    assert.equal(cap.restartPolicy, undefined, 'runs once');
    const sc = cap.securityContext;
    assert.equal(sc.runAsUser, 0);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.notEqual(sc.privileged, true);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.deepEqual([...sc.capabilities.add].sort(), ['NET_ADMIN', 'NET_RAW']);
    assert.equal(sc.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(cap.args[0], 'capture-init');
    const uid = cap.args[cap.args.indexOf('--proxy-uid') + 1];
    assert.equal(Number(uid), w.cs.securityContext.runAsUser, 'the exempt uid is cosmoseal\'s runAsUser');
    assert.equal(cap.args[cap.args.indexOf('--config') + 1], CONFIG_PATH);
    assert.ok((cap.volumeMounts || []).every((m) => m.readOnly === true && volumeOf(w, m.name).configMap), 'only the config, read-only');
    if (w.config) assert.equal(w.config.listen.mode, 'transparent');
  }
});

test('namespaces: restricted for gateway mode, privileged (capture) for transparent mode', () => {
  const ns = (r) => all.find((x) => x.name === r).objects.find((o) => o.kind === 'Namespace');
  assert.equal(ns('k8s/examples/app').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(ns('k8s/examples/transparent').metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
});

test('NetworkPolicy: egress only to DNS and TCP 443; ingress only to the admin port', () => {
  const [np] = all.find((r) => r.name === 'k8s/examples/networkpolicy.yaml').objects;
  assert.equal(np.kind, 'NetworkPolicy');
  assert.deepEqual([...np.spec.policyTypes].sort(), ['Egress', 'Ingress']);
  const egressPorts = np.spec.egress.flatMap((r) => {
    assert.ok(r.ports?.length, 'every egress rule names its ports');
    assert.ok(r.to?.length, 'every egress rule names its destinations');
    return r.ports.map((p) => `${p.protocol}/${p.port}`);
  });
  assert.deepEqual([...new Set(egressPorts)].sort(), ['TCP/443', 'TCP/53', 'UDP/53']);
  const ingressPorts = np.spec.ingress.flatMap((r) => r.ports.map((p) => `${p.protocol}/${p.port}`));
  assert.deepEqual(ingressPorts, [`TCP/${ADMIN_PORT}`]);
  const app = workloads.find((w) => w.name.startsWith('k8s/examples/app'));
  for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) {
    assert.equal(app.deployment.spec.template.metadata.labels[k], v, 'the policy selects the example\'s pods');
  }
});
