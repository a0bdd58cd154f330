// Renders every example and component under k8s/ with `kubectl kustomize` (offline) and validates
// every rendered object against the Kubernetes schemas (kubernetes-models, pinned in
// tests/k8s/package.json), plus a strict unknown-field check along the same package's type
// declarations (lib/strict.mjs). Needs kubectl: without it this file exits 77 (skipped).
//
//   node tests/k8s/render.test.mjs        (ctest: k8s.render)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTargets, requireKubectl, validateObject, podSpecOf, findContainer } from './lib/kube.mjs';
import { FIXTURE_APP, FIXTURE_OTHER, renderings } from './lib/fixtures.mjs';
import { unknownFields } from './lib/strict.mjs';

const kubectl = requireKubectl();
console.log(`# kubectl ${kubectl.version || '(version unknown)'} (${kubectl.bin})`);

const cases = renderings(kubectl);
const rendered = new Map();
for (const c of cases) rendered.set(c.name, c.objects());

test('every kustomization under k8s/ is rendered by this test', () => {
  const covered = new Set(cases.flatMap((c) => c.covers));
  for (const t of renderTargets()) {
    if (t.kind === 'Component') assert.ok(covered.has(t.path), `component ${t.path} is not rendered on the fixtures`);
    else assert.ok(covered.has(t.path), `${t.kind} ${t.path} is not rendered`);
  }
});

