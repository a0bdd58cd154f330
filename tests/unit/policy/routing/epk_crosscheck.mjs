// Cross-check of cosmoseal's effective-partition-key hashing (policy/routing/epk.cc, through
// epk_tool) against the SDKs' OWN implementations: the JS SDK's hashing module from the installed
// @azure/cosmos (imported by file path: it is internal) and the Python SDK's
// azure.cosmos.partition_key (through epk_sdk_python.py in the SDK venv).
//
// ctest policy.epk_crosscheck (label integration). Missing Node modules or the Python venv make
// it FAIL with the command to run, never skip.
//
// Every key must give cosmoseal's EPK in at least one SDK, and any SDK that disagrees must do so
// for a documented reason (KNOWN below: where an SDK departs from the service's .NET/Java rules).
//
// Usage: node epk_crosscheck.mjs --tool <epk_tool> --cosmos <dir of @azure/cosmos> --python <venv python>

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function fail(msg) {
  console.error(`[epk-crosscheck] FAIL: ${msg}`);
  process.exit(1);
}

const tool = arg('--tool');
const cosmosDir = arg('--cosmos');
const python = arg('--python');
if (!tool || !existsSync(tool)) fail(`epk_tool not found (${tool}); build the tree first`);
const hashJs = cosmosDir && path.join(cosmosDir, 'dist/commonjs/utils/hashing/hash.js');
if (!hashJs || !existsSync(hashJs)) {
  fail(`@azure/cosmos hashing module not found at ${hashJs}: run ./scripts/install-deps.sh (tests/e2e node_modules)`);
}
if (!python || !existsSync(python)) {
  fail(`Python SDK venv not found (${python}): run ./scripts/install-deps.sh --sdks`);
}
const require = createRequire(import.meta.url);
const { hashPartitionKey } = require(hashJs);
const jsVersion = require(path.join(cosmosDir, 'package.json')).version;
const pyVersion = spawnSync(python, ['-c', 'import azure.cosmos; print(azure.cosmos.__version__)'], {
  encoding: 'utf8',
});
if (pyVersion.status !== 0) {
  fail(`azure-cosmos is not importable from ${python}: run ./scripts/install-deps.sh --sdks\n${pyVersion.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// Keys, as the header spells them (raw JSON text: "5.0", "-0" and escapes must survive as typed).

// A small deterministic PRNG, so that every run compares the same keys.
let seed = 0x2545f491;
function rand() {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
}
const pick = (arr) => arr[Math.floor(rand() * arr.length)];

const alphabet = ['a', 'Z', '0', ' ', '-', '_', '"', '\\', '/', '\n', 'é', 'ß', 'Ж', '中', '日', '한', 'ع', '😀', '𝄞', '🚀', '\u0001', '\u00ff', '\u2028', '\uffff'];
function randomString(maxLen) {
  const n = Math.floor(rand() * maxLen);
  let s = '';
  for (let k = 0; k < n; k++) s += pick(alphabet);
  return s;
}

const str = (s) => JSON.stringify(s);
const strings = [
  '', 'a', 'aa', 'redmond', 'partitionKey', 'tenant-0042', '123-45-6789', 'Ünïcödé', '日本語テキスト',
  'emoji 😀 here', '𝄞 clef', '🚀🚀🚀', 'quote " and \\ backslash', 'line\nbreak\ttab', '\u0000nul',
  'a'.repeat(99), 'a'.repeat(100), 'a'.repeat(101), 'a'.repeat(150), 'a'.repeat(1024),
  'a'.repeat(99) + '😀', 'a'.repeat(98) + '😀', 'a'.repeat(99) + '😀b',
  'é'.repeat(50), 'é'.repeat(51), 'é'.repeat(60), 'é'.repeat(100), '日'.repeat(34), '日'.repeat(33),
  '😀'.repeat(25), '😀'.repeat(26), '😀'.repeat(60), 'x'.repeat(95) + '中中中中中中',
];
const stringKeys = strings.map((s) => `[${str(s)}]`);
// The same values spelled with \u escapes (the JS SDK's header for non-ASCII is raw UTF-8; other
// clients escape): the EPK must not depend on the spelling.
stringKeys.push('["\\u00e9t\\u00E9"]', '["\\ud83d\\ude00"]', '["a\\/b"]', '["\\u0041"]');
for (let k = 0; k < 40; k++) stringKeys.push(`[${str(randomString(k < 30 ? 20 : 140))}]`);

const numberKeys = [
  '0', '-0', '-0.0', '5', '5.0', '5e0', '0.5E1', '5.5', '-5', '2', '131072', '0.5', '0.1', '3.14159',
  '123456789', '12313.1221', '1e300', '-1e300', '1E-300', '4.9e-324', '1.7976931348623157e308',
  '9007199254740992', '9007199254740993', '-9007199254740993', '9223372036854775807',
  '18446744073709551616', '-2147483648', '2147483647', '4294967295', '4294967296', '-1', '-128', '127',
  '1.5e10', '100', '1000000',
].map((n) => `[${n}]`);
const scalarKeys = ['[true]', '[false]', '[null]', '[{}]'];

const single = [...stringKeys, ...numberKeys, ...scalarKeys];

const component = () => {
  const r = rand();
  if (r < 0.5) return str(randomString(12) || 'k');
  if (r < 0.75) return pick(['0', '5', '5.0', '-7', '2.5', '1e300', '9007199254740993']);
  return pick(['true', 'false', 'null', '{}']);
};
const multi = [
  '["tenant-1","user-7","session-9"]', '["tenant-1","user-7"]', '["tenant-1"]',
  '["a",5,true]', '["a",5.0,true]', '[5,"a"]', '[null,{}]', '[{},{},{}]', '["😀","日本","é"]',
  `[${str('a'.repeat(150))},"b"]`, '["x",-0]',
];
for (let k = 0; k < 40; k++) {
  const n = 1 + Math.floor(rand() * 3);
  multi.push(`[${Array.from({ length: n }, component).join(',')}]`);
}

// ---------------------------------------------------------------------------------------------
// Where an SDK departs from the service's rules (the .NET and Java SDKs' PartitionKeyInternal,
// which cosmoseal follows), by SDK and mode. Each returns a reason, or null.

const utf16Truncated = (s) => s.slice(0, 100);
const utf8Len = (s) => Buffer.byteLength(s, 'utf8');
const values = (line) => JSON.parse(line);
const isIntLiteral = (t) => /^-?\d+$/.test(t);
const literals = (line) => line.slice(1, -1).split(',').map((t) => t.trim());

// A predicate gets the key, cosmoseal's EPK and the SDK's, and also checks the shape of the
// difference where it can (so a documented divergence cannot hide an unrelated bug).
const KNOWN = {
  js: {
    'hash-v1': (line, mine, got) => {
      const [v] = values(line);
      // NumberPartitionKeyComponent writes the last 7-bit group even when it is zero (0, 2,
      // 2^17, ...); the JS SDK's writeNumberForBinaryEncoding drops a "00" byte.
      if (typeof v === 'number' && mine === got + '00') {
        return 'JS drops the zero last byte of the V1 number encoding';
      }
      // StringPartitionKeyComponent keeps 101 bytes and no terminator when the truncated string is
      // over 100 UTF-8 bytes; the JS SDK tests the UTF-16 length (always <= 100 after truncation),
      // so it writes every byte and a terminator: cosmoseal's EPK is a prefix of the JS one.
      if (typeof v === 'string' && utf8Len(utf16Truncated(v)) > 100 && got.startsWith(mine)) {
        return 'JS tests the UTF-16 length, not the UTF-8 length, for the 100-byte V1 string cut';
      }
      return null;
    },
  },
  python: {
    'hash-v1': (line, mine, got) => {
      const [v] = values(line);
      const [lit] = literals(line);
      if (typeof v === 'number' && isIntLiteral(lit) && (v < 0 || v >= 2 ** 32 || Object.is(v, -0))) {
        return 'Python hashes a V1 integer as a UInt32 (wraps negatives and values >= 2^32)';
      }
      if (typeof v === 'string' && [...v].length !== v.length && v.length > 100) {
        return 'Python cuts V1 strings at 100 code points, not 100 UTF-16 units';
      }
      // _write_for_binary_encoding_v1 has no branch for None: the null marker (01) is missing.
      if (v === null && mine === got + '01') return 'Python omits the null component in the V1 encoding';
      return null;
    },
    'hash-v2': (line) => (literals(line).includes('-0') ? 'Python json.loads("-0") is the integer 0' : null),
    multihash: (line) => (literals(line).includes('-0') ? 'Python json.loads("-0") is the integer 0' : null),
  },
};

// ---------------------------------------------------------------------------------------------

function runLines(cmd, args, lines, what) {
  const r = spawnSync(cmd, args, { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) fail(`${what} failed: ${r.error ?? ''} ${r.stderr}`);
  const out = r.stdout.replace(/\n$/, '').split('\n');
  if (out.length !== lines.length) fail(`${what}: ${out.length} answers for ${lines.length} keys`);
  return out;
}

function jsEpks(mode, levels, lines) {
  const def = mode === 'multihash'
    ? { paths: Array.from({ length: levels }, (_, k) => `/p${k}`), kind: 'MultiHash', version: 2 }
    : { paths: ['/pk'], kind: 'Hash', version: mode === 'hash-v1' ? 1 : 2 };
  return lines.map((line) => {
    try {
      return hashPartitionKey(JSON.parse(line), def);
    } catch (e) {
      return `ERROR ${e.message}`;
    }
  });
}

const modes = [
  { mode: 'hash-v1', args: ['hash-v1'], keys: single },
  { mode: 'hash-v2', args: ['hash-v2'], keys: single },
  { mode: 'multihash', args: ['multihash', '3'], keys: multi, levels: 3 },
];

let compared = 0;
let failures = 0;
let onlyServiceRule = 0;
const agree = { js: 0, python: 0 };
const known = {};
const distinctKeys = new Set();
for (const { mode, args, keys, levels } of modes) {
  const ours = runLines(tool, args, keys, `epk_tool ${args.join(' ')}`);
  const theirs = {
    js: jsEpks(mode, levels, keys),
    python: runLines(python, [path.join(here, 'epk_sdk_python.py'), ...args], keys, 'the Python SDK'),
  };
  keys.forEach((line, i) => {
    distinctKeys.add(line);
    compared++;
    const mine = ours[i];
    if (mine.startsWith('ERROR')) {
      failures++;
      console.error(`[epk-crosscheck] ${mode} ${line}: cosmoseal refused it (${mine})`);
      return;
    }
    let anyAgrees = false;
    for (const sdk of ['js', 'python']) {
      const got = theirs[sdk][i];
      if (got === mine) {
        agree[sdk]++;
        anyAgrees = true;
        continue;
      }
      const reason = KNOWN[sdk]?.[mode]?.(line, mine, got);
      if (reason) {
        const k = `${sdk} ${mode}: ${reason}`;
        known[k] = (known[k] ?? 0) + 1;
      } else {
        failures++;
        console.error(`[epk-crosscheck] ${mode} ${line.slice(0, 120)}: cosmoseal ${mine} != ${sdk} ${got}`);
      }
    }
    // Both SDKs depart from the service here, each for a documented and shape-checked reason.
    if (!anyAgrees) onlyServiceRule++;
  });
}

console.log(`[epk-crosscheck] ${distinctKeys.size} distinct keys, ${compared} key/mode pairs compared with the JS SDK (@azure/cosmos ${jsVersion}) and the Python SDK (azure-cosmos ${pyVersion.stdout.trim()})`);
console.log(`[epk-crosscheck] identical: js ${agree.js}/${compared}, python ${agree.python}/${compared}`);
for (const [k, n] of Object.entries(known)) console.log(`[epk-crosscheck] known SDK divergence (${n}): ${k}`);
console.log(`[epk-crosscheck] keys where both SDKs depart from the .NET/Java rule (documented above): ${onlyServiceRule}`);
if (failures) fail(`${failures} mismatches`);
console.log('[epk-crosscheck] PASS');
