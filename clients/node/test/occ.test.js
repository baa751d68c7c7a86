// The pg wrappers and error classes against a real occ: every OC error class
// with its DETAIL, the id forms (int, text, uuid, composite), the extension
// in a schema off search_path, and occ_try_update when the installed
// extension has it.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import * as occ from '../occ.js';
import { connect, createDatabase, dropDatabase, hasFunction } from '../support/testdb.js';

let dbName;
let db;

before(async () => {
  dbName = await createDatabase('occ_node_client');
  db = await connect(dbName);
});

after(async () => {
  await db?.end();
  if (dbName) await dropDatabase(dbName);
});

beforeEach(async () => {
  await db.query(`
    DROP TABLE IF EXISTS docs, strict_docs, by_uuid, lines;
    CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body jsonb NOT NULL DEFAULT '{}');
    SELECT occ_enable('docs');
    INSERT INTO docs (id, title, body) VALUES (1, 'one', '{"a": 1}'), (2, 'two', '{}');
    CREATE TABLE strict_docs (id int PRIMARY KEY, title text);
    SELECT occ_enable('strict_docs', version_input => 'expected');
    INSERT INTO strict_docs VALUES (1, 'one');
    CREATE TABLE by_uuid (id uuid PRIMARY KEY, title text);
    SELECT occ_enable('by_uuid');
    INSERT INTO by_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'u');
    CREATE TABLE lines (order_id int, line text, qty int, PRIMARY KEY (order_id, line));
    SELECT occ_enable('lines');
    INSERT INTO lines VALUES (7, 'x', 1);
  `);
});

const row = (table = 'docs', id = 1) => occ.read(db, table, id);

describe('update', () => {
  it('applies the patch and bumps the version once', async () => {
    const before = await row();
    const after = await occ.update(db, 'docs', 1, before.version, { title: 'new', body: { b: 2 } });
    assert.equal(after.version, before.version + 1);
    assert.notEqual(after.etag, before.etag);
    assert.equal(after.title, 'new');
    assert.deepEqual(after.body, { a: 1, b: 2 }); // jsonb columns merge (RFC 7396)
    assert.deepEqual(await row(), after);
  });

  it('throws VersionConflict with the parsed DETAIL on a stale version', async () => {
    const before = await row();
    const current = await occ.update(db, 'docs', 1, before.version, { title: 'first' });
    const err = await occ.update(db, 'docs', 1, before.version, { title: 'second' }).catch((e) => e);
    assert.ok(err instanceof occ.VersionConflict);
    assert.ok(err instanceof occ.OccError);
    assert.equal(err.name, 'VersionConflict');
    assert.equal(err.code, 'OC409');
    assert.equal(err.status, 409);
    assert.equal(err.table, 'public.docs');
    assert.equal(err.key, 1);
    assert.equal(err.expectedVersion, before.version);
    assert.equal(err.currentVersion, current.version);
    assert.equal(err.currentEtag, current.etag);
    assert.equal(err.etagHeader, `"${current.etag}"`);
    assert.equal(err.changedFields, undefined); // row granularity does not know them
    assert.equal(err.conflictingFields, undefined);
    assert.equal(err.message, 'version conflict on table "public.docs" for key 1');
    assert.equal(err.hint, 'Re-read the row and retry with its current version.');
    assert.deepEqual([err.schemaName, err.tableName, err.columnName], ['public', 'docs', 'version']);
    assert.equal(err.cause.code, 'OC409'); // the pg error
    assert.deepEqual(await row(), current);
  });
});

