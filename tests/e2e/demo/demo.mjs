#!/usr/bin/env node
// cosmoseal demo: builds a throwaway world on loopback (test CA, keys, cosmosdb-server behind a
// signature-checking TLS front playing the real Cosmos account, cosmoseal in front of it), runs the
// unmodified sample app (demo/sample-app.mjs) through cosmoseal, and shows what happened from
// both sides. Exits non-zero if anything is not as expected.
//
//   node tests/e2e/demo/demo.mjs [--no-policy] [--no-color]
//   By default the sample field policy is configured (ssn deterministic; address and card numbers
//   randomized) with a keyring made by `cosmoseal keygen`; protected values become canaries that
//   must never reach the upstream. --no-policy runs the same app with no field policy.
// Work dir: tests/e2e/.work/demo/ (kept afterwards: config, keys, cosmoseal.log).

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWorkDir, cosmosealBin } from '../lib/paths.mjs';
import { startStack } from '../lib/stack.mjs';
import { runCosmoseal, requireBinary } from '../lib/cosmoseal.mjs';
import { track, waitExit } from '../lib/procs.mjs';
import { request } from '../lib/raw.mjs';
import { randomKey } from '../lib/keys.mjs';
import { accountEndpoints, withoutSystemProperties } from '../lib/cosmos-json.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!['--policy', '--no-policy', '--no-color', '--help', '-h'].includes(a)) {
    console.error(`demo: unknown option ${a} (try --help)`);
    process.exit(2);
  }
}
if (args.has('--help') || args.has('-h')) {
  console.log('usage: node tests/e2e/demo/demo.mjs [--no-policy] [--no-color]');
  process.exit(0);
}
// The field policy is on by default (the demo shows encryption at work); --no-policy shows the
// plain pass-through. --policy is still accepted.
const WITH_POLICY = !args.has('--no-policy');
const COLOR = process.stdout.isTTY && !process.env.NO_COLOR && !args.has('--no-color');
const WIDTH = Math.max(100, Math.min(process.stdout.columns || 120, 180));

