// Cosmos partial document update (patch): add, set, replace, remove, incr, move, applied in order
// to a copy of the document; any failing operation fails the whole patch (400), as the service does.

export class PatchError extends Error {}

function parsePath(path) {
  if (typeof path !== 'string' || !path.startsWith('/') || path === '/') throw new PatchError(`invalid patch path '${path}'`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc, segs, create = false) {
  let cur = doc;
  for (const s of segs.slice(0, -1)) {
    const next = Array.isArray(cur) ? cur[Number(s)] : cur[s];
    if (next === undefined || next === null || typeof next !== 'object') {
      if (!create) throw new PatchError(`path segment '${s}' does not exist`);
      cur[s] = {};
      cur = cur[s];
    } else cur = next;
  }
  return cur;
}

const SYSTEM = new Set(['id', '_rid', '_self', '_etag', '_ts', '_attachments']);

/** Applies operations to a deep copy of `doc`; the partition-key paths must not change. */
export function applyPatch(doc, operations, pkPaths = []) {
  if (!Array.isArray(operations) || operations.length === 0) throw new PatchError('a patch needs at least one operation');
  if (operations.length > 10) throw new PatchError('a patch has at most 10 operations');
  const out = structuredClone(doc);
  for (const op of operations) {
    const segs = parsePath(op.path);
    if (SYSTEM.has(segs[0]) && segs.length === 1) throw new PatchError(`'${op.path}' cannot be patched`);
    if (pkPaths.some((p) => p === op.path || op.path.startsWith(`${p}/`))) throw new PatchError('the partition key cannot be patched');
    const last = segs[segs.length - 1];
    switch (op.op) {
      case 'add': {
        const parent = parentOf(out, segs);
        if (Array.isArray(parent)) {
          if (last === '-') parent.push(op.value);
          else {
            const i = Number(last);
            if (!(i >= 0 && i <= parent.length)) throw new PatchError(`index ${last} out of range`);
            parent.splice(i, 0, op.value);
          }
        } else parent[last] = op.value;
        break;
      }
      case 'set': {
        const parent = parentOf(out, segs, true);
        if (Array.isArray(parent)) parent[Number(last)] = op.value;
        else parent[last] = op.value;
        break;
      }
      case 'replace': {
        const parent = parentOf(out, segs);
        if (!(last in parent)) throw new PatchError(`'${op.path}' does not exist`);
        parent[last] = op.value;
        break;
      }
      case 'remove': {
        const parent = parentOf(out, segs);
        if (!(last in parent)) throw new PatchError(`'${op.path}' does not exist`);
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
        break;
      }
      case 'incr': {
        const parent = parentOf(out, segs, true);
        const cur = parent[last];
        if (typeof op.value !== 'number') throw new PatchError('incr needs a number');
        if (cur === undefined) parent[last] = op.value;
        else if (typeof cur !== 'number') throw new PatchError(`'${op.path}' is not a number`);
        else parent[last] = cur + op.value;
        break;
      }
      case 'move': {
        const from = parsePath(op.from);
        const fp = parentOf(out, from);
        const fl = from[from.length - 1];
        if (!(fl in fp)) throw new PatchError(`'${op.from}' does not exist`);
        const v = fp[fl];
        delete fp[fl];
        parentOf(out, segs, true)[last] = v;
        break;
      }
      default:
        throw new PatchError(`unknown patch operation '${op.op}'`);
    }
  }
  return out;
}
