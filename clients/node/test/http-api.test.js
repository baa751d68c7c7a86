// The HTTP API example (examples/http-api.js), over a real occ: every status
// it answers, the ETag it sends, and its RFC 9457 problem details.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import http from 'node:http';

import pg from 'pg';

import { createApi } from '../examples/http-api.js';
import { createDatabase, dropDatabase } from '../support/testdb.js';

let dbName;
let pool;
let server;
let base;

before(async () => {
  dbName = await createDatabase('occ_node_http');
  pool = new pg.Pool({ database: dbName, max: 4 });
  server = createApi({ db: pool, maxBody: 4096, log: () => {} });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await pool?.end();
  if (dbName) await dropDatabase(dbName);
});

beforeEach(async () => {
  await pool.query(`
    DROP TABLE IF EXISTS docs;
    CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body jsonb NOT NULL DEFAULT '{}');
    SELECT occ_enable('docs');
    INSERT INTO docs (id, title, body) VALUES (1, 'one', '{"a": 1, "b": 2}');
  `);
});

const MERGE = { 'Content-Type': 'application/merge-patch+json' };

function request(method, path, { headers = {}, body } = {}) {
  return fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
}

async function get(id = 1) {
  const res = await request('GET', `/docs/${id}`);
  assert.equal(res.status, 200);
  return { etag: res.headers.get('etag'), doc: await res.json() };
}

async function assertProblem(res, status, headers = {}) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const p = await res.json();
  assert.equal(p.status, status);
  assert.equal(p.type, 'about:blank');
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.detail, 'string');
  assert.ok(p.instance.startsWith('/'));
  for (const [name, value] of Object.entries(headers)) assert.equal(res.headers.get(name), value, name);
  return p;
}

const dbRow = async (id = 1) => (await pool.query('SELECT to_jsonb(d) AS r FROM docs d WHERE id = $1', [id])).rows[0]?.r;

describe('GET /docs/:id', () => {
  it('200 with the row and its ETag, quoted', async () => {
    const res = await request('GET', '/docs/1');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const row = await dbRow();
    assert.equal(res.headers.get('etag'), `"${row.etag}"`);
    assert.deepEqual(await res.json(), row);
  });

  it('304 when If-None-Match names the current ETag', async () => {
    const { etag } = await get();
    const res = await request('GET', '/docs/1', { headers: { 'If-None-Match': `"x", ${etag}` } });
    assert.equal(res.status, 304);
    assert.equal(res.headers.get('etag'), etag);
    const stale = await request('GET', '/docs/1', { headers: { 'If-None-Match': '"stale"' } });
    assert.equal(stale.status, 200);
  });

  it('404 for a missing row', async () => {
    const p = await assertProblem(await request('GET', '/docs/99'), 404);
    assert.equal(p.title, 'Not Found');
    assert.equal(p.instance, '/docs/99');
  });

  it('404 for a path that is not a document', async () => {
    await assertProblem(await request('GET', '/docs/abc'), 404);
    await assertProblem(await request('GET', '/other/1'), 404);
    await assertProblem(await request('GET', '/docs/%E0%A4%A'), 404);
  });
});

