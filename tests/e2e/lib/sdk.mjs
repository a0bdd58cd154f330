// CosmosClient factories: the app's view (through cosmoseal, with a client key) and the tests'
// direct view of the upstream (the front, with the real account key, bypassing cosmoseal on
// purpose to read what is really stored).

import https from 'node:https';
import { cosmos } from './deps.mjs';
import { ORIGIN_HEADER } from './front.mjs';

const { CosmosClient } = cosmos;
const agents = new WeakMap();

/**
 * A client as an app would configure it: endpoint + key, nothing else cosmoseal-specific.
 * For an https endpoint an https.Agent trusting `ca` is passed (the SDK's `agent` option); for an
 * http:// endpoint no agent is passed (the SDK then allows the insecure connection by itself;
 * with a custom agent it would refuse http).
 * @param {{endpoint: string, key: string, ca?: Buffer|string, keepAlive?: boolean,
 *          connectionPolicy?: object, defaultHeaders?: object, userAgentSuffix?: string}} o
 */
export function makeClient(o) {
  const opts = { endpoint: o.endpoint, key: o.key };
  let agent = null;
  if (o.endpoint.startsWith('https:')) {
    agent = new https.Agent({ ca: o.ca, keepAlive: o.keepAlive !== false });
    opts.agent = agent;
  }
  if (o.connectionPolicy) opts.connectionPolicy = o.connectionPolicy;
  if (o.defaultHeaders) opts.defaultHeaders = { ...o.defaultHeaders };
  if (o.userAgentSuffix) opts.userAgentSuffix = o.userAgentSuffix;
  const client = new CosmosClient(opts);
  if (agent) agents.set(client, agent);
  return client;
}

/** The app's client through cosmoseal: `proxy` from startCosmoseal, `key` a client key. */
export function proxyClient(proxy, key, { ca, ...rest } = {}) {
  return makeClient({ endpoint: proxy.url, key, ca: ca ?? proxy.ca, ...rest });
}

/**
 * A client straight to the upstream front with the real account key (or `key`). Its requests
 * carry x-e2e-origin: direct, so the front can tell them from cosmoseal's.
 */
export function directClient(front, { key, ca, ...rest } = {}) {
  return makeClient({
    endpoint: front.url,
    key: key ?? front.accountKey,
    ca: ca ?? front.ca,
    defaultHeaders: { [ORIGIN_HEADER]: 'direct' },
    ...rest,
  });
}

/** Stops the client's background timer and closes its keep-alive sockets. */
export function closeClient(client) {
  if (!client) return;
  try {
    client.dispose();
  } catch {
    /* older SDKs */
  }
  agents.get(client)?.destroy();
}
