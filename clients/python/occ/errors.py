"""The OC-class errors as Python exceptions, for any PostgreSQL driver.

occ raises SQLSTATE OC409, OC412, OC404 and OC428; the last three digits are
the HTTP status, and the DETAIL is one line of JSON. ``from_db_error`` turns a
driver's exception (psycopg 3 or psycopg2) into the matching ``OccError``
subclass with that DETAIL parsed; ``translate`` does it around a block.
"""

import contextlib
import json

__all__ = [
    "OccError",
    "VersionConflict",
    "PreconditionFailed",
    "NotFound",
    "PreconditionRequired",
    "RetryExhausted",
    "from_db_error",
    "translate",
    "sqlstate_of",
    "quote_etag",
]


def quote_etag(etag):
    """An ETag as an HTTP header carries it: ``abc`` -> ``"abc"`` (None stays None)."""
    return None if etag is None else '"%s"' % etag


class OccError(Exception):
    """An OC-class error raised by occ. Subclasses name the SQLSTATE.

    Attributes (None when the DETAIL leaves them out):
      sqlstate, http_status, message, hint, detail (the parsed DETAIL dict),
      table, key, expected_version, expected_etag, current_version,
      current_etag, changed_fields, conflicting_fields,
      schema_name, table_name, column_name (diagnostic fields).
    """

    sqlstate = "OC000"
    http_status = None

    def __init__(self, message, detail=None, hint=None, sqlstate=None,
                 schema_name=None, table_name=None, column_name=None):
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate
            if sqlstate[2:].isdigit():
                self.http_status = int(sqlstate[2:])
        self.message = message
        self.hint = hint
        self.detail = dict(detail or {})
        self.schema_name = schema_name
        self.table_name = table_name
        self.column_name = column_name
        d = self.detail
        self.table = d.get("table")
        self.key = d.get("key")
        self.expected_version = d.get("expected_version")
        self.expected_etag = d.get("expected_etag")
        self.current_version = d.get("current_version")
        self.current_etag = d.get("current_etag")
        self.changed_fields = d.get("changed_fields")
        self.conflicting_fields = d.get("conflicting_fields")

    @property
    def etag_header(self):
        """The current ETag, quoted for an HTTP ``ETag`` header, or None."""
        return quote_etag(self.current_etag)

    def __str__(self):
        return self.message


class VersionConflict(OccError):
    """OC409: the row exists but is not at the expected version."""
    sqlstate = "OC409"
    http_status = 409


class PreconditionFailed(OccError):
    """OC412: the row's ETag does not match the If-Match value."""
    sqlstate = "OC412"
    http_status = 412


class NotFound(OccError):
    """OC404: no such row, or row-level security hides it."""
    sqlstate = "OC404"
    http_status = 404


class PreconditionRequired(OccError):
    """OC428: an UPDATE did not assign the version (version_input expected/next)."""
    sqlstate = "OC428"
    http_status = 428


class RetryExhausted(Exception):
    """``retry`` gave up: ``attempts`` attempts all failed; ``last_error`` is the last one."""

    def __init__(self, attempts, last_error):
        super().__init__("gave up after %d attempt%s: %s"
                         % (attempts, "" if attempts == 1 else "s", last_error))
        self.attempts = attempts
        self.last_error = last_error


_CLASSES = {c.sqlstate: c for c in
            (VersionConflict, PreconditionFailed, NotFound, PreconditionRequired)}


def _candidates(exc):
    # the exception itself, then what it wraps: SQLAlchemy's .orig, Django's __cause__
    yield exc
    for inner in (getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        if inner is not None and inner is not exc:
            yield inner


def _state(e):
    state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    return state if isinstance(state, str) else None


def sqlstate_of(exc):
    """The SQLSTATE of a psycopg 3 or psycopg2 exception, or of the one a
    SQLAlchemy (``.orig``) or Django (``__cause__``) exception wraps; else None."""
    for e in _candidates(exc):
        state = _state(e)
        if state:
            return state
    return None


def _driver_error(exc):
    for e in _candidates(exc):
        if _state(e):
            return e
    return exc


def from_db_error(exc):
    """The OccError for a driver exception whose SQLSTATE is in class OC, else None."""
    if isinstance(exc, OccError):
        return exc
    state = sqlstate_of(exc)
    if not state or not state.startswith("OC"):
        return None
    err = _driver_error(exc)
    diag = getattr(err, "diag", None)
    get = (lambda name: getattr(diag, name, None)) if diag is not None else (lambda name: None)
    raw = get("message_detail")
    try:
        detail = json.loads(raw) if raw else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    message = get("message_primary") or str(err).split("\n", 1)[0]
    cls = _CLASSES.get(state, OccError)
    occ = cls(message, detail=detail, hint=get("message_hint"), sqlstate=state,
              schema_name=get("schema_name"), table_name=get("table_name"),
              column_name=get("column_name"))
    occ.__cause__ = err
    return occ


@contextlib.contextmanager
def translate():
    """Re-raise OC-class driver errors raised in the block as OccError subclasses.

        with occ.translate():
            cur.execute("UPDATE docs SET title = %s, version = %s WHERE id = %s", ...)
    """
    try:
        yield
    except Exception as exc:
        occ = from_db_error(exc)
        if occ is None or occ is exc:
            raise
        raise occ from exc
