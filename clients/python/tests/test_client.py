"""The psycopg 3 wrappers and error classes against a real occ.

Every OC error class, the DETAIL each carries, the id forms (int, text, uuid,
composite), the extension in a schema off search_path, and occ_try_update
when the installed extension has it.
"""

import unittest
import uuid

import psycopg

import occ
from tests import support

DB = None


def setUpModule():
    global DB
    DB = support.create_database("occ_py_client")


def tearDownModule():
    support.drop_database(DB)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.conn = support.connect(DB)
        self.addCleanup(self.conn.close)
        self.conn.execute("""
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
        """)

    def row(self, table="docs", id=1):
        return occ.read(self.conn, table, id)

    def assertUnchanged(self, before, table="docs", id=1):
        self.assertEqual(self.row(table, id), before)

    # -- update -------------------------------------------------------------

    def test_update_applies_patch_and_bumps_version(self):
        before = self.row()
        after = occ.update(self.conn, "docs", 1, before["version"], {"title": "new", "body": {"b": 2}})
        self.assertEqual(after["version"], before["version"] + 1)
        self.assertNotEqual(after["etag"], before["etag"])
        self.assertEqual(after["title"], "new")
        self.assertEqual(after["body"], {"a": 1, "b": 2})  # jsonb columns merge (RFC 7396)
        self.assertEqual(self.row(), after)

    def test_update_with_stale_version_raises_version_conflict(self):
        before = self.row()
        occ.update(self.conn, "docs", 1, before["version"], {"title": "first"})
        current = self.row()
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.update(self.conn, "docs", 1, before["version"], {"title": "second"})
        e = cm.exception
        self.assertIsInstance(e, occ.OccError)
        self.assertEqual((e.sqlstate, e.http_status), ("OC409", 409))
        self.assertEqual(e.table, "public.docs")
        self.assertEqual(e.key, 1)
        self.assertEqual(e.expected_version, before["version"])
        self.assertEqual(e.current_version, current["version"])
        self.assertEqual(e.current_etag, current["etag"])
        self.assertEqual(e.etag_header, '"%s"' % current["etag"])
        self.assertIsNone(e.changed_fields)  # row granularity does not know them
        self.assertIsNone(e.conflicting_fields)
        self.assertEqual(e.detail["current_version"], current["version"])
        self.assertEqual(str(e), 'version conflict on table "public.docs" for key 1')
        self.assertEqual(e.hint, "Re-read the row and retry with its current version.")
        self.assertEqual((e.schema_name, e.table_name, e.column_name), ("public", "docs", "version"))
        self.assertIsInstance(e.__cause__, psycopg.Error)
        self.assertEqual(e.__cause__.sqlstate, "OC409")
        self.assertUnchanged(current)

    # -- update_if_match ----------------------------------------------------

    def test_update_if_match_takes_quoted_bare_list_and_star(self):
        r = self.row()
        r = occ.update_if_match(self.conn, "docs", 1, occ.quote_etag(r["etag"]), {"title": "quoted"})
        self.assertEqual(r["title"], "quoted")
        r = occ.update_if_match(self.conn, "docs", 1, r["etag"], {"title": "bare"})
        self.assertEqual(r["title"], "bare")
        r = occ.update_if_match(self.conn, "docs", 1, '"nope", "%s"' % r["etag"], {"title": "list"})
        self.assertEqual(r["title"], "list")
        r = occ.update_if_match(self.conn, "docs", 1, "*", {"title": "star"})
        self.assertEqual((r["title"], r["version"]), ("star", 5))

    def test_update_if_match_with_stale_etag_raises_precondition_failed(self):
        old = self.row()
        current = occ.update(self.conn, "docs", 1, old["version"], {"title": "moved on"})
        with self.assertRaises(occ.PreconditionFailed) as cm:
            occ.update_if_match(self.conn, "docs", 1, occ.quote_etag(old["etag"]), {"title": "late"})
        e = cm.exception
        self.assertEqual((e.sqlstate, e.http_status), ("OC412", 412))
        self.assertEqual(e.expected_etag, old["etag"])
        self.assertIsNone(e.expected_version)
        self.assertEqual(e.current_version, current["version"])
        self.assertEqual(e.etag_header, '"%s"' % current["etag"])
        self.assertEqual(e.hint, "Re-read the row and retry with its current ETag.")
        self.assertUnchanged(current)

    def test_weak_etag_never_matches(self):
        r = self.row()
        with self.assertRaises(occ.PreconditionFailed):
            occ.update_if_match(self.conn, "docs", 1, 'W/"%s"' % r["etag"], {"title": "weak"})
        self.assertUnchanged(r)

    # -- delete -------------------------------------------------------------

    def test_delete_returns_deleted_row(self):
        r = self.row()
        deleted = occ.delete(self.conn, "docs", 1, r["version"])
        self.assertEqual(deleted, r)
        with self.assertRaises(occ.NotFound):
            self.row()

    def test_delete_with_stale_version_raises_version_conflict(self):
        r = occ.update(self.conn, "docs", 1, 1, {"title": "v2"})
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.delete(self.conn, "docs", 1, 1)
        self.assertEqual(cm.exception.current_version, 2)
        self.assertUnchanged(r)

    def test_delete_if_match(self):
        r = self.row()
        with self.assertRaises(occ.PreconditionFailed) as cm:
            occ.delete_if_match(self.conn, "docs", 1, '"stale"')
        self.assertEqual(cm.exception.current_etag, r["etag"])
        self.assertUnchanged(r)
        self.assertEqual(occ.delete_if_match(self.conn, "docs", 1, occ.quote_etag(r["etag"])), r)
        with self.assertRaises(occ.NotFound):
            self.row()

    # -- not found ----------------------------------------------------------

    def test_missing_row_raises_not_found_everywhere(self):
        calls = {
            "update": lambda: occ.update(self.conn, "docs", 99, 1, {"title": "x"}),
            "update_if_match": lambda: occ.update_if_match(self.conn, "docs", 99, "*", {"title": "x"}),
            "delete": lambda: occ.delete(self.conn, "docs", 99, 1),
            "delete_if_match": lambda: occ.delete_if_match(self.conn, "docs", 99, "*"),
        }
        for name, call in calls.items():
            with self.subTest(name), self.assertRaises(occ.NotFound) as cm:
                call()
            e = cm.exception
            self.assertEqual((e.sqlstate, e.http_status), ("OC404", 404))
            self.assertEqual(e.detail, {"table": "public.docs", "key": 99})  # never a version
            self.assertIsNone(e.current_version)

    def test_read_missing_row_raises_not_found(self):
        with self.assertRaises(occ.NotFound) as cm:
            occ.read(self.conn, "docs", 99)
        self.assertEqual(cm.exception.detail, {"table": "public.docs", "key": 99})
        self.assertEqual(cm.exception.http_status, 404)

    # -- precondition required (plain SQL, through translate) --------------

    def test_plain_update_without_version_raises_precondition_required(self):
        r = self.row("strict_docs")
        with self.assertRaises(occ.PreconditionRequired) as cm, occ.translate():
            self.conn.execute("UPDATE strict_docs SET title = 'no version' WHERE id = 1")
        e = cm.exception
        self.assertEqual((e.sqlstate, e.http_status), ("OC428", 428))
        self.assertEqual(e.table, "public.strict_docs")
        self.assertEqual(e.current_version, r["version"])
        self.assertUnchanged(r, "strict_docs")

    def test_plain_update_with_wrong_version_raises_version_conflict(self):
        with self.assertRaises(occ.VersionConflict) as cm, occ.translate():
            self.conn.execute("UPDATE strict_docs SET title = 'x', version = 7 WHERE id = 1")
        self.assertEqual(cm.exception.current_version, 1)
        with occ.translate():
            self.conn.execute("UPDATE strict_docs SET title = 'x', version = 1 WHERE id = 1")
        self.assertEqual(self.row("strict_docs")["version"], 2)

    def test_one_base_class_catches_all_four(self):
        self.assertEqual(
            {c.sqlstate for c in (occ.VersionConflict, occ.PreconditionFailed, occ.NotFound,
                                  occ.PreconditionRequired)},
            {"OC409", "OC412", "OC404", "OC428"})
        for cls in (occ.VersionConflict, occ.PreconditionFailed, occ.NotFound, occ.PreconditionRequired):
            self.assertTrue(issubclass(cls, occ.OccError))
        caught = []
        for call in (lambda: occ.update(self.conn, "docs", 1, 9, {}),
                     lambda: occ.update_if_match(self.conn, "docs", 1, "x", {}),
                     lambda: occ.delete(self.conn, "docs", 9, 1)):
            try:
                call()
            except occ.OccError as e:
                caught.append(e.sqlstate)
        self.assertEqual(caught, ["OC409", "OC412", "OC404"])

    # -- other errors pass through -----------------------------------------

    def test_bad_input_keeps_postgres_error(self):
        with self.assertRaises(psycopg.errors.UndefinedColumn) as cm:
            occ.update(self.conn, "docs", 1, 1, {"no_such_column": 1})
        self.assertIsNone(occ.from_db_error(cm.exception))
        self.assertNotIsInstance(cm.exception, occ.OccError)

    def test_from_db_error_ignores_unknown_detail(self):
        class Diag:
            message_detail = "not json"
            message_primary = "version conflict"
            message_hint = schema_name = table_name = column_name = None

        class Fake(Exception):
            sqlstate = "OC409"
            diag = Diag()
        e = occ.from_db_error(Fake())
        self.assertIsInstance(e, occ.VersionConflict)
        self.assertEqual(e.detail, {})
        self.assertIsNone(e.current_version)

    def test_from_db_error_reads_a_wrapped_driver_error(self):
        class WrappedError(Exception):  # as Django wraps the driver's error (__cause__)
            pass
        try:
            try:
                self.conn.execute("SELECT occ_update('docs', 1, 7, '{}')")
            except psycopg.Error as e:
                raise WrappedError("wrapped") from e
        except WrappedError as w:
            wrapped = w
        e = occ.from_db_error(wrapped)
        self.assertIsInstance(e, occ.VersionConflict)
        self.assertEqual((e.expected_version, e.current_version), (7, 1))
        self.assertEqual(occ.sqlstate_of(wrapped), "OC409")

    def test_inside_transaction_error_then_rollback(self):
        conn = support.connect(DB, autocommit=False)
        self.addCleanup(conn.close)
        with self.assertRaises(occ.VersionConflict):
            occ.update(conn, "docs", 1, 5, {"title": "x"})
        conn.rollback()
        occ.update(conn, "docs", 1, 1, {"title": "committed"})
        conn.commit()
        self.assertEqual(self.row()["title"], "committed")

    # -- id forms -----------------------------------------------------------

    def test_uuid_key_as_str_and_uuid(self):
        u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        r = occ.update(self.conn, "by_uuid", u, 1, {"title": "str"})
        self.assertEqual(r["version"], 2)
        r = occ.update(self.conn, "by_uuid", uuid.UUID(u), 2, {"title": "uuid"})
        self.assertEqual(r["version"], 3)
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.update(self.conn, "by_uuid", u, 1, {"title": "stale"})
        self.assertEqual(cm.exception.key, u)

    def test_composite_key_as_dict(self):
        key = {"order_id": 7, "line": "x"}
        r = occ.update(self.conn, "lines", key, 1, {"qty": 5})
        self.assertEqual((r["qty"], r["version"]), (5, 2))
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.delete(self.conn, "lines", key, 1)
        self.assertEqual(cm.exception.key, key)
        self.assertEqual(occ.read(self.conn, "lines", key)["qty"], 5)
        self.assertEqual(occ.delete(self.conn, "lines", key, 2)["qty"], 5)

    def test_modify_reads_and_writes_at_the_read_version(self):
        r = occ.modify(self.conn, "docs", 2, lambda row: {"title": row["title"] + "!"})
        self.assertEqual((r["title"], r["version"]), ("two!", 2))
        self.assertEqual(occ.modify(self.conn, "docs", 2, lambda row: None), r)  # no change, no bump

    # -- occ_try_update -----------------------------------------------------

    def require_try_update(self):
        if not support.has_function(self.conn, "occ_try_update"):
            self.skipTest("occ_try_update is not in the installed extension (issue 3); "
                          "try_update tests skipped")

    def test_try_update_updated(self):
        self.require_try_update()
        res = occ.try_update(self.conn, "docs", 1, 1, {"title": "tried"})
        self.assertEqual(res.status, "updated")
        self.assertTrue(res.ok)
        self.assertEqual(res.row["title"], "tried")
        self.assertEqual(res.current_version, 2)
        self.assertEqual(self.row()["version"], 2)

    def test_try_update_conflict_does_not_raise(self):
        self.require_try_update()
        current = occ.update(self.conn, "docs", 1, 1, {"title": "first"})
        res = occ.try_update(self.conn, "docs", 1, 1, {"title": "second"})
        self.assertEqual(res.status, "conflict")
        self.assertFalse(res.ok)
        self.assertEqual(res.current_version, 2)
        self.assertEqual(res.row, current)  # the row as it is, to retry against
        self.assertEqual(self.row(), current)

    def test_try_update_unchanged(self):
        self.require_try_update()
        before = self.row()
        res = occ.try_update(self.conn, "docs", 1, 1, {"title": "one"})
        self.assertEqual(res.status, "unchanged")
        self.assertTrue(res.ok)
        self.assertEqual(res.row, before)
        self.assertEqual(self.row(), before)

    def test_try_update_not_found_does_not_raise(self):
        self.require_try_update()
        res = occ.try_update(self.conn, "docs", 99, 1, {"title": "x"})
        self.assertEqual(res.status, "not_found")
        self.assertFalse(res.ok)
        self.assertIsNone(res.row)


