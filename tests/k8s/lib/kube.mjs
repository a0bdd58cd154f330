// Rendering and reading the manifests under k8s/ for the tests: `kubectl kustomize` (offline),
// YAML parsing (the `yaml` package), schema validation of each object (kubernetes-models), and
// lookups the lint and the rehearsal share (the cosmoseal containers, their volumes, the config
// inside the ConfigMap).
//
// Skips: tests that need kubectl call requireKubectl(), which prints why and exits 77 (ctest's
// SKIP_RETURN_CODE) when it is missing, so such a test is reported as skipped, never passed.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const K8S_TEST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(K8S_TEST_DIR, '..', '..');
export const K8S_DIR = path.join(REPO_ROOT, 'k8s');

/** Exit code ctest reads as "skipped" (SKIP_RETURN_CODE in tests/k8s/CMakeLists.txt). */
export const SKIP = 77;

/** Prints `SKIPPED: reason` and exits 77. */
export function skip(reason) {
  console.log(`SKIPPED: ${reason}`);
  process.exit(SKIP);
}

function missingDeps(name) {
  console.error(
    `tests/k8s dependency '${name}' is not installed (${path.join(K8S_TEST_DIR, 'node_modules')}).\n` +
      'Run scripts/install-deps.sh --k8s from the repository root (it runs npm ci in tests/k8s).',
  );
  process.exit(1);
}

/** Imports a pinned dependency of tests/k8s, failing (not skipping) with instructions if absent. */
export async function importDep(name) {
  if (!fs.existsSync(path.join(K8S_TEST_DIR, 'node_modules', ...name.split('/')))) missingDeps(name);
  return import(name);
}

const YAML = await importDep('yaml');

/** The kubectl binary ($KUBECTL or kubectl on PATH), or null. */
export function findKubectl() {
  const candidates = process.env.KUBECTL ? [process.env.KUBECTL] : ['kubectl'];
  for (const c of candidates) {
    const r = spawnSync(c, ['version', '--client=true', '--output=json'], { encoding: 'utf8', timeout: 30000 });
    if (r.status === 0) {
      let version = '';
      try {
        version = JSON.parse(r.stdout).clientVersion?.gitVersion ?? '';
      } catch {
        /* older kubectl */
      }
      return { bin: c, version };
    }
  }
  return null;
}

/** kubectl, or exit 77 with the reason (absent, or too old for kustomize components). */
export function requireKubectl() {
  const k = findKubectl();
  if (!k) {
    skip('kubectl (with its built-in kustomize) is not installed; these tests render k8s/ with ' +
      '`kubectl kustomize` (set KUBECTL=/path/to/kubectl to use another one)');
  }
  const m = /^v(\d+)\.(\d+)/.exec(k.version);
  if (m && (Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) < 21))) {
    skip(`kubectl ${k.version} embeds a kustomize without components (kind: Component needs kubectl >= 1.21)`);
  }
  return k;
}

/** Parses a multi-document YAML stream into plain objects (empty documents dropped). */
export function parseYamlStream(text, what = 'YAML') {
  const docs = YAML.parseAllDocuments(text);
  const out = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${what}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

export function parseYaml(text, what = 'YAML') {
  const docs = parseYamlStream(text, what);
  if (docs.length !== 1) throw new Error(`${what}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

/**
 * `kubectl kustomize DIR` -> objects. A bare manifest file (k8s/examples/networkpolicy.yaml) is
 * rendered through a temporary kustomization listing it, so it goes through the same tool.
 */
export function render(kubectl, target) {
  const abs = path.resolve(REPO_ROOT, target);
  let dir = abs;
  let tmp = null;
  if (fs.statSync(abs).isFile()) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmoseal-kustomize-'));
    fs.copyFileSync(abs, path.join(tmp, path.basename(abs)));
    fs.writeFileSync(
      path.join(tmp, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${path.basename(abs)}\n`,
    );
    dir = tmp;
  }
  try {
    const text = execFileSync(kubectl.bin, ['kustomize', dir], { encoding: 'utf8', timeout: 60000, maxBuffer: 16 << 20 });
    return parseYamlStream(text, `kubectl kustomize ${target}`);
  } catch (err) {
    if (err.stderr) throw new Error(`kubectl kustomize ${target} failed:\n${err.stderr}`);
    throw err;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The kustomization directories under k8s/ that render on their own (Kustomizations, not Components). */
export function renderTargets() {
  const targets = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'kustomization.yaml') {
        const k = parseYaml(fs.readFileSync(p, 'utf8'), p);
        targets.push({ path: path.relative(REPO_ROOT, dir), kind: k.kind });
      }
    }
  };
  walk(K8S_DIR);
  targets.push({ path: 'k8s/examples/networkpolicy.yaml', kind: 'Manifest' });
  return targets.sort((a, b) => a.path.localeCompare(b.path));
}

/** The model class of kubernetes-models for apiVersion/kind, e.g. apps/v1 Deployment. */
export async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const spec = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  if (!fs.existsSync(path.join(K8S_TEST_DIR, 'node_modules', 'kubernetes-models'))) missingDeps('kubernetes-models');
  try {
    const mod = await import(spec);
    return mod[kind];
  } catch (err) {
    throw new Error(`no kubernetes-models schema for ${apiVersion} ${kind} (${spec}): ${err.message}`);
  }
}

/** Validates one object against its Kubernetes schema; throws with the path of the problem. */
export async function validateObject(obj) {
  const Model = await modelFor(obj.apiVersion, obj.kind);
  let o = obj;
  if (obj.kind === 'Secret' && obj.data) {
    // kustomize folds long base64 values over several lines; the API server's decoder (Go's
    // encoding/base64) skips CR and LF, the schema's "byte" format does not.
    o = { ...obj, data: Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, '')])) };
  }
  new Model(o).validate();
}

export const podSpecOf = (obj) => obj?.spec?.template?.spec;
export const findContainer = (list, name) => (list || []).find((c) => c.name === name);

/** The config text inside the ConfigMap cosmoseal-config (cosmoseal.yaml) of a rendering. */
export function cosmosealConfigText(objects) {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('cosmoseal-config'));
  return cm?.data?.['cosmoseal.yaml'] ?? null;
}

/** Duration string of the config ("20s", "250ms", "2m", plain ms) -> milliseconds. */
export function durationMs(v) {
  if (typeof v === 'number') return v;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) throw new Error(`not a duration: ${v}`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60000, h: 3600000, undefined: 1 }[m[2]];
}

/** Kubernetes quantity ("256Mi", "1", "100m", "1Gi") -> a number (bytes, or cores). */
export function quantity(v) {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(v));
  if (!m) throw new Error(`not a quantity: ${v}`);
  const f = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? f[m[2]] : 1);
}

/** cosmoseal size string ("96MiB", "4KiB", plain bytes) -> bytes. */
export function sizeBytes(v) {
  if (typeof v === 'number') return v;
  const m = /^(\d+)(B|KiB|MiB|GiB|TiB)?$/.exec(String(v).trim());
  if (!m) throw new Error(`not a size: ${v}`);
  return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, undefined: 1 }[m[2]];
}
