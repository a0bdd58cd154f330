// One call to build the whole test stack in a fresh work dir: PKI, keys, the signature-checking
// upstream front (cosmosdb-server inside), optionally cosmoseal in front of it, and SDK clients.
// Each test file builds its own stack in before() and stops it in after().

import fs from 'node:fs';
import { makeWorkDir } from './paths.mjs';
import { createPki } from './pki.mjs';
import { randomKey } from './keys.mjs';
import { startFront } from './front.mjs';
import { startCosmoseal } from './cosmoseal.mjs';
import { proxyClient, directClient, closeClient } from './sdk.mjs';

/**
 * @param {object} [o]
 * @param {string} [o.name='stack'] work-dir prefix (tests/e2e/.work/<name>-<pid>-<rand>)
 * @param {string} [o.dir] use this directory instead (created if missing)
 * @param {boolean} [o.cosmoseal=true] start cosmoseal (false: front only, e.g. harness.test.mjs)
 * @param {Array<{name: string, key?: string, allow?: Array}>} [o.clients=[{name:'app'}]] keys are
 *   random unless given
 * @param {boolean} [o.tls=true] TLS on cosmoseal's listener
 * @param {object} [o.keys] @param {Array} [o.policies] @param {object} [o.extra]
 * @param {object} [o.listenExtra] @param {object} [o.upstreamExtra] @param {Record<string,string>} [o.env]
 *   passed to startCosmoseal
 * @param {object} [o.front] extra startFront options (rejectBadSignatures, advertise, injectThinClient)
 * @returns {Promise<Stack>}
 */
export async function startStack(o = {}) {
  const dir = o.dir ?? makeWorkDir(o.name ?? 'stack');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stack = new Stack(dir);
  try {
    stack.pki = createPki(dir);
    stack.accountKey = randomKey();
    stack.clients = (o.clients ?? [{ name: 'app' }]).map((c) => ({ ...c, key: c.key ?? randomKey() }));
    stack.clientKeys = Object.fromEntries(stack.clients.map((c) => [c.name, c.key]));
    stack.front = await startFront({
      pki: stack.pki,
      accountKey: stack.accountKey,
      clientKeys: stack.clientKeys,
      ...(o.front || {}),
    });
    if (o.cosmoseal !== false) {
      stack.proxy = await startCosmoseal({
        dir,
        front: stack.front,
        accountKey: stack.accountKey,
        pki: stack.pki,
        clients: stack.clients,
        tls: o.tls,
        keys: o.keys,
        policies: o.policies,
        extra: o.extra,
        listenExtra: o.listenExtra,
        upstreamExtra: o.upstreamExtra,
        env: o.env,
      });
    }
  } catch (err) {
    await stack.stop({ checkExit: false, keep: true }).catch(() => {});
    throw err;
  }
  return stack;
}

export class Stack {
  constructor(dir) {
    this.dir = dir;
    this._clients = [];
    this.front = null;
    this.proxy = null;
  }

  /** The app's SDK client through cosmoseal, with the named client's key (or `key`). */
  client(name = 'app', { key: k, ...o } = {}) {
    const key = k ?? this.clientKeys[name];
    if (!key) throw new Error(`no client named ${name}`);
    const c = proxyClient(this.proxy, key, o);
    this._clients.push(c);
    return c;
  }

  /** An SDK client straight to the upstream front with the real account key (bypasses cosmoseal). */
  direct(o = {}) {
    const c = directClient(this.front, o);
    this._clients.push(c);
    return c;
  }

  /** Closes SDK clients (idle keep-alive sockets too), so cosmoseal can stop promptly. */
  closeClients() {
    for (const c of this._clients.splice(0)) closeClient(c);
  }

  /**
   * Stops everything: clients, cosmoseal (SIGTERM, exit 0 asserted unless checkExit=false), front.
   * The work dir is removed unless `keep` or $E2E_KEEP_WORK is set.
   */
  async stop({ checkExit = true, keep = false } = {}) {
    this.closeClients();
    let err = null;
    if (this.proxy) {
      try {
        if (checkExit) await this.proxy.stop();
        else await this.proxy.kill();
      } catch (e) {
        err = e;
        await this.proxy.kill();
      }
    }
    if (this.front) await this.front.close();
    if (!keep && !err && !process.env.E2E_KEEP_WORK) fs.rmSync(this.dir, { recursive: true, force: true });
    if (err) throw err;
  }
}
