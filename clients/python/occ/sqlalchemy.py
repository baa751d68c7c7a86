"""SQLAlchemy 1.4: occ's conflicts as the ORM's own StaleDataError.

    from occ.sqlalchemy import install
    engine = create_engine("postgresql+psycopg2:///app")
    install(engine)

After ``install``, a statement on that engine that fails with OC409 (version
conflict) or OC412 (ETag mismatch) raises ``OccStaleDataError``, a subclass of
``sqlalchemy.orm.exc.StaleDataError`` that also carries the parsed DETAIL, so
application code handles occ's conflicts and the conflicts that the ORM's own
``version_id_col`` detects in one ``except StaleDataError``. Other OC errors
(OC404, OC428) stay SQLAlchemy's ``DBAPIError``; ``occ.from_db_error(e)`` reads
them.
"""

from sqlalchemy import event
from sqlalchemy.orm.exc import StaleDataError

from .errors import from_db_error

__all__ = ["install", "uninstall", "handle_error", "OccStaleDataError", "STALE_SQLSTATES"]

STALE_SQLSTATES = frozenset({"OC409", "OC412"})


class OccStaleDataError(StaleDataError):
    """A StaleDataError raised for occ's OC409/OC412.

    ``occ_error`` is the ``occ.VersionConflict`` or ``occ.PreconditionFailed``
    (with current_version, current_etag, changed_fields, ...); ``orig`` is the
    driver's exception, ``sqlstate`` its SQLSTATE.
    """

    def __init__(self, occ_error, orig):
        super().__init__(str(occ_error))
        self.occ_error = occ_error
        self.orig = orig
        self.sqlstate = occ_error.sqlstate
        self.detail = occ_error.detail
        self.current_version = occ_error.current_version
        self.current_etag = occ_error.current_etag
        self.changed_fields = occ_error.changed_fields
        self.conflicting_fields = occ_error.conflicting_fields


def handle_error(context):
    """The ``handle_error`` hook: an OccStaleDataError for OC409/OC412, else None."""
    orig = context.original_exception
    occ_error = from_db_error(orig)
    if occ_error is None or occ_error.sqlstate not in STALE_SQLSTATES:
        return None
    stale = OccStaleDataError(occ_error, orig)
    stale.__cause__ = orig
    return stale


def install(engine):
    """Listen for ``handle_error`` on ``engine`` (an Engine, or Engine class for all)."""
    if not event.contains(engine, "handle_error", handle_error):
        event.listen(engine, "handle_error", handle_error, retval=True)
    return engine


def uninstall(engine):
    """Remove the hook that ``install`` added."""
    if event.contains(engine, "handle_error", handle_error):
        event.remove(engine, "handle_error", handle_error)


def _call(name, conn, table, id, arg, patch, schema):
    from sqlalchemy import cast, func, literal, select
    from sqlalchemy.dialects.postgresql import JSONB

    fn = getattr(getattr(func, schema), name) if schema else getattr(func, name)
    args = [literal(table), id if not isinstance(id, dict) else cast(literal(id, JSONB), JSONB), arg]
    if patch is not None:
        args.append(cast(literal(patch, JSONB), JSONB))
    return conn.execute(select(fn(*args, type_=JSONB))).scalar_one()


def update(conn, table, id, expected_version, patch, *, schema=None):
    """``occ_update`` through a Session or Connection; the new row as a dict.

    A conflict raises OccStaleDataError (with ``install``). Objects of that row
    already in a Session are stale afterwards: ``session.expire(obj)``.
    """
    return _call("occ_update", conn, table, id, expected_version, patch, schema)


def update_if_match(conn, table, id, if_match, patch, *, schema=None):
    """``occ_update_if_match`` through a Session or Connection; the new row as a dict."""
    return _call("occ_update_if_match", conn, table, id, if_match, patch, schema)
