// Loads the pinned npm dependencies with a clear error when they are not installed, so a test
// run without `npm ci` FAILS with instructions instead of an opaque ERR_MODULE_NOT_FOUND
// (static imports would fail at link time, before any code of ours could explain).

import fs from 'node:fs';
import path from 'node:path';
import { E2E_DIR } from './paths.mjs';

function missingDepsError(name, cause) {
  return new Error(
    `e2e dependency '${name}' is not installed (${path.join(E2E_DIR, 'node_modules')} is missing or incomplete).\n` +
      `Run scripts/install-deps.sh from the repository root (it runs 'npm ci' in tests/e2e).`,
    { cause },
  );
}

async function importDep(name) {
  if (!fs.existsSync(path.join(E2E_DIR, 'node_modules', ...name.split('/')))) throw missingDepsError(name);
  try {
    return await import(name);
  } catch (err) {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') throw missingDepsError(name, err);
    throw err;
  }
}

/** The @azure/cosmos module namespace (CosmosClient, ChangeFeedStartFrom, BulkOperationType, ...). */
export const cosmos = await importDep('@azure/cosmos');

/** createHttpServer / createHttpsServer from @vercel/cosmosdb-server (a CommonJS package). */
const serverMod = await importDep('@vercel/cosmosdb-server');
export const cosmosdbServer = serverMod.createHttpServer ? serverMod : serverMod.default;
