// Renders the components under k8s/ (sidecar, sidecar-classic, capture), which cannot be built on
// their own, by applying them to fixture Deployments in a temporary kustomization: one labelled
// cosmoseal.io/inject: "true" that already has an init container, a volume and a pod security
// context of its own, and one without the label (which must come out untouched).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { K8S_DIR, render } from './kube.mjs';

export const FIXTURE_APP = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'fixture-app', labels: { 'cosmoseal.io/inject': 'true' } },
  spec: {
    selector: { matchLabels: { app: 'fixture-app' } },
    template: {
      metadata: { labels: { app: 'fixture-app' } },
      spec: {
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        initContainers: [{ name: 'migrate', image: 'example/migrate:1', args: ['--once'] }],
        containers: [
          {
            name: 'app',
            image: 'example/app:1',
            volumeMounts: [{ name: 'app-data', mountPath: '/data' }],
          },
        ],
        volumes: [{ name: 'app-data', emptyDir: {} }],
      },
    },
  },
};

export const FIXTURE_OTHER = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'fixture-other' },
  spec: {
    selector: { matchLabels: { app: 'fixture-other' } },
    template: {
      metadata: { labels: { app: 'fixture-other' } },
      spec: { containers: [{ name: 'other', image: 'example/other:1' }] },
    },
  },
};

/** Renders FIXTURE_APP + FIXTURE_OTHER with the given components (names under k8s/). */
export function renderComponents(kubectl, components) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-component-'));
  try {
    fs.writeFileSync(path.join(tmp, 'app.json'), JSON.stringify(FIXTURE_APP));
    fs.writeFileSync(path.join(tmp, 'other.json'), JSON.stringify(FIXTURE_OTHER));
    const comps = components.map((c) => path.relative(tmp, path.join(K8S_DIR, c)));
    fs.writeFileSync(
      path.join(tmp, 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - app.json\n  - other.json\n' +
        `components:\n${comps.map((c) => `  - ${c}\n`).join('')}`,
    );
    return render(kubectl, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** What the tests render: every example, the bare NetworkPolicy, and each component on fixtures. */
export function renderings(kubectl) {
  return [
    { name: 'k8s/examples/app', covers: ['k8s/examples/app'], objects: () => render(kubectl, 'k8s/examples/app') },
    { name: 'k8s/examples/java-app', covers: ['k8s/examples/java-app'], objects: () => render(kubectl, 'k8s/examples/java-app') },
    { name: 'k8s/examples/transparent', covers: ['k8s/examples/transparent'], objects: () => render(kubectl, 'k8s/examples/transparent') },
    { name: 'k8s/examples/migrate', covers: ['k8s/examples/migrate'], objects: () => render(kubectl, 'k8s/examples/migrate') },
    { name: 'k8s/examples/hsm', covers: ['k8s/examples/hsm'], objects: () => render(kubectl, 'k8s/examples/hsm') },
    { name: 'k8s/examples/keyvault', covers: ['k8s/examples/keyvault'], objects: () => render(kubectl, 'k8s/examples/keyvault') },
    { name: 'k8s/examples/networkpolicy.yaml', covers: ['k8s/examples/networkpolicy.yaml'], objects: () => render(kubectl, 'k8s/examples/networkpolicy.yaml') },
    { name: 'k8s/sidecar (on fixtures)', covers: ['k8s/sidecar'], objects: () => renderComponents(kubectl, ['sidecar']) },
    { name: 'k8s/sidecar-classic (on fixtures)', covers: ['k8s/sidecar-classic'], objects: () => renderComponents(kubectl, ['sidecar-classic']) },
    { name: 'k8s/sidecar + k8s/capture (on fixtures)', covers: ['k8s/sidecar', 'k8s/capture'], objects: () => renderComponents(kubectl, ['sidecar', 'capture']) },
  ];
}