describe('updateIfMatch', () => {
  it('takes a quoted ETag, a bare one, a list and *', async () => {
    let r = await row();
    r = await occ.updateIfMatch(db, 'docs', 1, occ.quoteEtag(r.etag), { title: 'quoted' });
    assert.equal(r.title, 'quoted');
    r = await occ.updateIfMatch(db, 'docs', 1, r.etag, { title: 'bare' });
    assert.equal(r.title, 'bare');
    r = await occ.updateIfMatch(db, 'docs', 1, `"nope", "${r.etag}"`, { title: 'list' });
    assert.equal(r.title, 'list');
    r = await occ.updateIfMatch(db, 'docs', 1, '*', { title: 'star' });
    assert.deepEqual([r.title, r.version], ['star', 5]);
  });

  it('throws PreconditionFailed with the current ETag on a stale one', async () => {
    const old = await row();
    const current = await occ.update(db, 'docs', 1, old.version, { title: 'moved on' });
    const err = await occ.updateIfMatch(db, 'docs', 1, occ.quoteEtag(old.etag), { title: 'late' })
      .catch((e) => e);
    assert.ok(err instanceof occ.PreconditionFailed);
    assert.deepEqual([err.code, err.status], ['OC412', 412]);
    assert.equal(err.expectedEtag, old.etag);
    assert.equal(err.expectedVersion, undefined);
    assert.equal(err.currentVersion, current.version);
    assert.equal(err.etagHeader, `"${current.etag}"`);
    assert.equal(err.hint, 'Re-read the row and retry with its current ETag.');
    assert.deepEqual(await row(), current);
  });

  it('never matches a weak ETag', async () => {
    const r = await row();
    await assert.rejects(occ.updateIfMatch(db, 'docs', 1, `W/"${r.etag}"`, { title: 'weak' }),
      occ.PreconditionFailed);
    assert.deepEqual(await row(), r);
  });
});

describe('delete', () => {
  it('returns the deleted row', async () => {
    const r = await row();
    assert.deepEqual(await occ.delete(db, 'docs', 1, r.version), r);
    await assert.rejects(row(), occ.NotFound);
  });

  it('throws VersionConflict on a stale version', async () => {
    const r = await occ.update(db, 'docs', 1, 1, { title: 'v2' });
    const err = await occ.delete(db, 'docs', 1, 1).catch((e) => e);
    assert.ok(err instanceof occ.VersionConflict);
    assert.equal(err.currentVersion, 2);
    assert.deepEqual(await row(), r);
  });

  it('deleteIfMatch checks the ETag', async () => {
    const r = await row();
    const err = await occ.deleteIfMatch(db, 'docs', 1, '"stale"').catch((e) => e);
    assert.ok(err instanceof occ.PreconditionFailed);
    assert.equal(err.currentEtag, r.etag);
    assert.deepEqual(await occ.deleteIfMatch(db, 'docs', 1, occ.quoteEtag(r.etag)), r);
    await assert.rejects(row(), occ.NotFound);
  });
});

describe('not found', () => {
  it('every wrapper throws NotFound for a missing row, with no version', async () => {
    const calls = {
      update: () => occ.update(db, 'docs', 99, 1, { title: 'x' }),
      updateIfMatch: () => occ.updateIfMatch(db, 'docs', 99, '*', { title: 'x' }),
      delete: () => occ.delete(db, 'docs', 99, 1),
      deleteIfMatch: () => occ.deleteIfMatch(db, 'docs', 99, '*'),
      read: () => occ.read(db, 'docs', 99),
    };
    for (const [name, call] of Object.entries(calls)) {
      const err = await call().catch((e) => e);
      assert.ok(err instanceof occ.NotFound, name);
      assert.deepEqual([err.code, err.status], ['OC404', 404], name);
      assert.deepEqual(err.detail, { table: 'public.docs', key: 99 }, name);
      assert.equal(err.currentVersion, undefined, name);
    }
  });
});

describe('plain SQL through translate()', () => {
  it('an UPDATE without the version throws PreconditionRequired', async () => {
    const r = await row('strict_docs');
    const err = await occ.translate(() => db.query("UPDATE strict_docs SET title = 'x' WHERE id = 1"))
      .catch((e) => e);
    assert.ok(err instanceof occ.PreconditionRequired);
    assert.deepEqual([err.code, err.status], ['OC428', 428]);
    assert.equal(err.table, 'public.strict_docs');
    assert.equal(err.currentVersion, r.version);
    assert.deepEqual(await row('strict_docs'), r);
  });

  it('an UPDATE with the wrong version throws VersionConflict', async () => {
    await assert.rejects(
      occ.translate(() => db.query("UPDATE strict_docs SET title = 'x', version = 7 WHERE id = 1")),
      (e) => e instanceof occ.VersionConflict && e.currentVersion === 1);
    await occ.translate(() => db.query("UPDATE strict_docs SET title = 'x', version = 1 WHERE id = 1"));
    assert.equal((await row('strict_docs')).version, 2);
  });
});

