// Plain node-postgres and Sequelize on occ-enabled tables, as their users
// write them: every id-taking function called with plain, uncast parameters
// (pg sends them all untyped), and Sequelize's `version: true` (an integer
// column DEFAULT 0) creating then updating a row, a stale save, a plain UPDATE
// by another writer, and SQLSTATE, DETAIL (JSON) and HINT read from the error.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { DataTypes, OptimisticLockError, Sequelize } from 'sequelize';

import * as occ from '../occ.js';
import { connect, createDatabase, dropDatabase } from '../support/testdb.js';

let dbName;
let db;
let sequelize;
let Order;

before(async () => {
  dbName = await createDatabase('occ_node_orm');
  db = await connect(dbName);
  sequelize = new Sequelize(dbName, process.env.PGUSER, null, {
    dialect: 'postgres',
    host: process.env.PGHOST,
    port: process.env.PGPORT,
    logging: false,
  });
  // Sequelize's optimistic locking, with its defaults
  Order = sequelize.define('Order', {
    title: { type: DataTypes.STRING, allowNull: false },
    qty: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
  }, { tableName: 'orders', version: true });
});

after(async () => {
  await sequelize?.close();
  await db?.end();
  if (dbName) await dropDatabase(dbName);
});

beforeEach(async () => {
  await Order.sync({ force: true }); // "version" INTEGER NOT NULL DEFAULT 0
  await db.query("SELECT occ_enable('orders')");
  await db.query(`
    DROP TABLE IF EXISTS k_int, k_big, k_uuid, k_comp;
    CREATE TABLE k_int (id int PRIMARY KEY, v text);
    CREATE TABLE k_big (id bigint PRIMARY KEY, v text);
    CREATE TABLE k_uuid (id uuid PRIMARY KEY, v text);
    CREATE TABLE k_comp (region text, no int, v text, PRIMARY KEY (region, no));
    SELECT occ_enable('k_int'), occ_enable('k_big'), occ_enable('k_uuid'), occ_enable('k_comp');
    INSERT INTO k_int VALUES (1, 'a'), (2, 'a');
    INSERT INTO k_big VALUES (5000000000, 'a');
    INSERT INTO k_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
    INSERT INTO k_comp VALUES ('eu', 7, 'a');
  `);
});

const stored = async (id) =>
  (await db.query('SELECT title, qty, version, etag FROM orders WHERE id = $1', [id])).rows[0];

