"""Python client for the occ PostgreSQL extension (psycopg 3).

    import occ
    row = occ.update(conn, "docs", 42, expected_version=3, patch={"title": "x"})
    try:
        occ.update_if_match(conn, "docs", 42, request_if_match, patch)
    except occ.PreconditionFailed as e:
        answer(412, etag=e.etag_header)
    occ.modify(conn, "docs", 42, lambda row: {"hits": row["hits"] + 1})  # re-read + retry

``occ.sqlalchemy`` maps OC409/OC412 to SQLAlchemy's StaleDataError.
"""

from .errors import (OccError, NotFound, PreconditionFailed, PreconditionRequired,
                     RetryExhausted, VersionConflict, from_db_error, quote_etag,
                     sqlstate_of, translate)
from .retry import RETRYABLE_SQLSTATES, backoff_delay, retry

try:  # the wrappers need psycopg 3; the errors and retry work without it
    from .client import (TryResult, delete, delete_if_match, modify, read, try_update,
                         update, update_if_match)
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "OccError", "VersionConflict", "PreconditionFailed", "NotFound", "PreconditionRequired",
    "RetryExhausted", "from_db_error", "translate", "sqlstate_of", "quote_etag",
    "retry", "backoff_delay", "RETRYABLE_SQLSTATES",
    "update", "update_if_match", "delete", "delete_if_match", "try_update", "TryResult",
    "read", "modify",
]
