"""SQLAlchemy 1.4 over psycopg2: occ's OC409/OC412 become StaleDataError.

The mapped class Doc keeps SQLAlchemy's own version_id_col on an occ-enabled
table (version_input 'next': the ORM assigns read + 1, as it does anyway), so
the ORM's conflicts and occ's arrive as the same exception.
"""

import unittest

import psycopg2
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.orm.exc import StaleDataError

import occ
import occ.sqlalchemy as occ_sa
from tests import support

DB = None
engine = None
Base = declarative_base()


class Doc(Base):
    __tablename__ = "docs"
    id = sa.Column(sa.Integer, primary_key=True)
    title = sa.Column(sa.Text, nullable=False)
    version = sa.Column(sa.BigInteger, nullable=False)
    # occ's trigger writes the ETag: fetch it back after every INSERT/UPDATE
    etag = sa.Column(sa.Text, server_default=sa.FetchedValue(), server_onupdate=sa.FetchedValue())
    __mapper_args__ = {"version_id_col": version, "eager_defaults": True}


def setUpModule():
    global DB, engine
    DB = support.create_database("occ_py_sqla")
    engine = sa.create_engine("postgresql+psycopg2:///" + DB, future=True)
    occ_sa.install(engine)


def tearDownModule():
    engine.dispose()
    support.drop_database(DB)


