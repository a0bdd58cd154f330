#!/usr/bin/env node
// Source of the raw HTTP/1.1 attack payloads in this directory (one technique per .http file).
// The .http files are committed byte-exact (CRLFs and all); this script rewrites them:
//   node tests/security/payloads/generate.mjs          rewrite every .http file
//   node tests/security/payloads/generate.mjs --check  exit 1 if a file differs from this source
// Payloads too large or too regular to commit are made at run time by GENERATED below.
// Expected outcomes (status, detail code, responses) live in manifest.json, not here.
//
// Placeholders, replaced at run time (see tests/e2e/lib/payloads.mjs), only ever inside a request
// HEAD (never inside a body, so Content-Length values stay exact):
//   {{HOST}}  the listener's host:port           {{DATE}}  now, RFC 1123 (x-ms-date)
//   {{AUTH}}  a valid client-key signature for the method and path of the FIRST request line
// A valid signature makes each payload an authenticated request: if cosmoseal's parser were
// lenient, the request would be forwarded and the upstream front would see bytes (the test fails).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = path.dirname(fileURLToPath(import.meta.url));
export const DOCS_PATH = '/dbs/x/colls/y/docs';
const DOC = '{"id":"a","pk":"p"}'; // 19 bytes = 0x13

/** Lines joined with CRLF, plus the blank line, plus `body`. */
function msg(lines, body = '') {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function authLines() {
  return ['x-ms-date: {{DATE}}', 'authorization: {{AUTH}}', 'x-ms-version: 2020-07-15'];
}

/** Head of a signed document create (POST .../docs), without framing headers. */
function postHead(requestLine = `POST ${DOCS_PATH} HTTP/1.1`) {
  return [requestLine, 'Host: {{HOST}}', ...authLines(), 'x-ms-documentdb-partitionkey: ["p"]', 'Content-Type: application/json'];
}

function getHead(target = DOCS_PATH, version = '1.1') {
  return [`GET ${target} HTTP/${version}`, 'Host: {{HOST}}', ...authLines()];
}

const chunked = (data) => `${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`;
const SMUGGLED = 'GET /dbs HTTP/1.1\r\nHost: localhost\r\n\r\n'; // inside a body: no placeholders

/** name (without .http) -> exact payload text (latin1: one char = one byte). */
export const PAYLOADS = {
  // T01 CL + TE: the classic CL.TE smuggle (a TE parser would see a second request after the chunk).
  'cl-te': (() => {
    const body = `${chunked(DOC)}${SMUGGLED}`;
    return msg([...postHead(), `Content-Length: ${body.length}`, 'Transfer-Encoding: chunked'], body);
  })(),
  // T01 TE first, then a short CL: the TE.CL variant.
  'te-cl': msg([...postHead(), 'Transfer-Encoding: chunked', 'Content-Length: 4'], chunked(DOC)),
  // T02 duplicate / conflicting Content-Length.
  'duplicate-cl': msg([...postHead(), 'Content-Length: 19', 'Content-Length: 19'], DOC),
  'conflicting-cl': msg([...postHead(), 'Content-Length: 19', 'Content-Length: 20'], `${DOC} `),
  'cl-comma-list': msg([...postHead(), 'Content-Length: 19, 19'], DOC),
  // T03 malformed Content-Length values.
  'cl-plus-sign': msg([...postHead(), 'Content-Length: +19'], DOC),
  'cl-hex': msg([...postHead(), 'Content-Length: 0x13'], DOC),
  'cl-negative': msg([...postHead(), 'Content-Length: -1'], DOC),
  'cl-empty': msg([...postHead(), 'Content-Length: '], DOC),
  'cl-internal-space': msg([...postHead(), 'Content-Length: 1 9'], DOC),
  'cl-overflow': msg([...postHead(), 'Content-Length: 18446744073709551635'], DOC), // 2^64 + 19
  // A well-formed length over the body limit: refused before any body byte is read.
  'cl-over-limit': msg([...postHead(), 'Content-Length: 104857600']),
  // T07 space before the colon.
  'space-before-colon': msg([...postHead(), 'Content-Length : 19'], DOC),
  // T04 obs-fold, and CVE-2024-27982 (a header line that starts with a space right after the request line).
  'obs-fold': msg([...postHead(), 'X-Folded: a', '  b', 'Content-Length: 19'], DOC),
  'leading-space-header': msg(
    [`POST ${DOCS_PATH} HTTP/1.1`, ' Content-Length: 19', 'Host: {{HOST}}', ...authLines(), 'x-ms-documentdb-partitionkey: ["p"]', 'Content-Type: application/json'],
    DOC,
  ),
  // T05 bare LF / bare CR line endings, CVE-2023-30589 (CR inside a header value).
  'bare-lf': `${[...postHead(), 'Content-Length: 19'].join('\n')}\n\n${DOC}`,
  'bare-cr': `${postHead().join('\r\n')}\r\nX-A: 1\rContent-Length: 19\r\n\r\n${DOC}`,
  'cve-2023-30589-cr-in-value': msg([...postHead(), 'X-Abc: \rxTransfer-Encoding: chunked'], chunked(DOC)),
  // Header syntax: control characters in a value, characters not allowed in a name.
  'nul-in-header-value': msg([...postHead(), 'X-A: a\x00b', 'Content-Length: 19'], DOC),
  'bad-header-name': msg([...postHead(), 'X(A): 1', 'Content-Length: 19'], DOC),
  'duplicate-host': msg([...getHead(), 'Host: evil.example']),
  // T06 Transfer-Encoding variants.
  'te-chunked-chunked': msg([...postHead(), 'Transfer-Encoding: chunked, chunked'], chunked(DOC)),
  'te-duplicate-header': msg([...postHead(), 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], chunked(DOC)),
  'te-gzip': msg([...postHead(), 'Transfer-Encoding: gzip'], DOC),
  'te-chunked-gzip': msg([...postHead(), 'Transfer-Encoding: chunked, gzip'], chunked(DOC)),
  'te-gzip-chunked': msg([...postHead(), 'Transfer-Encoding: gzip, chunked'], chunked(DOC)),
  'te-identity': msg([...postHead(), 'Transfer-Encoding: identity', 'Content-Length: 19'], DOC),
  'te-http10': msg([...postHead(`POST ${DOCS_PATH} HTTP/1.0`), 'Transfer-Encoding: chunked'], chunked(DOC)),
  // T08 chunked body errors.
  'chunk-size-overflow': msg([...postHead(), 'Transfer-Encoding: chunked'], `1${'0'.repeat(16)}13\r\n${DOC}\r\n0\r\n\r\n`),
  'chunk-ext-huge': msg([...postHead(), 'Transfer-Encoding: chunked'], `13;ext=${'x'.repeat(70000)}\r\n${DOC}\r\n0\r\n\r\n`),
  'chunk-missing-crlf': msg([...postHead(), 'Transfer-Encoding: chunked'], `13\r\n${DOC}0\r\n\r\n`),
  'chunk-size-trailing-space': msg([...postHead(), 'Transfer-Encoding: chunked'], `13 \r\n${DOC}\r\n0\r\n\r\n`),
  'cl-in-trailer': msg([...postHead(), 'Transfer-Encoding: chunked', 'Trailer: Content-Length'], `13\r\n${DOC}\r\n0\r\nContent-Length: 5\r\n\r\n`),
  // T09 an error followed by a pipelined, validly signed request: the second must never be parsed.
  'pipeline-smuggle-after-error': `${msg([...getHead(), 'X(A): 1'])}${msg(getHead())}`,
  // T11 HTTP/2 preface, Upgrade, CONNECT, absolute-form to a foreign host.
  'http2-preface': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'upgrade-h2c': msg([...getHead(), 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']),
  'upgrade-websocket': msg([...getHead(), 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']),
  connect: msg(['CONNECT evil.example:443 HTTP/1.1', 'Host: evil.example:443']),
  'absolute-uri-foreign-host': msg([`GET http://evil.example${DOCS_PATH} HTTP/1.1`, 'Host: evil.example', ...authLines()]),
};

/**
 * Payloads made at run time. Each gets {host, sign(method, target) -> header lines} and returns
 * the bytes (a Buffer).
 */
export const GENERATED = {
  // T10 request target over 8 KiB -> 414.
  'uri-too-long': ({ host, sign }) => {
    const target = `${DOCS_PATH}/${'a'.repeat(9000)}`;
    return Buffer.from(msg([`GET ${target} HTTP/1.1`, `Host: ${host}`, ...sign('GET', target)]), 'latin1');
  },
  // T10 more than 100 header fields -> 431.
  'too-many-headers': ({ host, sign }) => {
    const extra = Array.from({ length: 120 }, (_, i) => `X-H${i}: v`);
    return Buffer.from(msg([`GET ${DOCS_PATH} HTTP/1.1`, `Host: ${host}`, ...sign('GET', DOCS_PATH), ...extra]), 'latin1');
  },
  // T10 over 64 KiB of headers in few fields (20 x 4,000 bytes) -> 431.
  'headers-too-large': ({ host, sign }) => {
    const extra = Array.from({ length: 20 }, (_, i) => `X-Big${i}: ${'b'.repeat(4000)}`);
    return Buffer.from(msg([`GET ${DOCS_PATH} HTTP/1.1`, `Host: ${host}`, ...sign('GET', DOCS_PATH), ...extra]), 'latin1');
  },
};

function fileOf(name) {
  return path.join(DIR, `${name}.http`);
}

function main() {
  const check = process.argv.includes('--check');
  let bad = 0;
  for (const [name, text] of Object.entries(PAYLOADS)) {
    const bytes = Buffer.from(text, 'latin1');
    if (check) {
      const cur = fs.existsSync(fileOf(name)) ? fs.readFileSync(fileOf(name)) : null;
      if (!cur || !cur.equals(bytes)) {
        console.error(`differs: ${name}.http`);
        bad++;
      }
    } else {
      fs.writeFileSync(fileOf(name), bytes);
    }
  }
  if (check && bad) process.exit(1);
  if (!check) console.log(`wrote ${Object.keys(PAYLOADS).length} payloads to ${DIR}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
