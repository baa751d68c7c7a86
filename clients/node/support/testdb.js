// A database of its own for each test file, with occ installed. Connection
// settings come from libpq's variables (PGHOST, PGPORT, PGUSER), as
// scripts/test.sh sets them for its throwaway cluster.

import crypto from 'node:crypto';

import pg from 'pg';

const adminDb = () => process.env.OCC_ADMIN_DB ?? 'postgres';

async function admin(sql) {
  const client = new pg.Client({ database: adminDb() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Create a uniquely named database with occ installed; resolves to its name. */
export async function createDatabase(prefix) {
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE "${name}"`);
  const client = new pg.Client({ database: name });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION occ');
  } finally {
    await client.end();
  }
  return name;
}

export function dropDatabase(name) {
  return admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** A connected pg.Client on the database. */
export async function connect(database) {
  const client = new pg.Client({ database });
  await client.connect();
  return client;
}

/** Is there a function of that name in the installed occ extension? */
export async function hasFunction(db, name) {
  const res = await db.query(
    `SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass
        AND d.objid = p.oid AND d.deptype = 'e'
       JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'occ'
      WHERE p.proname = $1) AS found`, [name]);
  return res.rows[0].found;
}