describe('errors', () => {
  it('one base class catches all four', async () => {
    const codes = [];
    for (const call of [
      () => occ.update(db, 'docs', 1, 9, {}),
      () => occ.updateIfMatch(db, 'docs', 1, 'x', {}),
      () => occ.delete(db, 'docs', 9, 1),
      () => occ.translate(() => db.query("UPDATE strict_docs SET title = 'x' WHERE id = 1")),
    ]) {
      try {
        await call();
      } catch (e) {
        if (!(e instanceof occ.OccError)) throw e;
        codes.push(e.code);
      }
    }
    assert.deepEqual(codes, ['OC409', 'OC412', 'OC404', 'OC428']);
  });

  it('bad input keeps PostgreSQL\'s own error', async () => {
    const err = await occ.update(db, 'docs', 1, 1, { no_such_column: 1 }).catch((e) => e);
    assert.equal(err.code, '42703');
    assert.ok(!(err instanceof occ.OccError));
    assert.equal(occ.fromPgError(err), null);
  });

  it('a DETAIL that is not JSON leaves the fields out', () => {
    const e = occ.fromPgError({ code: 'OC409', message: 'version conflict', detail: 'not json' });
    assert.ok(e instanceof occ.VersionConflict);
    assert.deepEqual(e.detail, {});
    assert.equal(e.currentVersion, undefined);
  });

  it('an error inside a transaction leaves it to roll back', async () => {
    const c = await connect(dbName);
    try {
      await c.query('BEGIN');
      await assert.rejects(occ.update(c, 'docs', 1, 5, { title: 'x' }), occ.VersionConflict);
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      await occ.update(c, 'docs', 1, 1, { title: 'committed' });
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    assert.equal((await row()).title, 'committed');
  });
});

describe('id forms', () => {
  it('a uuid key as a string', async () => {
    const u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    assert.equal((await occ.update(db, 'by_uuid', u, 1, { title: 'str' })).version, 2);
    const err = await occ.update(db, 'by_uuid', u, 1, { title: 'stale' }).catch((e) => e);
    assert.ok(err instanceof occ.VersionConflict);
    assert.equal(err.key, u);
  });

  it('a numeric id as a string or a bigint', async () => {
    assert.equal((await occ.update(db, 'docs', '1', 1, { title: 's' })).version, 2);
    assert.equal((await occ.update(db, 'docs', 1n, 2n, { title: 'b' })).version, 3);
  });

  it('a composite key as an object', async () => {
    const key = { order_id: 7, line: 'x' };
    const r = await occ.update(db, 'lines', key, 1, { qty: 5 });
    assert.deepEqual([r.qty, r.version], [5, 2]);
    const err = await occ.delete(db, 'lines', key, 1).catch((e) => e);
    assert.ok(err instanceof occ.VersionConflict);
    assert.deepEqual(err.key, key);
    assert.equal((await occ.read(db, 'lines', key)).qty, 5);
    assert.equal((await occ.delete(db, 'lines', key, 2)).qty, 5);
  });

  it('modify reads and writes at the version read', async () => {
    const r = await occ.modify(db, 'docs', 2, (cur) => ({ title: `${cur.title}!` }));
    assert.deepEqual([r.title, r.version], ['two!', 2]);
    assert.deepEqual(await occ.modify(db, 'docs', 2, () => null), r); // no change, no bump
  });
});

describe('tryUpdate', () => {
  let available = false;
  const reason = 'occ_try_update is not in the installed extension (issue 3); tryUpdate tests skipped';
  before(async () => {
    available = await hasFunction(db, 'occ_try_update');
  });

  it('reports updated', async (t) => {
    if (!available) return t.skip(reason);
    const res = await occ.tryUpdate(db, 'docs', 1, 1, { title: 'tried' });
    assert.equal(res.status, 'updated');
    assert.equal(res.ok, true);
    assert.equal(res.row.title, 'tried');
    assert.equal(res.currentVersion, 2);
    assert.equal((await row()).version, 2);
  });

  it('reports a conflict without throwing, with the current row', async (t) => {
    if (!available) return t.skip(reason);
    const current = await occ.update(db, 'docs', 1, 1, { title: 'first' });
    const res = await occ.tryUpdate(db, 'docs', 1, 1, { title: 'second' });
    assert.equal(res.status, 'conflict');
    assert.equal(res.ok, false);
    assert.equal(res.currentVersion, 2);
    assert.deepEqual(res.row, current);
    assert.deepEqual(await row(), current);
  });

  it('reports unchanged for a patch that changes nothing', async (t) => {
    if (!available) return t.skip(reason);
    const before = await row();
    const res = await occ.tryUpdate(db, 'docs', 1, 1, { title: 'one' });
    assert.equal(res.status, 'unchanged');
    assert.equal(res.ok, true);
    assert.deepEqual(await row(), before);
  });

  it('reports not_found without throwing', async (t) => {
    if (!available) return t.skip(reason);
    const res = await occ.tryUpdate(db, 'docs', 99, 1, { title: 'x' });
    assert.equal(res.status, 'not_found');
    assert.equal(res.ok, false);
    assert.equal(res.row, null);
  });
});

describe('field granularity', () => {
  beforeEach(async () => {
    await db.query(`
      DROP TABLE IF EXISTS fdocs;
      CREATE TABLE fdocs (id int PRIMARY KEY, a text, b text);
      SELECT occ_enable('fdocs', granularity => 'field');
      INSERT INTO fdocs VALUES (1, 'a', 'b');
    `);
  });

  it('a conflict names the changed and the conflicting fields', async () => {
    await occ.update(db, 'fdocs', 1, 1, { a: 'a2' });
    await occ.update(db, 'fdocs', 1, 1, { b: 'b2' }); // another field: merged
    const err = await occ.update(db, 'fdocs', 1, 1, { a: 'mine' }).catch((e) => e);
    assert.ok(err instanceof occ.VersionConflict);
    assert.equal(err.currentVersion, 3);
    assert.deepEqual([...err.changedFields].sort(), ['a', 'b']);
    assert.deepEqual(err.conflictingFields, ['a']);
    assert.equal((await occ.read(db, 'fdocs', 1)).a, 'a2');
  });

  it('tryUpdate reports merged and conflict', async (t) => {
    if (!(await hasFunction(db, 'occ_try_update'))) {
      return t.skip('occ_try_update is not in the installed extension (issue 3); tryUpdate tests skipped');
    }
    await occ.update(db, 'fdocs', 1, 1, { a: 'a2' });
    let res = await occ.tryUpdate(db, 'fdocs', 1, 1, { b: 'b2' });
    assert.equal(res.status, 'merged');
    assert.equal(res.ok, true);
    assert.deepEqual([res.row.a, res.row.b, res.currentVersion], ['a2', 'b2', 3]);
    assert.ok(res.changedFields.includes('a'));
    res = await occ.tryUpdate(db, 'fdocs', 1, 1, { a: 'mine' });
    assert.equal(res.status, 'conflict');
    assert.deepEqual(res.conflictingFields, ['a']);
    assert.equal(res.row.a, 'a2');
  });
});

describe('extension in a schema off search_path', () => {
  let name;
  let c;
  before(async () => {
    name = await createDatabase('occ_node_schema');
    c = await connect(name);
    await c.query(`
      DROP EXTENSION occ;
      CREATE SCHEMA occ_ext;
      CREATE EXTENSION occ SCHEMA occ_ext;
      CREATE TABLE docs (id bigint PRIMARY KEY, title text);
      SELECT occ_ext.occ_enable('docs');
      INSERT INTO docs VALUES (1, 'one');
      SET search_path = public;
    `);
  });
  after(async () => {
    await c?.end();
    if (name) await dropDatabase(name);
  });

  it('schema qualifies every call', async () => {
    const opts = { schema: 'occ_ext' };
    let r = await occ.read(c, 'docs', 1, opts);
    r = await occ.update(c, 'docs', 1, r.version, { title: 'x' }, opts);
    assert.equal(r.version, 2);
    await assert.rejects(occ.update(c, 'docs', 1, 1, { title: 'y' }, opts), occ.VersionConflict);
    r = await occ.modify(c, 'docs', 1, () => ({ title: 'z' }), opts);
    assert.equal(r.version, 3);
    await assert.rejects(occ.update(c, 'docs', 1, 3, { title: 'w' }), (e) => e.code === '42883');
  });
});
