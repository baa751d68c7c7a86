"""occ's functions called with plain psycopg 3 parameters, no casts in the SQL.

psycopg 3 sends a Python str untyped (and an int typed), so
``SELECT occ_update(%s, %s, %s, %s)`` must work with the id, version and patch
given as str, for int, bigint, text, uuid and composite keys. Also: a row created
the way an ORM with a 0-based version creates it (lock_version DEFAULT 0) is
updated at version 0, and SQLSTATE, DETAIL (JSON) and HINT come with the error.
"""

import json
import unittest

import psycopg

import occ
from tests import support

DB = None


def setUpModule():
    global DB
    DB = support.create_database("occ_py_plain")


def tearDownModule():
    support.drop_database(DB)


class PlainParamsTest(unittest.TestCase):
    def setUp(self):
        self.conn = support.connect(DB)
        self.addCleanup(self.conn.close)
        self.conn.execute("""
            DROP TABLE IF EXISTS k_int, k_big, k_text, k_uuid, k_comp, orders;
            CREATE TABLE k_int (id int PRIMARY KEY, v text);
            CREATE TABLE k_big (id bigint PRIMARY KEY, v text);
            CREATE TABLE k_text (id text PRIMARY KEY, v text);
            CREATE TABLE k_uuid (id uuid PRIMARY KEY, v text);
            CREATE TABLE k_comp (region text, no int, v text, PRIMARY KEY (region, no));
            SELECT occ_enable('k_int'), occ_enable('k_big'), occ_enable('k_text'),
                   occ_enable('k_uuid'), occ_enable('k_comp');
            INSERT INTO k_int VALUES (1, 'a'), (2, 'a');
            INSERT INTO k_big VALUES (5000000000, 'a');
            INSERT INTO k_text VALUES ('abc', 'a');
            INSERT INTO k_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
            INSERT INTO k_comp VALUES ('eu', 7, 'a');
            CREATE TABLE orders (id serial PRIMARY KEY, title text NOT NULL,
                                 lock_version integer NOT NULL DEFAULT 0);
            SELECT occ_enable('orders', version_column => 'lock_version');
        """)

    def call(self, sql, params):
        return self.conn.execute(sql, params).fetchone()[0]

    def test_occ_update_takes_every_argument_as_a_str(self):
        upd = "SELECT occ_update(%s, %s, %s, %s)"
        for table, id in [("k_int", "1"), ("k_big", "5000000000"), ("k_text", "abc"),
                          ("k_uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                          ("k_comp", '{"region": "eu", "no": 7}')]:
            with self.subTest(table=table):
                row = self.call(upd, [table, id, "1", '{"v": "b"}'])
                self.assertEqual((row["v"], row["version"]), ("b", 2))
        # an int id (psycopg types it) still goes to the "any" function
        self.assertEqual(self.call(upd, ["k_int", 1, 2, '{"v": "c"}'])["version"], 3)

    def test_every_id_taking_function_takes_a_str_id(self):
        res = self.call("SELECT occ_try_update(%s, %s, %s, %s)", ["k_int", "1", "1", '{"v": "t"}'])
        self.assertEqual(res["status"], "updated")
        etag = self.call("SELECT etag FROM k_int WHERE id = 1", [])
        row = self.call("SELECT occ_update_if_match(%s, %s, %s, %s)",
                        ["k_int", "1", '"%s"' % etag, '{"v": "m"}'])
        self.assertEqual(row["version"], 3)
        self.assertEqual(self.call("SELECT occ_delete(%s, %s, %s)", ["k_int", "1", "3"])["v"], "m")
        self.assertEqual(self.call("SELECT occ_delete_if_match(%s, %s, %s)", ["k_int", "2", "*"])["v"], "a")
        self.assertEqual(self.call("SELECT count(*) FROM k_int", []), 0)

    def test_errors_carry_sqlstate_detail_and_hint(self):
        self.call("SELECT occ_update(%s, %s, %s, %s)", ["k_int", "1", "1", '{"v": "b"}'])
        with self.assertRaises(psycopg.Error) as cm:
            self.call("SELECT occ_update(%s, %s, %s, %s)", ["k_int", "1", "1", '{"v": "c"}'])
        e = cm.exception
        self.assertEqual(e.sqlstate, "OC409")
        detail = json.loads(e.diag.message_detail)
        self.assertEqual((detail["key"], detail["expected_version"], detail["current_version"]), (1, 1, 2))
        self.assertIn("Re-read the row", e.diag.message_hint)
        self.assertIsInstance(occ.from_db_error(e), occ.VersionConflict)
        # an id the key's type cannot read: 22P02, nothing written
        with self.assertRaises(psycopg.Error) as cm:
            self.call("SELECT occ_update(%s, %s, %s, %s)", ["k_int", "one", "2", '{"v": "x"}'])
        self.assertEqual(cm.exception.sqlstate, "22P02")
        self.assertEqual(self.call("SELECT v FROM k_int WHERE id = 1", []), "b")

    def test_create_then_update_from_a_zero_default(self):
        # as an ORM with a 0-based version does: insert, keep 0, update at 0
        id, version = self.conn.execute(
            "INSERT INTO orders (title, lock_version) VALUES (%s, %s) RETURNING id, lock_version",
            ["desk", 0]).fetchone()
        self.assertEqual(version, 0)
        row = occ.update(self.conn, "orders", id, 0, {"title": "standing desk"})
        self.assertEqual(row["lock_version"], 1)
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.update(self.conn, "orders", id, 0, {"title": "stale"})
        self.assertEqual(cm.exception.current_version, 1)