class FieldGranularityTest(unittest.TestCase):
    """granularity 'field': conflicts name the changed and conflicting fields."""

    def setUp(self):
        self.conn = support.connect(DB)
        self.addCleanup(self.conn.close)
        self.conn.execute("""
            DROP TABLE IF EXISTS fdocs;
            CREATE TABLE fdocs (id int PRIMARY KEY, a text, b text);
            SELECT occ_enable('fdocs', granularity => 'field');
            INSERT INTO fdocs VALUES (1, 'a', 'b');
        """)

    def test_conflict_names_changed_and_conflicting_fields(self):
        occ.update(self.conn, "fdocs", 1, 1, {"a": "a2"})
        occ.update(self.conn, "fdocs", 1, 1, {"b": "b2"})  # other field: merged
        with self.assertRaises(occ.VersionConflict) as cm:
            occ.update(self.conn, "fdocs", 1, 1, {"a": "mine"})
        e = cm.exception
        self.assertEqual(e.current_version, 3)
        self.assertEqual(sorted(e.changed_fields), ["a", "b"])
        self.assertEqual(e.conflicting_fields, ["a"])
        self.assertEqual(occ.read(self.conn, "fdocs", 1)["a"], "a2")

    def test_try_update_merged_and_conflict(self):
        if not support.has_function(self.conn, "occ_try_update"):
            self.skipTest("occ_try_update is not in the installed extension (issue 3); "
                          "try_update tests skipped")
        occ.update(self.conn, "fdocs", 1, 1, {"a": "a2"})
        res = occ.try_update(self.conn, "fdocs", 1, 1, {"b": "b2"})
        self.assertEqual(res.status, "merged")
        self.assertTrue(res.ok)
        self.assertEqual((res.row["a"], res.row["b"], res.current_version), ("a2", "b2", 3))
        self.assertIn("a", res.changed_fields)
        res = occ.try_update(self.conn, "fdocs", 1, 1, {"a": "mine"})
        self.assertEqual(res.status, "conflict")
        self.assertEqual(res.conflicting_fields, ("a",))
        self.assertEqual(res.row["a"], "a2")