describe('plain node-postgres parameters, no casts', () => {
  it('occ_update takes int, bigint, uuid and composite ids as sent', async () => {
    const call = async (table, id) =>
      (await db.query('SELECT occ_update($1, $2, $3, $4) AS r', [table, id, 1, { v: 'b' }])).rows[0].r;
    assert.deepEqual((({ id, v, version }) => ({ id, v, version }))(await call('k_int', 1)),
      { id: 1, v: 'b', version: 2 });
    assert.equal((await call('k_big', '5000000000')).version, 2);
    assert.equal((await call('k_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).version, 2);
    // a composite key as a JSON object: pg sends an object as its JSON text
    assert.equal((await call('k_comp', { region: 'eu', no: 7 })).version, 2);
  });

  it('every other id-taking function too', async () => {
    const q = async (sql, params) => (await db.query(sql, params)).rows[0].r;
    assert.equal((await q('SELECT occ_try_update($1, $2, $3, $4) AS r', ['k_int', 1, 1, { v: 't' }])).status, 'updated');
    const { etag } = (await db.query('SELECT etag FROM k_int WHERE id = 1')).rows[0];
    assert.equal((await q('SELECT occ_update_if_match($1, $2, $3, $4) AS r', ['k_int', 1, `"${etag}"`, { v: 'm' }])).version, 3);
    assert.equal((await q('SELECT occ_delete($1, $2, $3) AS r', ['k_int', 1, 3])).v, 'm');
    assert.equal((await q('SELECT occ_delete_if_match($1, $2, $3) AS r', ['k_int', 2, '*'])).v, 'a');
    assert.equal((await db.query('SELECT count(*)::int AS n FROM k_int')).rows[0].n, 0);
  });

  it('reads SQLSTATE, DETAIL and HINT from a conflict; an id the key cannot read is 22P02', async () => {
    await db.query('SELECT occ_update($1, $2, $3, $4)', ['k_int', 1, 1, { v: 'b' }]);
    const err = await db.query('SELECT occ_update($1, $2, $3, $4)', ['k_int', 1, 1, { v: 'c' }]).catch((e) => e);
    assert.equal(err.code, 'OC409');
    const detail = JSON.parse(err.detail);
    assert.deepEqual([detail.key, detail.expected_version, detail.current_version], [1, 1, 2]);
    assert.match(err.hint, /Re-read the row/);
    const bad = await db.query('SELECT occ_update($1, $2, $3, $4)', ['k_int', 'one', 1, {}]).catch((e) => e);
    assert.equal(bad.code, '22P02');
    assert.equal((await db.query('SELECT v, version FROM k_int WHERE id = 1')).rows[0].v, 'b');
  });
});

describe('Sequelize with version: true', () => {
  it('creates then updates with its defaults', async () => {
    const order = await Order.create({ title: 'desk', qty: 1 });
    assert.equal(order.version, 0);
    assert.equal((await stored(order.id)).version, 0);
    const etag = (await stored(order.id)).etag;
    order.qty = 2;
    await order.save();
    assert.equal(order.version, 1);
    const row = await stored(order.id);
    assert.deepEqual([row.qty, row.version], [2, 1]);
    assert.notEqual(row.etag, etag);
    await order.update({ title: 'standing desk' });
    assert.equal((await stored(order.id)).version, 2);
  });

  it('a stale save raises OptimisticLockError and writes nothing', async () => {
    const a = await Order.create({ title: 'desk', qty: 1 });
    const b = await Order.findByPk(a.id);
    await a.update({ qty: 3 });
    const before = await stored(a.id);
    await assert.rejects(b.update({ qty: 4 }), OptimisticLockError);
    assert.deepEqual(await stored(a.id), before);
  });

  it('a plain UPDATE by another writer makes the next save stale', async () => {
    const order = await Order.create({ title: 'desk', qty: 1 });
    await db.query('UPDATE orders SET qty = 9 WHERE id = $1', [order.id]);
    const before = await stored(order.id);
    assert.equal(before.version, 1);
    await assert.rejects(order.update({ qty: 10 }), OptimisticLockError);
    assert.deepEqual(await stored(order.id), before);
    await (await order.reload()).update({ qty: 10 });
    assert.deepEqual([(await stored(order.id)).qty, (await stored(order.id)).version], [10, 2]);
  });

  it("with version_input 'next': saves and increment pass, a bulk Model.update is OC428", async () => {
    await db.query("SELECT occ_enable('orders', version_input => 'next')");
    const order = await Order.create({ title: 'desk', qty: 1 });
    await order.update({ qty: 2 });
    await order.increment('qty'); // SET version = version + 1
    assert.deepEqual([(await stored(order.id)).qty, (await stored(order.id)).version], [3, 2]);
    const before = await stored(order.id);
    const err = await Order.update({ qty: 9 }, { where: { id: order.id } }).catch((e) => e);
    assert.equal(err.original?.code, 'OC428');
    assert.ok(occ.fromPgError(err.original) instanceof occ.PreconditionRequired);
    assert.deepEqual(await stored(order.id), before);
  });

  it('occ_update through Sequelize with plain replacements; errors keep SQLSTATE, DETAIL and HINT', async () => {
    const order = await Order.create({ title: 'desk', qty: 1 });
    const [[{ r }]] = await sequelize.query('SELECT occ_update($1, $2, $3, $4) AS r',
      { bind: ['orders', order.id, 0, JSON.stringify({ qty: 5 })] });
    assert.deepEqual([r.qty, r.version], [5, 1]);
    const err = await sequelize.query('SELECT occ_update($1, $2, $3, $4)',
      { bind: ['orders', order.id, 0, '{}'] }).catch((e) => e);
    assert.equal(err.original.code, 'OC409');
    assert.equal(JSON.parse(err.original.detail).current_version, 1);
    assert.match(err.original.hint, /Re-read the row/);
    const mapped = occ.fromPgError(err.original);
    assert.ok(mapped instanceof occ.VersionConflict);
    assert.equal(mapped.currentVersion, 1);
  });
});
