// The service's master-key signature rules, checked on every request: HMAC-SHA256 with the
// base64-decoded account key over "verb\nresourceType\nresourceLink\nx-ms-date\n\n" (verb, type and
// date lower-cased). Name-based links are signed as sent (percent-decoded, no leading or trailing
// '/'); RID-based links are signed as the last RID of the link, lower-cased; /offers/{rid} is
// signed as the lower-cased RID. The date must be within the window (15 minutes by default).

import crypto from 'node:crypto';

/** Splits a path into segments (leading/trailing and doubled slashes dropped, percent-decoded). */
export function pathSegments(target) {
  let p = target;
  const q = p.indexOf('?');
  if (q >= 0) p = p.slice(0, q);
  return p
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/**
 * (resourceType, resourceLink) the signature covers.
 * @param {string[]} segments path segments
 * @param {boolean} ridBased the path addresses resources by RID
 */
export function signedResource(segments, ridBased) {
  if (segments.length === 0) return { type: '', link: '' };
  if (segments.length === 2 && segments[0].toLowerCase() === 'offers') {
    return { type: 'offers', link: segments[1].toLowerCase() };
  }
  const feed = segments.length % 2 === 1;
  const type = feed ? segments[segments.length - 1] : segments[segments.length - 2];
  const linkSegs = feed ? segments.slice(0, -1) : segments;
  if (ridBased) return { type, link: linkSegs.length ? linkSegs[linkSegs.length - 1].toLowerCase() : '' };
  return { type, link: linkSegs.join('/') };
}

export function stringToSign(verb, type, link, date) {
  return `${verb.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${date.toLowerCase()}\n\n`;
}

export function sign(keyBase64, verb, type, link, date) {
  return crypto
    .createHmac('sha256', Buffer.from(keyBase64, 'base64'))
    .update(stringToSign(verb, type, link, date), 'utf8')
    .digest('base64');
}

export function authorizationHeader(sig) {
  return encodeURIComponent(`type=master&ver=1.0&sig=${sig}`);
}

/** Headers that sign a request with `key` (for tests and the CLI's own calls). */
export function signedHeaders({ method, path, key, date = new Date(), ridBased = false }) {
  const xmsdate = typeof date === 'string' ? date : date.toUTCString();
  const { type, link } = signedResource(pathSegments(path), ridBased);
  return {
    'x-ms-date': xmsdate,
    authorization: authorizationHeader(sign(key, method, type, link, xmsdate)),
    'x-ms-version': '2020-07-15',
  };
}

/** The fields of an authorization header value (percent-decoded `type=..&ver=..&sig=..`), or null. */
export function parseAuthorization(value) {
  if (typeof value !== 'string') return null;
  let decoded;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  const out = {};
  for (const part of decoded.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/**
 * @returns {{ok: true} | {ok: false, reason: string, message: string}}
 */
export function verify({ method, headers, segments, ridBased, key, windowMs, now = Date.now() }) {
  const auth = headers.authorization;
  const { type, link } = signedResource(segments, ridBased);
  if (!auth) return { ok: false, reason: 'missing', message: 'Required Header authorization is missing. Ensure a valid Authorization token is passed.' };
  const parsed = parseAuthorization(auth);
  if (!parsed || !parsed.sig || !parsed.type) {
    return { ok: false, reason: 'malformed', message: 'The authorization token is not in the expected format.' };
  }
  if (parsed.type !== 'master' || parsed.ver !== '1.0') {
    return { ok: false, reason: 'unsupported_token', message: `Authorization token type ${parsed.type} is not supported by this simulator.` };
  }
  const date = headers['x-ms-date'] || headers.date;
  if (!date) return { ok: false, reason: 'no_date', message: 'The request does not carry x-ms-date or date.' };
  const expected = sign(key, method, type, link, date);
  const a = Buffer.from(expected);
  const b = Buffer.from(parsed.sig);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
    const payload = stringToSign(method, type, link, date).replace(/\n/g, '\\n');
    return {
      ok: false,
      reason: 'bad_signature',
      message: `The input authorization token can't serve the request. The wrong key is being used or the expected payload is not built as per the protocol. For more info: https://aka.ms/cosmosdb-tsg-mac-signature\r\nServer used the following payload to sign: '${payload}'`,
    };
  }
  const t = Date.parse(date);
  if (Number.isNaN(t) || Math.abs(now - t) > windowMs) {
    return {
      ok: false,
      reason: 'date_skew',
      message: `The authorization token is not valid at the current time. Please create another token and retry (token start time: ${date}, current server time: ${new Date(now).toUTCString()}).`,
    };
  }
  return { ok: true, type, link };
}
