"""Retrying an optimistic write: capped exponential backoff with full jitter.

Each failed attempt waits ``random() * min(max_delay, base_delay * 2 ** (n - 1))``
seconds (n = failures so far) before the next one, so clients that collided
spread out instead of colliding again, and nobody spins. After ``attempts``
attempts, ``RetryExhausted`` says so and carries the last error.
"""

import random as _random
import time

from .errors import OccError, PreconditionFailed, RetryExhausted, VersionConflict, from_db_error, sqlstate_of

__all__ = ["retry", "backoff_delay", "RETRYABLE_SQLSTATES"]

# Worth another attempt after re-reading: a version or ETag conflict, and the
# serialization failure and deadlock that REPEATABLE READ / SERIALIZABLE give.
RETRYABLE_SQLSTATES = frozenset({"OC409", "OC412", "40001", "40P01"})


def backoff_delay(failures, base_delay, max_delay, rand):
    """The wait after the ``failures``-th failure: full jitter over a capped exponential."""
    return rand() * min(max_delay, base_delay * (2 ** (failures - 1)))


def _retryable(exc, retry_on):
    if retry_on is not None:
        return isinstance(exc, retry_on)
    if isinstance(exc, (VersionConflict, PreconditionFailed)):
        return True
    if isinstance(exc, OccError):
        return False
    return sqlstate_of(exc) in RETRYABLE_SQLSTATES


def retry(fn, *, conn=None, attempts=5, base_delay=0.01, max_delay=1.0,
          retry_on=None, sleep=time.sleep, random=_random.random, on_retry=None):
    """Call ``fn()`` until it succeeds; return its result.

    ``fn`` must re-read what it changes and re-apply the change each time
    (see ``occ.modify``). A version conflict (OC409), an ETag mismatch (OC412),
    a serialization failure (40001) or a deadlock (40P01) is retried; anything
    else, e.g. ``NotFound``, is raised at once. ``retry_on`` (a class or tuple
    of classes) replaces that choice.

    With ``conn`` (a psycopg 3 connection), each attempt runs in
    ``conn.transaction()``, so a failed attempt is rolled back (to a savepoint
    if a transaction is open; use READ COMMITTED, or no outer transaction, so
    that the re-read sees the winner's row).

    ``sleep`` and ``random`` are injectable for tests; ``on_retry(attempt,
    error, delay)`` is called before each wait. OC errors from the driver are
    raised as ``OccError`` subclasses.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("delays must not be negative")
    for attempt in range(1, attempts + 1):
        try:
            if conn is not None:
                with conn.transaction():
                    return fn()
            return fn()
        except Exception as exc:
            err = from_db_error(exc) or exc
            if not _retryable(err, retry_on):
                if err is exc:
                    raise
                raise err from exc
            if attempt == attempts:
                raise RetryExhausted(attempts, err) from err
            delay = backoff_delay(attempt, base_delay, max_delay, random)
            if on_retry is not None:
                on_retry(attempt, err, delay)
            sleep(delay)
    raise AssertionError("unreachable")
