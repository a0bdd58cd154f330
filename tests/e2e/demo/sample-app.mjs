#!/usr/bin/env node
// A sample application: ordinary @azure/cosmos code. The only cosmoseal-specific settings are the
// endpoint (cosmoseal's URL) and the key (a local client key, not the account key). It trusts
// cosmoseal's certificate the way any Node app trusts a private CA: NODE_EXTRA_CA_CERTS.
//
//   COSMOS_ENDPOINT=https://localhost:8081/ COSMOS_KEY=<client key> NODE_EXTRA_CA_CERTS=ca.crt \
//     node tests/e2e/demo/sample-app.mjs
//
// It logs what it does, one line per step, and ends with one line `RESULT {json}` (the documents
// it read back) that tests/e2e/demo/demo.mjs uses for its report.

import { CosmosClient } from '@azure/cosmos';

const endpoint = process.env.COSMOS_ENDPOINT;
const key = process.env.COSMOS_KEY;
if (!endpoint || !key) {
  console.error('set COSMOS_ENDPOINT and COSMOS_KEY');
  process.exit(2);
}

const customer = {
  id: 'cust-1001',
  customerId: 'cust-1001',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  ssn: '078-05-1120',
  address: { street: '12 Analytical Engine Way', city: 'London', zip: 'W1 4AA' },
  cards: [
    { brand: 'visa', number: '4111111111111111', exp: '12/29' },
    { brand: 'mastercard', number: '5500005555555559', exp: '03/28' },
  ],
  tier: 'gold',
};

const log = (msg) => console.log(msg);
const plain = (doc) => Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));

const client = new CosmosClient({ endpoint, key });
try {
  const { database } = await client.databases.createIfNotExists({ id: 'shop' });
  const { container } = await database.containers.createIfNotExists({ id: 'customers', partitionKey: { paths: ['/customerId'] } });
  log(`created database ${database.id} and container ${container.id}`);

  const { statusCode: created } = await container.items.upsert(customer);
  log(`wrote customer ${customer.id} (HTTP ${created})`);

  const { resource: readBack } = await container.item(customer.id, customer.customerId).read();
  const same = JSON.stringify(plain(readBack)) === JSON.stringify(customer);
  log(`read customer ${readBack.id} back: ${same ? 'identical to what was written' : 'DIFFERENT from what was written'}`);

  const { resources: found } = await container.items
    .query({ query: 'SELECT c.id, c.name, c.tier FROM c WHERE c.ssn = @ssn', parameters: [{ name: '@ssn', value: customer.ssn }] })
    .fetchAll();
  log(`query "WHERE c.ssn = @ssn" found ${found.length} customer(s): ${found.map((r) => r.name).join(', ')}`);

  console.log(`RESULT ${JSON.stringify({ written: customer, readBack: plain(readBack), same, queried: found })}`);
  process.exitCode = same && found.length === 1 ? 0 : 1;
} catch (err) {
  console.error(`sample app failed: ${err.code ?? ''} ${err.message}`);
  process.exitCode = 1;
} finally {
  client.dispose();
}
