// A tiny YAML emitter for cosmoseal configs: block mappings and sequences, strings double-quoted
// with JSON escapes (valid YAML), numbers and booleans bare, short scalar lists in flow style.
// Enough for the config contract (DESIGN.md §6); not a general YAML library.

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(String(v));
}

const isScalar = (v) => v === null || v === undefined || typeof v !== 'object';

function emit(value, indent, out) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isScalar(item)) {
        out.push(`${pad}- ${scalar(item)}`);
      } else if (Array.isArray(item)) {
        out.push(`${pad}-`);
        emit(item, indent + 2, out);
      } else {
        const sub = [];
        emit(item, indent + 2, sub);
        if (sub.length === 0) out.push(`${pad}- {}`);
        else out.push(`${pad}- ${sub[0].slice(indent + 2)}`, ...sub.slice(1));
      }
    }
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (isScalar(v)) out.push(`${pad}${k}: ${scalar(v)}`);
    else if (Array.isArray(v) && v.length === 0) out.push(`${pad}${k}: []`);
    else if (Array.isArray(v) && v.every(isScalar)) out.push(`${pad}${k}: [${v.map(scalar).join(', ')}]`);
    else if (!Array.isArray(v) && Object.keys(v).length === 0) out.push(`${pad}${k}: {}`);
    else {
      out.push(`${pad}${k}:`);
      emit(v, indent + 2, out);
    }
  }
}

/** Serializes a plain object (mappings, sequences, scalars) to YAML text. */
export function toYaml(obj) {
  const out = [];
  emit(obj, 0, out);
  return `${out.join('\n')}\n`;
}
