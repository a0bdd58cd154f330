// Unknown-field check for rendered objects: the JSON schemas in kubernetes-models allow extra
// properties, so a typo such as `readOnlyRootFileSystem` would validate and be silently dropped by
// the API server (or refused by `kubectl apply --validate=strict`). This walks each object along
// the TypeScript declarations that kubernetes-models ships (one interface per .d.ts, properties
// written `"name"?: Type;`, types imported from sibling files), and reports every property the
// Kubernetes API does not define.

import fs from 'node:fs';
import path from 'node:path';
import { K8S_TEST_DIR } from './kube.mjs';

const NM = path.join(K8S_TEST_DIR, 'node_modules');
const cache = new Map();

function resolveImport(fromFile, spec) {
  const base = spec.startsWith('.') ? path.resolve(path.dirname(fromFile), spec) : path.join(NM, spec);
  return `${base}.d.ts`;
}

/** {props: Map(name -> type text), imports: Map(identifier -> .d.ts file)} or null (an alias). */
function loadInterface(file) {
  if (cache.has(file)) return cache.get(file);
  let result = null;
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    const imports = new Map();
    for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
      for (const name of m[1].split(',').map((x) => x.trim())) imports.set(name, resolveImport(file, m[2]));
    }
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '');
    const body = /^export interface \w+(?: extends [^{]+)? \{\n([\s\S]*?)^\}/m.exec(code);
    if (body) {
      const props = new Map();
      // Properties may span lines ("labels"?: {\n [key: string]: string;\n };): one line first.
      const flat = body[1].replace(/\s+/g, ' ');
      for (const m of flat.matchAll(/"([^"]+)"\??: ((?:\{[^{}]*\}|[^;{}])+);/g)) props.set(m[1], m[2].trim());
      result = { props, imports };
    }
  }
  cache.set(file, result);
  return result;
}

function checkValue(value, type, iface, where, problems) {
  if (value === null || value === undefined) return;
  let t = type.trim();
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => checkValue(v, arr[1], iface, `${where}[${i}]`, problems));
    return;
  }
  const map = /^\{\s*\[key: string\]: (.+?);?\s*\}$/.exec(t);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) checkValue(v, map[1], iface, `${where}.${k}`, problems);
    return;
  }
  t = t.replace(/\s*\|\s*undefined$/, '');
  if (iface.imports.has(t) && typeof value === 'object' && !Array.isArray(value)) {
    checkObject(value, iface.imports.get(t), where, problems);
  }
}

function checkObject(obj, file, where, problems) {
  const iface = loadInterface(file);
  if (!iface) return; // a type alias (IntOrString, Quantity, ...) or an opaque type
  for (const [k, v] of Object.entries(obj)) {
    const type = iface.props.get(k);
    if (type === undefined) {
      problems.push(`${where}.${k}: unknown field (not in ${path.basename(file, '.d.ts')})`);
      continue;
    }
    checkValue(v, type, iface, `${where}.${k}`, problems);
  }
}

/** Every unknown field of a rendered object, as "Kind/name.path.to.field: ..." strings. */
export function unknownFields(obj) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const file = path.join(NM, 'kubernetes-models', ...(group ? [group, version] : [version]), `${obj.kind}.d.ts`);
  if (!fs.existsSync(file)) return [`${obj.kind}/${obj.metadata?.name}: no declarations for ${obj.apiVersion} ${obj.kind}`];
  const problems = [];
  checkObject(obj, file, `${obj.kind}/${obj.metadata?.name}`, problems);
  return problems;
}