class SQLAlchemyTest(unittest.TestCase):
    def setUp(self):
        with engine.begin() as conn:
            conn.exec_driver_sql("""
                DROP TABLE IF EXISTS docs;
                CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL);
                SELECT occ_enable('docs', version_input => 'next');
                INSERT INTO docs (id, title) VALUES (1, 'one');
            """)
        self.session = Session(engine, future=True)
        self.addCleanup(self.session.close)

    def other_writer(self, sql):
        """Another client (psycopg 3, its own connection) writes meanwhile."""
        with support.connect(DB) as conn:
            conn.execute(sql)

    def db_row(self):
        with support.connect(DB) as conn:
            return occ.read(conn, "docs", 1)

    def test_orm_flush_bumps_version_once_and_fetches_etag(self):
        doc = self.session.get(Doc, 1)
        v, etag = doc.version, doc.etag
        doc.title = "edited"
        self.session.commit()
        row = self.db_row()
        self.assertEqual(row["version"], v + 1)  # ORM's +1 and occ's agree
        self.assertNotEqual(row["etag"], etag)
        self.assertEqual((doc.version, doc.etag), (row["version"], row["etag"]))

    def test_orm_insert_gets_version_one_and_etag(self):
        self.session.add(Doc(id=2, title="two"))
        self.session.commit()
        doc = self.session.get(Doc, 2)
        self.assertEqual(doc.version, 1)
        self.assertTrue(doc.etag)

    def test_orm_create_then_update(self):
        # SQLAlchemy's counter starts at 1: the version column has no DEFAULT
        # (occ starts at 1 too); a DEFAULT 0 column would start rows at 0
        self.session.add(Doc(id=3, title="three"))
        self.session.commit()
        doc = self.session.get(Doc, 3)
        doc.title = "three, edited"
        self.session.commit()
        row = self.db_row_of(3)
        self.assertEqual((row["title"], row["version"]), ("three, edited", 2))
        self.assertEqual((doc.version, doc.etag), (row["version"], row["etag"]))

    def db_row_of(self, id):
        with support.connect(DB) as conn:
            return occ.read(conn, "docs", id)

    def test_version_id_col_catches_a_plain_sql_writer(self):
        doc = self.session.get(Doc, 1)
        self.other_writer("UPDATE docs SET title = 'other', version = version + 1 WHERE id = 1")
        doc.title = "mine"
        with self.assertRaises(StaleDataError) as cm:
            self.session.commit()
        self.assertNotIsInstance(cm.exception, occ_sa.OccStaleDataError)  # the ORM's own
        self.session.rollback()
        self.assertEqual(self.db_row()["title"], "other")

    def test_occ_update_conflict_is_stale_data_error(self):
        doc = self.session.get(Doc, 1)
        row = occ_sa.update(self.session, "docs", 1, doc.version, {"title": "via occ"})
        self.session.commit()
        self.assertEqual(row["version"], 2)
        with self.assertRaises(StaleDataError) as cm:
            occ_sa.update(self.session, "docs", 1, 1, {"title": "stale"})
        e = cm.exception
        self.assertIsInstance(e, occ_sa.OccStaleDataError)
        self.assertEqual(e.sqlstate, "OC409")
        self.assertEqual((e.current_version, e.current_etag), (2, row["etag"]))
        self.assertEqual(e.detail["expected_version"], 1)
        self.assertIsInstance(e.occ_error, occ.VersionConflict)
        self.assertIsInstance(e.orig, psycopg2.Error)
        self.assertIn('version conflict on table "public.docs"', str(e))
        self.session.rollback()
        self.assertEqual(self.db_row()["title"], "via occ")

    def test_if_match_mismatch_is_stale_data_error(self):
        with self.assertRaises(StaleDataError) as cm:
            occ_sa.update_if_match(self.session, "docs", 1, '"stale"', {"title": "x"})
        e = cm.exception
        self.assertEqual(e.sqlstate, "OC412")
        self.assertIsInstance(e.occ_error, occ.PreconditionFailed)
        self.assertEqual(e.current_etag, self.db_row()["etag"])
        self.session.rollback()
        row = occ_sa.update_if_match(self.session, "docs", 1, '"%s"' % e.current_etag, {"title": "ok"})
        self.session.commit()
        self.assertEqual(row["title"], "ok")

    def test_core_update_with_stale_version_hits_the_trigger(self):
        doc = self.session.get(Doc, 1)
        stale = doc.version
        self.other_writer("SELECT occ_update('docs', 1, 1, '{\"title\": \"other\"}')")
        # no WHERE on the version, so only occ's trigger ('next' mode) can catch it
        stmt = sa.update(Doc.__table__).where(Doc.id == 1).values(title="mine", version=stale + 1)
        with self.assertRaises(StaleDataError) as cm:
            self.session.execute(stmt)
        self.assertEqual(cm.exception.current_version, 2)
        self.session.rollback()
        self.assertEqual(self.db_row()["title"], "other")

    def test_not_found_and_precondition_required_stay_dbapi_errors(self):
        with self.assertRaises(sa.exc.DBAPIError) as cm:
            occ_sa.update(self.session, "docs", 99, 1, {"title": "x"})
        self.assertNotIsInstance(cm.exception, StaleDataError)
        self.assertIsInstance(occ.from_db_error(cm.exception), occ.NotFound)
        self.session.rollback()
        with self.assertRaises(sa.exc.DBAPIError) as cm:
            self.session.execute(sa.update(Doc.__table__).where(Doc.id == 1).values(title="no version"))
        err = occ.from_db_error(cm.exception)
        self.assertIsInstance(err, occ.PreconditionRequired)
        self.assertEqual(err.http_status, 428)
        self.session.rollback()

    def test_without_the_hook_a_conflict_is_a_dbapi_error(self):
        plain = sa.create_engine("postgresql+psycopg2:///" + DB, future=True)
        self.addCleanup(plain.dispose)
        with Session(plain, future=True) as s:
            with self.assertRaises(sa.exc.DBAPIError) as cm:
                occ_sa.update(s, "docs", 1, 7, {"title": "x"})
            self.assertNotIsInstance(cm.exception, StaleDataError)
            self.assertEqual(occ.sqlstate_of(cm.exception), "OC409")
            s.rollback()
            occ_sa.install(plain)
            with self.assertRaises(StaleDataError):
                occ_sa.update(s, "docs", 1, 7, {"title": "x"})
            s.rollback()
            occ_sa.uninstall(plain)
            with self.assertRaises(sa.exc.DBAPIError):
                occ_sa.update(s, "docs", 1, 7, {"title": "x"})


if __name__ == "__main__":
    unittest.main()