class SchemaTest(unittest.TestCase):
    """The extension in its own schema, not on search_path: schema= qualifies the calls."""

    @classmethod
    def setUpClass(cls):
        cls.db = support.create_database("occ_py_schema")
        with support.connect(cls.db) as conn:
            conn.execute("""
                DROP EXTENSION occ;
                CREATE SCHEMA occ_ext;
                CREATE EXTENSION occ SCHEMA occ_ext;
                CREATE TABLE docs (id bigint PRIMARY KEY, title text);
                SELECT occ_ext.occ_enable('docs');
                INSERT INTO docs VALUES (1, 'one');
            """)

    @classmethod
    def tearDownClass(cls):
        support.drop_database(cls.db)

    def test_schema_qualified_calls(self):
        with support.connect(self.db) as conn:
            conn.execute("SET search_path = public")
            r = occ.read(conn, "docs", 1, schema="occ_ext")
            r = occ.update(conn, "docs", 1, r["version"], {"title": "x"}, schema="occ_ext")
            self.assertEqual(r["version"], 2)
            with self.assertRaises(occ.VersionConflict):
                occ.update(conn, "docs", 1, 1, {"title": "y"}, schema="occ_ext")
            r = occ.modify(conn, "docs", 1, lambda row: {"title": "z"}, schema="occ_ext")
            self.assertEqual(r["version"], 3)
            with self.assertRaises(psycopg.errors.UndefinedFunction):
                occ.update(conn, "docs", 1, 3, {"title": "w"})  # not on search_path


if __name__ == "__main__":
    unittest.main()
