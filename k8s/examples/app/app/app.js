// orders-api: an ordinary @azure/cosmos application, used by the Kubernetes examples
// (k8s/examples/app, k8s/examples/transparent) and by the pod rehearsal (tests/k8s).
//
// Nothing in it knows about cosmoseal. What changes per deployment is configuration only:
//   COSMOS_ENDPOINT   gateway mode:     http://127.0.0.1:8081/  (the sidecar in the same pod)
//                     transparent mode: https://<account>.documents.azure.com:443/ (unchanged)
//   COSMOS_KEY        the app's client key (or COSMOS_KEY_FILE), never the account key
//   NODE_EXTRA_CA_CERTS  transparent mode only: the pod's interception CA certificate
// Optional: COSMOS_DATABASE (shop), COSMOS_CONTAINER (customers), INTERVAL_SECONDS (30; 0 = one
// round, then exit with 0 or 1), RUN_ID (a tag put into the sample data; random by default).
//
// Each round: create the database/container if missing, create a customer, read it, replace it,
// query it by a protected field (equality), create and delete a second one. One JSON line per
// round on stdout: {"round", "ok", "id", "steps": {...}} (or "error").
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { CosmosClient } = require('@azure/cosmos');

const endpoint = process.env.COSMOS_ENDPOINT;
const key = process.env.COSMOS_KEY ||
  (process.env.COSMOS_KEY_FILE ? fs.readFileSync(process.env.COSMOS_KEY_FILE, 'utf8').trim() : '');
if (!endpoint || !key) {
  console.error('orders-api: set COSMOS_ENDPOINT and COSMOS_KEY (or COSMOS_KEY_FILE)');
  process.exit(2);
}
const databaseId = process.env.COSMOS_DATABASE || 'shop';
const containerId = process.env.COSMOS_CONTAINER || 'customers';
const interval = Number(process.env.INTERVAL_SECONDS ?? 30);

const client = new CosmosClient({ endpoint, key });

function customer(runId, n) {
  const id = `cust-${runId}-${n}`;
  return {
    id,
    customerId: id,
    name: `Customer ${runId} #${n}`,
    ssn: `ssn-${runId}-${n}`,
    address: { street: `${n} ${runId} Lane`, city: 'Springfield', zip: '12345' },
    cards: [{ brand: 'visa', number: `4111-${runId}-${n}`, exp: '12/30' }],
    tier: 'silver',
  };
}

const userFields = (doc) => Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));
const same = (a, b) => JSON.stringify(userFields(a)) === JSON.stringify(userFields(b));

async function round(n, runId) {
  const steps = {};
  const { database } = await client.databases.createIfNotExists({ id: databaseId });
  const { container } = await database.containers.createIfNotExists({
    id: containerId,
    partitionKey: { paths: ['/customerId'] },
  });
  steps.setup = true;

  const doc = customer(runId, n);
  const created = await container.items.create(doc);
  steps.create = created.statusCode;

  const { resource: read } = await container.item(doc.id, doc.customerId).read();
  steps.read = same(read, doc);

  const updated = { ...doc, tier: 'gold' };
  const replaced = await container.item(doc.id, doc.customerId).replace(updated);
  steps.replace = replaced.statusCode;
  const { resource: reread } = await container.item(doc.id, doc.customerId).read();
  steps.readAfterReplace = same(reread, updated);

  const { resources: found } = await container.items
    .query({ query: 'SELECT * FROM c WHERE c.ssn = @ssn', parameters: [{ name: '@ssn', value: doc.ssn }] })
    .fetchAll();
  steps.query = found.length === 1 && same(found[0], updated);

  const temp = customer(runId, `${n}-temp`);
  await container.items.create(temp);
  const deleted = await container.item(temp.id, temp.customerId).delete();
  steps.delete = deleted.statusCode;

  const ok = steps.create === 201 && steps.read && steps.replace === 200 && steps.readAfterReplace &&
    steps.query && steps.delete === 204;
  return { round: n, ok, id: doc.id, runId, steps, written: updated };
}

async function main() {
  const runId = process.env.RUN_ID || crypto.randomBytes(4).toString('hex');
  let stopping = false;
  process.on('SIGTERM', () => { stopping = true; });
  for (let n = 1; ; n++) {
    let result;
    try {
      result = await round(n, runId);
    } catch (err) {
      result = { round: n, ok: false, error: `${err.code ?? err.name ?? 'Error'}: ${err.message}` };
    }
    console.log(JSON.stringify(result));
    if (interval <= 0) return result.ok ? 0 : 1;
    for (let waited = 0; waited < interval && !stopping; waited++) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (stopping) return 0;
  }
}

main().then((code) => {
  client.dispose();
  process.exitCode = code;
});