for (const c of cases) {
  test(`${c.name}: renders, and every object validates against its Kubernetes schema`, async () => {
    const objects = rendered.get(c.name);
    assert.ok(objects.length > 0, 'rendered nothing');
    console.log(`# ${c.name}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
    for (const o of objects) {
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `object without apiVersion/kind/name: ${JSON.stringify(o).slice(0, 200)}`);
      try {
        await validateObject(o);
      } catch (err) {
        assert.fail(`${o.kind}/${o.metadata.name} does not validate: ${err.message}`);
      }
      // The schemas allow extra properties; a misspelt field would pass them and be dropped.
      assert.deepEqual(unknownFields(o), [], `${o.kind}/${o.metadata.name} has fields the Kubernetes API does not define`);
    }
  });
}

test('k8s/examples/app renders the namespace, the config, the three Secrets and the Deployment', () => {
  const names = rendered.get('k8s/examples/app').map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(names, [
    'ConfigMap/cosmoseal-config',
    'Deployment/orders-api',
    'Namespace/orders',
    'Secret/cosmoseal-account-key',
    'Secret/cosmoseal-clients',
    'Secret/cosmoseal-keys',
  ]);
});

test('k8s/examples/java-app adds the TLS listener Secret and the truststore ConfigMap; the patch reaches the sidecar', () => {
  const objects = rendered.get('k8s/examples/java-app');
  const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(names, [
    'ConfigMap/cosmoseal-config',
    'ConfigMap/cosmoseal-listen-truststore',
    'Deployment/orders-api',
    'Namespace/orders-java',
    'Secret/cosmoseal-account-key',
    'Secret/cosmoseal-clients',
    'Secret/cosmoseal-keys',
    'Secret/cosmoseal-listen-tls',
  ]);
  const spec = podSpecOf(objects.find((o) => o.kind === 'Deployment'));
  // The example's patch runs after the component: it must extend the component's container, not
  // add a second (image-less) one.
  assert.deepEqual(spec.initContainers.map((c) => c.name), ['cosmoseal']);
  const cs = findContainer(spec.initContainers, 'cosmoseal');
  assert.ok(cs.image, 'the sidecar keeps its image');
  assert.ok(cs.volumeMounts.some((m) => m.name === 'cosmoseal-listen-tls'), 'the listener certificate is mounted');
  assert.equal(objects.find((o) => o.metadata.name === 'cosmoseal-listen-tls').type, 'kubernetes.io/tls');
});

test('k8s/examples/transparent adds the interception CA Secret and the capture init container', () => {
  const objects = rendered.get('k8s/examples/transparent');
  const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(names, [
    'ConfigMap/cosmoseal-config',
    'Deployment/orders-api',
    'Namespace/orders-transparent',
    'Secret/cosmoseal-account-key',
    'Secret/cosmoseal-clients',
    'Secret/cosmoseal-intercept-ca',
    'Secret/cosmoseal-keys',
  ]);
  const spec = podSpecOf(objects.find((o) => o.kind === 'Deployment'));
  assert.deepEqual(spec.initContainers.map((c) => c.name), ['cosmoseal-capture', 'cosmoseal'],
    'capture-init must run before the cosmoseal sidecar starts');
});

test('k8s/examples/hsm: the KEK stays in the HSM (no kek in the Secret), the module is copied in before cosmoseal starts', () => {
  const objects = rendered.get('k8s/examples/hsm');
  const keys = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'cosmoseal-keys');
  assert.deepEqual(Object.keys(keys.data).sort(), ['hsm-pin', 'keyring.yaml']);
  const spec = podSpecOf(objects.find((o) => o.kind === 'Deployment'));
  assert.deepEqual(spec.initContainers.map((c) => c.name), ['hsm-module', 'cosmoseal'],
    'the module must be in place before the cosmoseal sidecar starts');
  const cs = findContainer(spec.initContainers, 'cosmoseal');
  const mount = cs.volumeMounts.find((m) => m.name === 'hsm-module');
  assert.equal(mount?.mountPath, '/opt/hsm');
  assert.equal(mount?.readOnly, true);
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cosmoseal-config');
  assert.match(config.data['cosmoseal.yaml'], /provider: pkcs11/);
  assert.match(config.data['cosmoseal.yaml'], /module: \/opt\/hsm\//);
});

test('k8s/examples/keyvault: no KEK in the pod, workload identity for the vault', () => {
  const objects = rendered.get('k8s/examples/keyvault');
  const keys = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'cosmoseal-keys');
  assert.deepEqual(Object.keys(keys.data), ['keyring.yaml']);
  const sa = objects.find((o) => o.kind === 'ServiceAccount');
  assert.match(sa.metadata.annotations['azure.workload.identity/client-id'], /^[0-9a-f-]{36}$/);
  const d = objects.find((o) => o.kind === 'Deployment');
  assert.equal(d.spec.template.metadata.labels['azure.workload.identity/use'], 'true');
  assert.equal(podSpecOf(d).serviceAccountName, sa.metadata.name);
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cosmoseal-config');
  assert.match(config.data['cosmoseal.yaml'], /provider: azure_key_vault/);
  assert.match(config.data['cosmoseal.yaml'], /vault_url: https:\/\//);
});

test('the components change only labelled Deployments and keep what the app already had', () => {
  for (const name of ['k8s/sidecar (on fixtures)', 'k8s/sidecar-classic (on fixtures)', 'k8s/sidecar + k8s/capture (on fixtures)']) {
    const objects = rendered.get(name);
    const other = objects.find((o) => o.metadata.name === 'fixture-other');
    assert.deepEqual(other, FIXTURE_OTHER, `${name}: an unlabelled Deployment was modified`);
    const app = podSpecOf(objects.find((o) => o.metadata.name === 'fixture-app'));
    const want = FIXTURE_APP.spec.template.spec;
    assert.ok(findContainer(app.initContainers, 'migrate'), `${name}: the app's own init container is gone`);
    assert.ok(findContainer(app.containers, 'app'), `${name}: the app container is gone`);
    assert.deepEqual(findContainer(app.containers, 'app').volumeMounts, want.containers[0].volumeMounts);
    assert.ok(app.volumes.some((v) => v.name === 'app-data'), `${name}: the app's volume is gone`);
    assert.equal(app.securityContext.runAsNonRoot, true, `${name}: the pod securityContext was replaced, not merged`);
    const where = name.includes('classic') ? app.containers : app.initContainers;
    assert.ok(findContainer(where, 'cosmoseal'), `${name}: no cosmoseal container`);
  }
});

test('k8s/examples/migrate: an Indexed Job of N workers with the sidecar\'s mounts and security', () => {
  const objects = rendered.get('k8s/examples/migrate');
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ['Job/cosmoseal-migrate-customers']);
  const job = objects[0];
  assert.equal(job.metadata.namespace, 'orders', 'the app example\'s namespace: its ConfigMap and Secrets');
  const s = job.spec;
  assert.equal(s.completionMode, 'Indexed');
  assert.ok(s.completions >= 1 && s.parallelism === s.completions, 'completions = parallelism');
  assert.ok(Number.isInteger(s.backoffLimit) && Number.isInteger(s.backoffLimitPerIndex), 'retries are bounded');
  assert.ok(s.activeDeadlineSeconds > 0, 'activeDeadlineSeconds');
  const pod = s.template.spec;
  assert.equal(pod.restartPolicy, 'Never', 'backoffLimitPerIndex needs restartPolicy Never');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.fsGroup, 65532, 'uid 65532 reads the 0400 Secret files through fsGroup');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.match(c.image, /cosmoseal/);
  const args = c.args;
  assert.deepEqual(args.slice(0, 2), ['migrate', 'encrypt']);
  const flag = (name) => args[args.indexOf(name) + 1];
  assert.equal(flag('--config'), '/etc/cosmoseal/cosmoseal.yaml');
  assert.equal(Number(flag('--workers')), s.completions, '--workers = completions');
  assert.ok(!args.includes('--worker-index'), 'the worker index comes from JOB_COMPLETION_INDEX');
  for (const f of ['--database', '--container', '--job', '--max-ru-per-second']) assert.ok(args.includes(f), `${f} is given`);
  for (const k of ['cpu', 'memory']) {
    assert.ok(c.resources.requests[k] && c.resources.limits[k], `resources ${k}`);
  }
  const sc = c.securityContext;
  assert.equal(sc.runAsUser, 65532);
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  // The same mounts as the sidecar of k8s/examples/app, at the same paths, read-only, from the
  // same ConfigMap and Secrets (the config names files at those paths).
  const app = rendered.get('k8s/examples/app');
  const sidecarSpec = podSpecOf(app.find((o) => o.kind === 'Deployment'));
  const sidecar = findContainer(sidecarSpec.initContainers, 'cosmoseal');
  const mounts = (ct, spec) => ct.volumeMounts.map((m) => {
    const v = spec.volumes.find((x) => x.name === m.name);
    return `${m.mountPath} <- ${v.configMap ? `ConfigMap/${v.configMap.name}` : `Secret/${v.secret.secretName} ${v.secret.defaultMode}`} ro=${m.readOnly}`;
  }).sort();
  assert.deepEqual(mounts(c, pod), mounts(sidecar, sidecarSpec));
  for (const m of c.volumeMounts) assert.equal(m.subPath, undefined, 'no subPath');
  const names = new Set(app.map((o) => `${o.kind}/${o.metadata.name}`));
  for (const v of pod.volumes) {
    const ref = v.configMap ? `ConfigMap/${v.configMap.name}` : `Secret/${v.secret.secretName}`;
    assert.ok(names.has(ref), `${ref} is one of k8s/examples/app's objects`);
  }
});
