// Assertions shared by the cosmoseal-dependent tests.

import assert from 'node:assert/strict';

/**
 * Asserts a local error reply from cosmoseal: `status`, header x-cosmoseal-detail = `detail`, and
 * a JSON body {code: <reason, e.g. "BadRequest">, message: <non-empty>, detail: <same code>}.
 * @param {{status: number, headers: object, text?: string, json?: any, body?: Buffer}} r from
 *   raw.request() or a parsed raw response (headers lower-cased)
 */
export function assertLocalError(r, status, detail, what = '') {
  const text = r.text ?? (r.body ? r.body.toString('utf8') : '');
  let json = r.json;
  if (json === undefined) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  assert.equal(r.status, status, `${what}: status (body ${JSON.stringify(text.slice(0, 300))})`);
  assert.equal(r.headers['x-cosmoseal-detail'], detail, `${what}: x-cosmoseal-detail`);
  assert.ok(json && typeof json === 'object', `${what}: JSON body, got ${JSON.stringify(text.slice(0, 300))}`);
  assert.equal(json.detail, detail, `${what}: body.detail`);
  assert.ok(typeof json.code === 'string' && json.code.length > 0, `${what}: body.code`);
  assert.ok(typeof json.message === 'string' && json.message.length > 0, `${what}: body.message`);
  return json;
}
