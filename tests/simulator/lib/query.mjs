// Queries: a top-level reading of Cosmos SQL (enough to plan cross-partition queries), the query
// plan the gateway answers to x-ms-cosmos-is-query-plan-request (the PartitionedQueryExecutionInfo
// shape, version 2, with the rewritten per-range query), and execution within one range.
// Expressions are evaluated by @zeit/cosmosdb-query (the engine inside @vercel/cosmosdb-server);
// what it lacks and plans need (DISTINCT, OFFSET/LIMIT, the aggregate wrappers of rewritten
// queries) is handled here around it.

import zeitQuery from '@zeit/cosmosdb-query';

const query = zeitQuery.default ?? zeitQuery;

export class QueryError extends Error {
  constructor(message) {
    super(message);
    this.code = 'BadRequest';
  }
}

const KEYWORDS = ['SELECT', 'DISTINCT', 'TOP', 'VALUE', 'FROM', 'WHERE', 'ORDER', 'GROUP', 'OFFSET', 'LIMIT', 'BY', 'JOIN'];

/** Top-level words (outside strings and brackets) with their offsets. */
function topLevelWords(text) {
  const words = [];
  let depth = 0;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (depth === 0 && /[A-Za-z_]/.test(ch) && (i === 0 || !/[A-Za-z0-9_.@$]/.test(text[i - 1]))) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j])) j++;
      const w = text.slice(i, j).toUpperCase();
      if (KEYWORDS.includes(w)) words.push({ w, at: i, end: j });
      i = j - 1;
    }
  }
  return words;
}

/** Splits on top-level commas. */
export function splitTopLevel(text, sep = ',') {
  const parts = [];
  let depth = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (depth === 0 && ch === sep) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== '');
}

function numberArg(text, params) {
  const t = text.trim();
  if (/^@\w+$/.test(t)) {
    const p = (params || []).find((x) => x.name === t);
    if (!p || typeof p.value !== 'number') throw new QueryError(`parameter ${t} must be a number`);
    return p.value;
  }
  if (!/^\d+$/.test(t)) throw new QueryError(`expected a number, got '${t}'`);
  return Number(t);
}

const AGG = { COUNT: 'Count', SUM: 'Sum', MIN: 'Min', MAX: 'Max', AVG: 'Average' };

/** A whole-expression aggregate: {fn, arg} or null. */
export function aggregateOf(expr) {
  const m = /^(COUNT|SUM|MIN|MAX|AVG)\s*\(([\s\S]*)\)$/i.exec(expr.trim());
  if (!m) return null;
  // "COUNT(a) + COUNT(b)" also matches the regex; accept only one balanced call.
  let depth = 0;
  const inner = m[2];
  for (const ch of inner) {
    if (ch === '(') depth++;
    if (ch === ')' && --depth < 0) return null;
  }
  return { fn: m[1].toUpperCase(), arg: inner.trim() };
}

/**
 * Reads the clauses of a SELECT at top level.
 * @returns {{distinct: boolean, top: number|null, value: boolean, select: string, from: string,
 *   alias: string, where: string|null, orderBy: {expr: string, order: string}[], groupBy: string|null,
 *   offset: number|null, limit: number|null}}
 */
export function analyze(text, params = []) {
  const q = text.trim();
  const words = topLevelWords(q);
  if (!words.length || words[0].w !== 'SELECT' || words[0].at !== 0) throw new QueryError(`Syntax error: a query starts with SELECT: ${q}`);
  const find = (w, from = 0) => words.find((x) => x.w === w && x.at >= from);
  const fromW = find('FROM');
  const out = { distinct: false, top: null, value: false, orderBy: [], groupBy: null, where: null, offset: null, limit: null };
  let head = q.slice(words[0].end, fromW ? fromW.at : q.length).trim();
  for (;;) {
    const m = /^(DISTINCT|TOP|VALUE)\b\s*/i.exec(head);
    if (!m) break;
    const kw = m[1].toUpperCase();
    head = head.slice(m[0].length);
    if (kw === 'DISTINCT') out.distinct = true;
    else if (kw === 'VALUE') out.value = true;
    else {
      const n = /^(\d+|@\w+)\s*/.exec(head);
      if (!n) throw new QueryError('Syntax error near TOP');
      out.top = numberArg(n[1], params);
      head = head.slice(n[0].length);
    }
  }
  out.select = head.trim();
  if (!fromW) {
    out.from = '';
    out.alias = 'root';
    return out;
  }
  const clauseStarts = words.filter((x) => x.at > fromW.at && ['WHERE', 'ORDER', 'GROUP', 'OFFSET'].includes(x.w));
  const endOf = (w) => {
    const next = clauseStarts.find((x) => x.at > w.at && x !== w);
    return next ? next.at : q.length;
  };
  out.from = q.slice(fromW.end, clauseStarts.length ? clauseStarts[0].at : q.length).trim();
  const fromWords = out.from.split(/\s+/);
  out.alias = fromWords.length > 1 && !/^(JOIN|IN)$/i.test(fromWords[1]) ? fromWords[fromWords[1].toUpperCase() === 'AS' ? 2 : 1] : fromWords[0];
  for (const c of clauseStarts) {
    const body = q.slice(c.end, endOf(c)).trim();
    if (c.w === 'WHERE') out.where = body;
    else if (c.w === 'ORDER' || c.w === 'GROUP') {
      const rest = body.replace(/^BY\b/i, '').trim();
      if (c.w === 'GROUP') out.groupBy = rest;
      else {
        out.orderBy = splitTopLevel(rest).map((item) => {
          const m = /^([\s\S]*?)\s+(ASC|DESC)$/i.exec(item);
          return m ? { expr: m[1].trim(), order: m[2].toUpperCase() === 'DESC' ? 'Descending' : 'Ascending' } : { expr: item, order: 'Ascending' };
        });
      }
    } else if (c.w === 'OFFSET') {
      const m = /^(\d+|@\w+)\s+LIMIT\s+(\d+|@\w+)$/i.exec(body);
      if (!m) throw new QueryError('Syntax error: OFFSET <n> LIMIT <m>');
      out.offset = numberArg(m[1], params);
      out.limit = numberArg(m[2], params);
    }
  }
  return out;
}