describe('PATCH /docs/:id', () => {
  it('200 with the new ETag; the merge patch merges json members', async () => {
    const { etag } = await get();
    const res = await request('PATCH', '/docs/1', {
      headers: { ...MERGE, 'If-Match': etag }, body: { title: 'new', body: { b: null, c: 3 } },
    });
    assert.equal(res.status, 200);
    const row = await dbRow();
    assert.equal(res.headers.get('etag'), `"${row.etag}"`);
    assert.notEqual(res.headers.get('etag'), etag);
    const doc = await res.json();
    assert.deepEqual(doc, row);
    assert.deepEqual([doc.title, doc.body, doc.version], ['new', { a: 1, c: 3 }, 2]);
    assert.equal((await get()).etag, res.headers.get('etag'));
  });

  it('428 without If-Match, and nothing changes', async () => {
    const before = await dbRow();
    const p = await assertProblem(await request('PATCH', '/docs/1', { headers: MERGE, body: { title: 'x' } }), 428);
    assert.equal(p.title, 'Precondition Required');
    assert.deepEqual(await dbRow(), before);
  });

  it('412 with the current ETag for a stale If-Match', async () => {
    const { etag: old } = await get();
    const first = await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': old }, body: { title: 'first' } });
    assert.equal(first.status, 200);
    const current = first.headers.get('etag');
    const res = await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': old }, body: { title: 'late' } });
    const p = await assertProblem(res, 412, { etag: current });
    assert.equal(p.title, 'Precondition Failed');
    assert.match(p.detail, /ETag mismatch/);
    assert.equal((await dbRow()).title, 'first');
  });

  it('412 for a weak ETag', async () => {
    const { etag } = await get();
    await assertProblem(await request('PATCH', '/docs/1', {
      headers: { ...MERGE, 'If-Match': `W/${etag}` }, body: { title: 'weak' },
    }), 412, { etag });
  });

  it('200 with If-Match: * and with a list naming the ETag', async () => {
    let res = await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': '*' }, body: { title: 'star' } });
    assert.equal(res.status, 200);
    res = await request('PATCH', '/docs/1', {
      headers: { 'Content-Type': 'application/json', 'If-Match': `"old", ${res.headers.get('etag')}` },
      body: { title: 'list' },
    });
    assert.equal(res.status, 200);
    assert.equal((await dbRow()).title, 'list');
  });

  it('404 for a missing row, even with If-Match: *', async () => {
    await assertProblem(await request('PATCH', '/docs/99', {
      headers: { ...MERGE, 'If-Match': '*' }, body: { title: 'x' },
    }), 404);
  });

  it('two clients with the same ETag: one 200, one 412', async () => {
    const { etag } = await get();
    const [a, b] = await Promise.all(['a', 'b'].map((title) => request('PATCH', '/docs/1', {
      headers: { ...MERGE, 'If-Match': etag }, body: { title },
    })));
    assert.deepEqual([a.status, b.status].sort(), [200, 412]);
    const [won, lost] = a.status === 200 ? [a, b] : [b, a];
    assert.equal(lost.headers.get('etag'), won.headers.get('etag'));
    assert.equal((await dbRow()).version, 2);
    await lost.arrayBuffer();
    await won.arrayBuffer();
  });

  it('415 for another media type, 400 for bad JSON, 422 for a bad patch', async () => {
    const { etag } = await get();
    await assertProblem(await request('PATCH', '/docs/1', {
      headers: { 'Content-Type': 'text/plain', 'If-Match': etag }, body: 'title=x',
    }), 415, { 'accept-patch': 'application/merge-patch+json, application/json' });
    await assertProblem(await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': etag }, body: '{nope' }), 400);
    await assertProblem(await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': etag }, body: '[1]' }), 422);
    await assertProblem(await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': etag }, body: { nope: 1 } }), 422);
    await assertProblem(await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': etag }, body: { version: 9 } }), 422);
    await assertProblem(await request('PATCH', '/docs/1', { headers: { ...MERGE, 'If-Match': etag }, body: { title: null } }), 422);
    assert.equal((await dbRow()).version, 1);
  });
});

describe('PATCH bodies past maxBody', () => {
  it('413 when Content-Length says so', async () => {
    const { etag } = await get();
    await assertProblem(await request('PATCH', '/docs/1', {
      headers: { ...MERGE, 'If-Match': etag }, body: { title: 'x'.repeat(5000) },
    }), 413);
    assert.equal((await dbRow()).version, 1);
  });

  it('413 for a chunked body that grows too large', async () => {
    const { etag } = await get();
    const res = await new Promise((resolve, reject) => {
      const req = http.request(`${base}/docs/1`, {
        method: 'PATCH', headers: { ...MERGE, 'If-Match': etag, 'Transfer-Encoding': 'chunked' },
      }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode, type: r.headers['content-type'], body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.write('{"title": "');
      for (let i = 0; i < 10; i++) req.write('y'.repeat(1000));
      req.end('"}');
    });
    assert.equal(res.status, 413);
    assert.equal(res.type, 'application/problem+json');
    assert.equal(JSON.parse(res.body).status, 413);
    assert.equal((await dbRow()).version, 1);
  });
});

describe('DELETE /docs/:id', () => {
  it('428 without If-Match', async () => {
    await assertProblem(await request('DELETE', '/docs/1'), 428);
    assert.ok(await dbRow());
  });

  it('412 with the current ETag for a stale If-Match', async () => {
    const { etag } = await get();
    await assertProblem(await request('DELETE', '/docs/1', { headers: { 'If-Match': '"stale"' } }), 412, { etag });
    assert.ok(await dbRow());
  });

  it('204, then 404', async () => {
    const { etag } = await get();
    const res = await request('DELETE', '/docs/1', { headers: { 'If-Match': etag } });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.equal(await dbRow(), undefined);
    await assertProblem(await request('DELETE', '/docs/1', { headers: { 'If-Match': etag } }), 404);
    await assertProblem(await request('GET', '/docs/1'), 404);
  });
});

describe('other methods', () => {
  it('405 with Allow', async () => {
    await assertProblem(await request('POST', '/docs/1', { headers: MERGE, body: {} }), 405,
      { allow: 'GET, HEAD, PATCH, DELETE' });
  });

  it('HEAD answers like GET without a body', async () => {
    const res = await request('HEAD', '/docs/1');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('etag'), `"${(await dbRow()).etag}"`);
    assert.equal(await res.text(), '');
  });

  it('500 as a problem when the database fails', async () => {
    await pool.query('DROP TABLE docs');
    await assertProblem(await request('GET', '/docs/1'), 500);
  });
});
