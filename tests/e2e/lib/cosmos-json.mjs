// Small helpers over Cosmos JSON shapes, shared by tests and the demo.

/** Every value of every `databaseAccountEndpoint` key anywhere in a JSON value (GET / body). */
export function accountEndpoints(v, out = []) {
  if (Array.isArray(v)) v.forEach((x) => accountEndpoints(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'databaseAccountEndpoint') out.push(x);
      else accountEndpoints(x, out);
    }
  }
  return out;
}

/** A document without its system properties (`_rid`, `_etag`, `_ts`, ...). */
export function withoutSystemProperties(doc) {
  if (!doc) return doc;
  return Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));
}