function selectClause(a, { distinct = a.distinct, top = a.top, value = a.value, select = a.select } = {}) {
  return `SELECT ${distinct ? 'DISTINCT ' : ''}${top != null ? `TOP ${top} ` : ''}${value ? 'VALUE ' : ''}${select}`;
}

function tail(a, { where = a.where, orderBy = a.orderBy, offsetLimit } = {}) {
  let s = a.from ? ` FROM ${a.from}` : '';
  if (where) s += ` WHERE ${where}`;
  if (a.groupBy) s += ` GROUP BY ${a.groupBy}`;
  if (orderBy.length) s += ` ORDER BY ${orderBy.map((o) => `${o.expr} ${o.order === 'Descending' ? 'DESC' : 'ASC'}`).join(', ')}`;
  if (offsetLimit) s += ` OFFSET ${offsetLimit[0]} LIMIT ${offsetLimit[1]}`;
  return s;
}

/** The payload expression of an ORDER BY rewrite: what the user's SELECT list builds. */
function payloadExpression(a) {
  if (a.value) return a.select;
  if (a.select === '*') return a.alias;
  const props = splitTopLevel(a.select).map((item) => {
    const m = /^([\s\S]*?)\s+AS\s+([A-Za-z_]\w*)$/i.exec(item);
    if (m) return `"${m[2]}": ${m[1]}`;
    const last = /([A-Za-z_]\w*)\s*$/.exec(item);
    return `"${last ? last[1] : '$1'}": ${item}`;
  });
  return `{${props.join(', ')}}`;
}

export const ORDER_BY_FILTER = '{documentdb-formattableorderbyquery-filter}';

/** True when a query over several ranges needs the client to merge (i.e. a query plan). */
export function needsPlan(a) {
  return a.distinct || a.top != null || a.offset != null || a.orderBy.length > 0 || a.groupBy != null || (a.value && aggregateOf(a.select) != null);
}

/**
 * The query plan for `spec` (PartitionedQueryExecutionInfo, version 2).
 * @param {{query: string, parameters?: Array}} spec
 */
export function queryPlan(spec) {
  const a = analyze(spec.query, spec.parameters);
  if (a.groupBy) throw new QueryError('GROUP BY is not modelled by the simulator');
  const agg = a.value ? aggregateOf(a.select) : null;
  if (!a.value && splitTopLevel(a.select).some((s) => aggregateOf(s.replace(/\s+AS\s+\w+$/i, '')))) {
    throw new QueryError('Aggregates without VALUE (or with GROUP BY) are not modelled by the simulator');
  }
  const offsetLimit = a.offset != null ? [0, a.offset + a.limit] : undefined;
  let rewritten;
  if (agg) {
    const arg = agg.arg;
    let item;
    if (agg.fn === 'AVG') item = `{"item": {"sum": SUM(${arg}), "count": COUNT(${arg})}}`;
    else if (agg.fn === 'MIN' || agg.fn === 'MAX') item = `{"item": ${agg.fn}(${arg}), "item2": {"${agg.fn.toLowerCase()}": ${agg.fn}(${arg}), "count": COUNT(${arg})}}`;
    else item = `{"item": ${agg.fn}(${arg})}`;
    rewritten = `SELECT VALUE [${item}]${tail(a, { offsetLimit })}`;
  } else if (a.orderBy.length) {
    const items = a.orderBy.map((o) => `{"item": ${o.expr}}`).join(', ');
    const where = a.where ? `(${ORDER_BY_FILTER}) AND (${a.where})` : `(${ORDER_BY_FILTER})`;
    rewritten =
      `SELECT ${a.top != null ? `TOP ${a.top} ` : ''}${a.alias}._rid, [${items}] AS orderByItems, ${payloadExpression(a)} AS payload` +
      tail(a, { where, offsetLimit });
  } else {
    rewritten = selectClause(a) + tail(a, { offsetLimit });
  }
  return {
    partitionedQueryExecutionInfoVersion: 2,
    queryInfo: {
      distinctType: a.distinct ? (a.orderBy.length ? 'Ordered' : 'Unordered') : 'None',
      top: a.top,
      offset: a.offset,
      limit: a.limit,
      orderBy: a.orderBy.map((o) => o.order),
      orderByExpressions: a.orderBy.map((o) => o.expr),
      groupByExpressions: [],
      groupByAliases: [],
      aggregates: agg ? [AGG[agg.fn]] : [],
      groupByAliasToAggregateType: {},
      rewrittenQuery: rewritten,
      hasSelectValue: a.value,
      dCountInfo: null,
      hasNonStreamingOrderBy: false,
    },
    queryRanges: [{ min: '', max: 'FF', isMinInclusive: true, isMaxInclusive: false }],
  };
}

