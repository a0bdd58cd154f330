#!/usr/bin/env node
// Direct Entra ID check of one SDK (tests/sdk/README.md "Entra ID, direct"): the SDK with its own
// language's identity library, authority host = the test identity provider (tests/idp), straight
// against the simulator with local auth disabled (no cosmoseal). Proves the test world is what
// the real identity libraries and SDKs expect, before cosmoseal stands between them.
//
//   node tests/sdk/lib/aad-direct.mjs --sdk python --cwd tests/sdk/python -- .venv/bin/python aad_direct.py
//
// The SDK command gets (environment):
//   COSMOSEAL_AAD_ENDPOINT      the simulator (https, test CA), local auth disabled
//   COSMOSEAL_AAD_CA_FILE       the test CA (IdP and simulator)
//   COSMOSEAL_AAD_KEY           the account key (must be refused: 401)
//   COSMOSEAL_AAD_DATABASE / COSMOSEAL_AAD_CONTAINER   made beforehand (partition key /pk)
//   AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
//   AZURE_CLIENT_CERTIFICATE_PATH (key + certificate PEM), AZURE_FEDERATED_TOKEN_FILE (a projected
//   service-account token the app's federated credential trusts; also COSMOSEAL_AAD_TOKEN_FILE)
//   COSMOSEAL_AAD_IDENTITY_ENDPOINT / COSMOSEAL_AAD_IDENTITY_HEADER   the managed identity endpoint
//   (App Service style; not exported as IDENTITY_* so that other credentials do not pick it up,
//   except for Java, which cannot set its environment: IDENTITY_ENDPOINT / IDENTITY_HEADER, and
//   COSMOSEAL_SDK_TRUSTSTORE(_PASSWORD), a PKCS#12 truststore with the test CA)
// Afterwards the launcher checks the simulator's log: requests arrived, every one after set-up
// carried a verified AAD token (none was key-signed and accepted), and the provider issued tokens
// of each kind the suite reported using. Exit code: the suite's, or 1 when a check failed.

import { aadEnv, checkIssued, launcherArgs, readReport, runSuite, startAadWorld } from './aad-world.mjs';
import { call } from '../../simulator/test/helpers.mjs';

const { values, command, log } = launcherArgs('aad-direct');
const w = await startAadWorld({ sdk: values.sdk, localAuth: false });
const { sim } = w;
const setup = sim.requests().length;

let failed = false;
const code = await runSuite(command, {
  cwd: values.cwd,
  timeoutS: values.timeout,
  log,
  env: aadEnv(values.sdk, w, { COSMOSEAL_AAD_ENDPOINT: sim.endpoint, COSMOSEAL_AAD_KEY: sim.key }),
});
if (code === null) failed = true;

try {
  const reqs = sim.requests().slice(setup);
  const acceptedKeys = reqs.filter((r) => r.authType === 'master' && r.verified);
  const aad = reqs.filter((r) => r.authType === 'aad' && r.verified);
  log(`simulator: ${reqs.length} requests, ${aad.length} with a verified AAD token, ${acceptedKeys.length} key-signed accepted`);
  if (reqs.length === 0 || aad.length === 0) {
    log('FAIL: no AAD-authenticated request reached the simulator');
    failed = true;
  }
  if (acceptedKeys.length) {
    log('FAIL: a key-signed request was accepted with local auth disabled');
    failed = true;
  }
  if (!checkIssued(w, readReport(w), log)) failed = true;
  // The simulator must not serve a key any more.
  const k = await call(sim, { path: '/dbs/shop' });
  if (k.status !== 401) {
    log(`FAIL: key-signed request answered ${k.status}`);
    failed = true;
  }
} finally {
  await w.stop();
}
if (code !== 0) log(`FAIL: the suite exited ${code}`);
const ok = code === 0 && !failed;
log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
