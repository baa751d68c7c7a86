// An HTTP API over an occ-enabled table, on node:http with no framework.
//
//   GET    /docs/:id   200 + ETag (304 when If-None-Match matches), 404
//   PATCH  /docs/:id   JSON merge patch; If-Match required (428), 412 + current
//                      ETag on a mismatch, 404, 200 + new ETag
//   DELETE /docs/:id   If-Match required (428), 412, 404, 204
//
// Errors are RFC 9457 problem details (application/problem+json). The If-Match
// header goes to occ_update_if_match / occ_delete_if_match as received: occ
// accepts quoted ETags, lists and *, and a weak W/"..." never matches.
//
// Run it: PGDATABASE=app node examples/http-api.js  (PORT, default 8080; the
// table is "docs", created and enabled with occ_enable('docs') beforehand).

import http from 'node:http';
import { pathToFileURL } from 'node:url';

import * as occ from '../occ.js';

const PATCH_TYPES = ['application/merge-patch+json', 'application/json'];
// A patch occ or PostgreSQL rejects: unknown column (42703), a column a patch may
// not set (428C9), a value that does not convert (class 22), a NOT NULL or CHECK
// constraint (23502, 23514).
const INVALID_PATCH = /^(42703|428C9|22[0-9A-Z]{3}|23502|23514)$/;

class HttpError extends Error {
  constructor(status, detail, headers = {}) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }),
    ...headers,
  });
  res.end(text);
}

// An RFC 9457 problem details response.
function problem(res, status, detail, instance, headers = {}) {
  const body = JSON.stringify({
    type: 'about:blank',
    title: http.STATUS_CODES[status],
    status,
    detail,
    instance,
  });
  res.writeHead(status, {
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

// The request body as a string; 413 past maxBody bytes (the rest is read and
// discarded, so that the connection stays usable).
function readBody(req, maxBody) {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `the body is larger than ${maxBody} bytes`);
    if (Number(req.headers['content-length']) > maxBody) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > maxBody) {
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readPatch(req, maxBody) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!PATCH_TYPES.includes(type)) {
    throw new HttpError(415, `a PATCH body must be ${PATCH_TYPES.join(' or ')}`,
      { 'Accept-Patch': PATCH_TYPES.join(', ') });
  }
  let patch;
  try {
    patch = JSON.parse(await readBody(req, maxBody));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, 'the body is not valid JSON');
  }
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new HttpError(422, 'a merge patch for a document must be a JSON object');
  }
  return patch;
}

function requireIfMatch(req) {
  const ifMatch = req.headers['if-match'];
  if (ifMatch === undefined || ifMatch.trim() === '') {
    throw new HttpError(428, 'this request must be conditional: send If-Match with the ETag you read');
  }
  return ifMatch;
}

// Does an If-None-Match header name this ETag (weak comparison, RFC 9110)?
function noneMatch(header, etag) {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === occ.quoteEtag(etag));
}

/**
 * The API as an http.Server (not yet listening).
 * options: db (pg.Pool or Client), table ('docs'), schema (occ's schema, if
 * not on search_path), basePath ('/docs'), idPattern (/^[0-9]+$/),
 * etagColumn ('etag'), maxBody (1 MiB), log (console.error, for 500s).
 */
export function createApi({
  db, table = 'docs', schema, basePath = '/docs', idPattern = /^[0-9]+$/,
  etagColumn = 'etag', maxBody = 1 << 20, log = console.error,
} = {}) {
  const opts = { schema };

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const prefix = `${basePath}/`;
    let id = null;
    try {
      if (url.pathname.startsWith(prefix)) id = decodeURIComponent(url.pathname.slice(prefix.length));
    } catch {
      // malformed percent-encoding: no such resource
    }
    if (id === null || !idPattern.test(id)) throw new HttpError(404, `no resource at ${url.pathname}`);

    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        const row = await occ.read(db, table, id, opts);
        const etag = occ.quoteEtag(row[etagColumn]);
        if (noneMatch(req.headers['if-none-match'], row[etagColumn])) {
          res.writeHead(304, { ETag: etag });
          res.end();
          return;
        }
        send(res, 200, row, { ETag: etag });
        return;
      }
      case 'PATCH': {
        const ifMatch = requireIfMatch(req);
        const patch = await readPatch(req, maxBody);
        const row = await occ.updateIfMatch(db, table, id, ifMatch, patch, opts);
        send(res, 200, row, { ETag: occ.quoteEtag(row[etagColumn]) });
        return;
      }
      case 'DELETE': {
        const ifMatch = requireIfMatch(req);
        await occ.deleteIfMatch(db, table, id, ifMatch, opts);
        res.writeHead(204);
        res.end();
        return;
      }
      default:
        throw new HttpError(405, `${req.method} is not supported here`, { Allow: 'GET, HEAD, PATCH, DELETE' });
    }
  }

  return http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      const instance = req.url;
      if (err instanceof HttpError) {
        problem(res, err.status, err.message, instance, err.headers);
      } else if (err instanceof occ.NotFound) {
        problem(res, 404, err.message, instance);
      } else if (err instanceof occ.PreconditionFailed) {
        // the client's copy is stale: tell it the current ETag to re-read against
        problem(res, 412, err.message, instance, err.etagHeader ? { ETag: err.etagHeader } : {});
      } else if (err instanceof occ.OccError) {
        problem(res, err.status ?? 409, err.message, instance, err.etagHeader ? { ETag: err.etagHeader } : {});
      } else if (INVALID_PATCH.test(err?.code ?? '')) {
        problem(res, 422, err.message, instance);
      } else {
        log(err);
        problem(res, 500, 'internal error', instance);
      }
    });
  });
}

// Run directly: a server on PORT over a pg.Pool configured from PG* variables.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool();
  const port = Number(process.env.PORT ?? 8080);
  createApi({ db: pool }).listen(port, () => console.log(`listening on http://localhost:${port}/docs/:id`));
}