function stableKey(v) {
  if (v === undefined) return 'u';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableKey).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableKey(v[k])}`)
    .join(',')}}`;
}

function run(text, docs, params) {
  try {
    return query(text).exec(docs, { parameters: params }).result;
  } catch (e) {
    throw new QueryError(`Syntax or evaluation error in '${text}': ${e.message}`);
  }
}

function typeRank(v) {
  if (v === undefined) return 0;
  if (v === null) return 1;
  if (typeof v === 'boolean') return 2;
  if (typeof v === 'number') return 3;
  if (typeof v === 'string') return 4;
  return 5;
}

function compute(fn, values) {
  const defined = values.filter((v) => v !== undefined);
  switch (fn) {
    case 'COUNT':
      return defined.length;
    case 'SUM':
      return defined.every((v) => typeof v === 'number') ? defined.reduce((s, v) => s + v, 0) : undefined;
    case 'MIN':
    case 'MAX': {
      let best;
      for (const v of defined) {
        if (typeRank(v) > 4) return undefined;
        if (best === undefined) best = v;
        else {
          const c = typeRank(v) - typeRank(best) || (v < best ? -1 : v > best ? 1 : 0);
          if ((fn === 'MIN' && c < 0) || (fn === 'MAX' && c > 0)) best = v;
        }
      }
      return best;
    }
    default:
      throw new QueryError(`aggregate ${fn} not modelled`);
  }
}

const AGG_CALL = /\b(COUNT|SUM|MIN|MAX|AVG)\s*\(/gi;

/** Replaces each aggregate call in `expr` by its value over `rows` of the FROM/WHERE. */
function evaluateAggregates(a, docs, params) {
  const select = a.select;
  const calls = [];
  let m;
  AGG_CALL.lastIndex = 0;
  while ((m = AGG_CALL.exec(select))) {
    let depth = 1;
    let j = m.index + m[0].length;
    for (; j < select.length && depth > 0; j++) {
      if (select[j] === '(') depth++;
      else if (select[j] === ')') depth--;
    }
    calls.push({ start: m.index, end: j, fn: m[1].toUpperCase(), arg: select.slice(m.index + m[0].length, j - 1).trim() });
    AGG_CALL.lastIndex = j;
  }
  let out = '';
  let at = 0;
  const bound = [];
  for (const c of calls) {
    const values = run(`SELECT VALUE ${c.arg}${tail(a, { orderBy: [] })}`, docs, params);
    const v = c.fn === 'AVG' ? (values.length ? values.reduce((s, x) => s + x, 0) / values.length : undefined) : compute(c.fn, values);
    const name = `@__agg${bound.length}`;
    bound.push({ name, value: v });
    out += select.slice(at, c.start) + name;
    at = c.end;
  }
  out += select.slice(at);
  // Evaluate the outer expression once, over a single empty row.
  const r = run(`SELECT VALUE ${out} FROM r`, [{ _rid: 'x' }], [...(params || []), ...bound]);
  // Undefined aggregates (e.g. MIN over nothing) vanish from objects, as in the service.
  return r;
}

/**
 * Runs a query over the documents of one range (or one logical partition).
 * @returns {unknown[]} every result row, in order (the caller pages them)
 */
export function execute(spec, docs) {
  const params = spec.parameters || [];
  const a = analyze(spec.query, params);
  if (a.groupBy) throw new QueryError('GROUP BY is not modelled by the simulator');
  AGG_CALL.lastIndex = 0;
  if (a.value && AGG_CALL.test(a.select)) return evaluateAggregates(a, docs, params);
  let text = selectClause(a, { distinct: false, top: a.distinct || a.offset != null ? null : a.top }) + tail(a);
  let rows = run(text, docs, params);
  if (a.distinct) {
    const seen = new Set();
    rows = rows.filter((r) => {
      const k = stableKey(r);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }
  if (a.offset != null) rows = rows.slice(a.offset, a.offset + a.limit);
  if (a.top != null && (a.distinct || a.offset != null)) rows = rows.slice(0, a.top);
  return rows;
}
