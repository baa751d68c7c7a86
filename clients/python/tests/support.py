"""A database of its own for each test module, with occ installed.

Connection settings come from libpq's environment (PGHOST, PGPORT, PGUSER), as
scripts/test.sh sets them for its throwaway cluster. The database is dropped
again when the module's tests are done.
"""

import os
import uuid

import psycopg
from psycopg import sql


def _admin():
    return psycopg.connect(dbname=os.environ.get("OCC_ADMIN_DB", "postgres"), autocommit=True)


def create_database(prefix):
    """Create a uniquely named database with occ installed; return its name."""
    name = "%s_%d_%s" % (prefix, os.getpid(), uuid.uuid4().hex[:8])
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dbname=name, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION occ")
    return name


def drop_database(name):
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def connect(dbname, **kwargs):
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(dbname=dbname, **kwargs)


def has_function(conn, name):
    """Is there a function of that name in the installed occ extension?"""
    return conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p"
        " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass"
        "  AND d.objid = p.oid AND d.deptype = 'e'"
        " JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'occ'"
        " WHERE p.proname = %s)", [name]).fetchone()[0]