// ---- presentation ---------------------------------------------------------------------------
const paint = (code) => (s) => (COLOR ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const yellow = paint('33');
const cyan = paint('36');

const results = [];
function check(ok, label, detail = '') {
  results.push({ ok, label });
  console.log(`  ${ok ? green('✓') : red('✗')} ${label}${detail ? dim(`  ${detail}`) : ''}`);
  return ok;
}
function info(s) {
  console.log(`  ${s}`);
}
let stepNo = 0;
function section(title) {
  stepNo++;
  console.log(`\n${bold(cyan(`${stepNo}. ${title}`))}`);
}

function clip(s, w) {
  return s.length <= w ? s : `${s.slice(0, Math.max(0, w - 1))}…`;
}

/** Two documents side by side, aligned per top-level property; differing rows are marked. */
function sideBySide(leftTitle, left, rightTitle, right) {
  const colW = Math.floor((WIDTH - 7) / 2);
  const out = [];
  const row = (l, r, mark) => {
    const lc = clip(l, colW);
    const rc = clip(r, colW);
    const pad = ' '.repeat(Math.max(0, colW - lc.length));
    out.push(`  ${mark === '≠' ? yellow(lc) : lc}${pad} ${mark === '≠' ? yellow('≠') : dim('│')} ${mark === '≠' ? yellow(rc) : rc}`);
  };
  row(leftTitle, rightTitle, '│');
  row('─'.repeat(colW), '─'.repeat(colW), '│');
  const keys = [...new Set([...Object.keys(left || {}), ...Object.keys(right || {})])];
  const block = (doc, k) => (doc && k in doc ? `"${k}": ${JSON.stringify(doc[k], null, 2)}`.split('\n') : []);
  row('{', '{', '│');
  const comma = (doc, k, lines) => {
    const ks = Object.keys(doc || {});
    if (lines.length && ks.indexOf(k) < ks.length - 1) lines[lines.length - 1] += ',';
    return lines;
  };
  for (const k of keys) {
    const l = comma(left, k, block(left, k));
    const r = comma(right, k, block(right, k));
    const n = Math.max(l.length, r.length);
    for (let i = 0; i < n; i++) {
      const a = l[i] === undefined ? '' : `  ${l[i]}`;
      const b = r[i] === undefined ? '' : `  ${r[i]}`;
      row(a, b, a === b ? '│' : '≠');
    }
  }
  row('}', '}', '│');
  console.log(out.join('\n'));
}

const origin = (u) => {
  try {
    return new URL(u).origin;
  } catch {
    return String(u);
  }
};

// ---- the sample policy (used with --policy) -------------------------------------------------
const POLICIES = [
  {
    database: 'shop',
    container: 'customers',
    fields: [
      { path: '/ssn', mode: 'deterministic', key: 'pii' },
      { path: '/address', mode: 'randomized', key: 'pii' },
      { path: '/cards/*/number', mode: 'randomized', key: 'pii' },
    ],
  },
];

/** Runs the sample app as its own process; resolves {code, lines, result}. */
async function runSampleApp(endpoint, key, caFile) {
  const child = track(
    spawn(process.execPath, [path.join(HERE, 'sample-app.mjs')], {
      cwd: path.resolve(HERE, '..'),
      env: { ...process.env, COSMOS_ENDPOINT: endpoint, COSMOS_KEY: key, NODE_EXTRA_CA_CERTS: caFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const out = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => out.push(c));
  const exit = await waitExit(child, 30000);
  if (!exit) child.kill('SIGKILL');
  const lines = Buffer.concat(out).toString('utf8').split('\n').filter(Boolean);
  const resultLine = lines.find((l) => l.startsWith('RESULT '));
  return {
    code: exit ? exit.code : null,
    lines: lines.filter((l) => !l.startsWith('RESULT ')),
    result: resultLine ? JSON.parse(resultLine.slice(7)) : null,
  };
}

async function main() {
  console.log(bold('cosmoseal demo: an unmodified Cosmos DB app, field encryption in a sidecar'));
  console.log(dim(`  ${WITH_POLICY ? 'field policy ON (--no-policy to turn it off)' : 'no field policy (--no-policy)'}`));

  requireBinary();
  const dir = makeWorkDir('demo', { exact: true });

  section('A throwaway world on loopback');
  let keys;
  if (WITH_POLICY) {
    keys = { keyring_file: path.join(dir, 'keyring.yaml'), kek_file: path.join(dir, 'kek') };
    const kg = await runCosmoseal(['keygen', '--keyring', keys.keyring_file, '--kek-file', keys.kek_file, '--key', 'pii']);
    if (!check(kg.code === 0, 'cosmoseal keygen: KEK and keyring with key "pii"', kg.code === 0 ? '' : `${kg.stdout}${kg.stderr}`.trim())) {
      throw new Error('keygen failed');
    }
  }
  const t0 = Date.now();
  const stack = await startStack({ dir, keys, policies: WITH_POLICY ? POLICIES : undefined });
  let exitCode = 1;
  try {
    const { front, proxy } = stack;
    info(`test CA + certificates for localhost     ${dim(stack.pki.dir)}`);
    info(`"Cosmos DB account" (cosmosdb-server behind a TLS front that checks every signature with the real account key)`);
    info(`    ${front.url}   ${dim(`(advertises a "regional" endpoint ${front.regionalUrl} in discovery, like a real account)`)}`);
    info(`cosmoseal ${dim(cosmosealBin())}`);
    info(`    ${proxy.url}   ${dim(`admin ${proxy.adminUrl}, ready in ${Date.now() - t0} ms, config ${proxy.configPath}`)}`);
    info(`the app gets: endpoint ${bold(proxy.url)} and a client key ${dim('(the account key never leaves cosmoseal)')}`);

    const canaries = WITH_POLICY ? ['078-05-1120', '12 Analytical Engine Way', '4111111111111111', '5500005555555559'] : [];
    for (const c of canaries) front.addCanary(c);

    section('The sample app (plain @azure/cosmos code: only endpoint + key point at cosmoseal)');
    const app = await runSampleApp(proxy.url, stack.clientKeys.app, stack.pki.caCert);
    for (const l of app.lines) info(`${dim('app │')} ${l}`);
    check(app.code === 0 && app.result, 'the app ran unchanged and got what it wrote', app.code === 0 ? '' : `exit ${app.code}`);
    if (!app.result) throw new Error('the sample app produced no result');

    section('What the Cosmos account received');
    const seen = front.proxiedRequests;
    for (const r of seen) {
      const status = r.response ? r.response.status : '-';
      info(`${dim(String(r.seq).padStart(3))} ${r.method.padEnd(6)} ${clip(decodeURIComponent(r.url), 60).padEnd(60)} ${String(status).padEnd(4)} ` +
        `${r.verified ? green('signed with the account key') : red(`signature ${r.verifyReason}`)}`);
    }
    check(seen.length > 0 && seen.every((r) => r.verified), `all ${seen.length} requests re-signed by cosmoseal with the real account key`);
    check(seen.every((r) => r.listener === 'main') && front.bytesByListener.regional === 0,
      'all came from cosmoseal: nothing reached the advertised regional endpoint directly');
    const clientKeySigned = seen.filter((r) => r.signedWith && r.signedWith.startsWith('key:'));
    check(clientKeySigned.length === 0, 'the client key never reached the account');

    const acct = seen.find((r) => r.method === 'GET' && r.url === '/' && r.response);
    const upstreamAdvertised = acct ? [...new Set(accountEndpoints(JSON.parse(acct.response.body.toString('utf8'))))] : [];
    const told = await request({ url: proxy.url, key: stack.clientKeys.app, ca: stack.pki.ca });
    const appTold = told.json ? [...new Set(accountEndpoints(told.json))] : [];
    info(`discovery: the account advertised  ${upstreamAdvertised.join(', ') || '(no GET / seen)'}`);
    info(`           the app was told        ${appTold.join(', ')}`);
    check(appTold.length > 0 && appTold.every((e) => origin(e) === origin(proxy.url)), 'discovery endpoints rewritten to cosmoseal');
    check(told.json && !Object.keys(told.json).some((k) => k.toLowerCase().startsWith('thinclient')), 'thin-client (Gateway 2.0) locations removed');

    section('As the app sees it  vs  as stored in Cosmos');
    const direct = stack.direct();
    const { resource: stored } = await direct.database('shop').container('customers').item('cust-1001', 'cust-1001').read();
    sideBySide('as the app sees it (read through cosmoseal)', app.result.readBack, 'as stored in Cosmos (read directly, real key)', withoutSystemProperties(stored));
    if (WITH_POLICY) {
      for (const p of ['ssn', 'address', 'cards']) {
        check(JSON.stringify(stored?.[p]) !== JSON.stringify(app.result.readBack[p]), `"${p}" is stored encrypted`);
      }
      check(JSON.stringify(stored?.name) === JSON.stringify(app.result.readBack.name), 'unprotected fields are stored as written');
      check(front.canaryHits.length === 0, `no protected value ever reached the account (${canaries.length} canaries watched)`);
    } else {
      check(JSON.stringify(withoutSystemProperties(stored)) === JSON.stringify(app.result.readBack), 'stored exactly as written (no field policy configured)');
    }

    section('What cosmoseal refuses');
    const wrong = stack.client('app', { key: randomKey() });
    const mark = await front.quiesce();
    let wrongErr = null;
    try {
      await wrong.databases.readAll().fetchAll();
    } catch (err) {
      wrongErr = err;
    }
    const wrongBytes = front.since(mark).bytes;
    check(wrongErr && wrongErr.code === 401, 'an app with a wrong client key gets 401', wrongErr ? `${wrongErr.code}: ${clip(String(wrongErr.message).split('\n')[0], 80)}` : 'it succeeded!');
    check(wrongBytes === 0, 'and the account received 0 bytes', `${wrongBytes} bytes`);
    const addr = await request({
      url: `${proxy.url}addresses/?$resolveFor=dbs%2Fshop%2Fcolls%2Fcustomers%2Fdocs&$filter=protocol%20eq%20rntbd`,
      key: stack.clientKeys.app,
      ca: stack.pki.ca,
    });
    check(addr.status === 403 && addr.headers['x-cosmoseal-detail'] === 'discovery.direct_mode_refused',
      'Direct mode (GET /addresses) gets 403', `${addr.status} ${addr.headers['x-cosmoseal-detail'] ?? ''}: ${clip(addr.json?.message ?? addr.text, 90)}`);

    front.assertClean();
    exitCode = results.every((r) => r.ok) ? 0 : 1;
  } finally {
    stack.closeClients();
    try {
      await stack.stop({ keep: true });
      check(true, 'cosmoseal stopped cleanly on SIGTERM (exit 0)');
    } catch (err) {
      check(false, 'cosmoseal stopped cleanly on SIGTERM', err.message.split('\n')[0]);
      exitCode = 1;
    }
  }
  const failed = results.filter((r) => !r.ok);
  console.log(`\n${failed.length === 0 ? green(bold('All checks passed.')) : red(bold(`${failed.length} check(s) failed:`))}`);
  for (const f of failed) console.log(`  ${red('✗')} ${f.label}`);
  console.log(dim(`Work dir kept: ${dir}`));
  return failed.length === 0 ? exitCode : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`\n${red(bold('demo failed:'))} ${err.stack || err.message}`);
    process.exit(1);
  },
);
