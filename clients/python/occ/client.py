"""occ's SQL functions as Python calls over psycopg 3.

Each wrapper runs one statement on the connection it is given and returns the
row as a dict; an OC-class error comes out as the matching ``OccError``
subclass. The wrappers do not commit: with ``autocommit=False`` the caller
commits, or rolls back after an error, as for any statement.
"""

import dataclasses
import json

from psycopg import sql
from psycopg.types.json import Jsonb

from .errors import NotFound, translate
from .retry import retry

__all__ = ["update", "update_if_match", "delete", "delete_if_match", "try_update",
           "TryResult", "read", "modify"]


def _fn(name, schema):
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def _id_arg(id):
    """The placeholder and value for the ``"any"`` id argument.

    A server-side parameter needs a type for ``"any"``: a str goes as text (the
    server converts it with the key type's input function), a dict (composite
    key) as jsonb, anything else with the type psycopg gives it.
    """
    if isinstance(id, (dict, list)):
        return sql.SQL("%s"), Jsonb(id)
    if id is None or isinstance(id, str):
        return sql.SQL("%s::text"), id
    return sql.SQL("%s"), id


def _patch(patch):
    """A patch as a dict (or a str of JSON) for the jsonb argument."""
    return ("%s::jsonb", patch if isinstance(patch, str) else Jsonb(patch))


def _version(v):
    return ("%s::bigint", v)


def _if_match(v):
    return ("%s::text", v)


def _run(conn, name, table, id, args, schema):
    """SELECT schema.name(table::regclass, id, args...) -> the jsonb result.

    ``args`` is a list of (placeholder, value) pairs.
    """
    id_ph, id_val = _id_arg(id)
    placeholders = [sql.SQL("%s::regclass"), id_ph] + [sql.SQL(ph) for ph, _ in args]
    query = sql.SQL("SELECT {}({})").format(_fn(name, schema), sql.SQL(", ").join(placeholders))
    with translate():
        return conn.execute(query, [table, id_val] + [v for _, v in args]).fetchone()[0]


def update(conn, table, id, expected_version, patch, *, schema=None):
    """``occ_update``: apply ``patch`` if the row is at ``expected_version``; the new row.

    Raises VersionConflict (OC409) or NotFound (OC404).
    """
    return _run(conn, "occ_update", table, id, [_version(expected_version), _patch(patch)], schema)


def update_if_match(conn, table, id, if_match, patch, *, schema=None):
    """``occ_update_if_match``: apply ``patch`` if ``if_match`` (an If-Match value) matches.

    ``if_match`` may be bare, quoted, a comma-separated list, or ``*``.
    Raises PreconditionFailed (OC412) or NotFound (OC404).
    """
    return _run(conn, "occ_update_if_match", table, id, [_if_match(if_match), _patch(patch)], schema)


def delete(conn, table, id, expected_version, *, schema=None):
    """``occ_delete``: delete the row if it is at ``expected_version``; the deleted row."""
    return _run(conn, "occ_delete", table, id, [_version(expected_version)], schema)


def delete_if_match(conn, table, id, if_match, *, schema=None):
    """``occ_delete_if_match``: delete the row if ``if_match`` matches; the deleted row."""
    return _run(conn, "occ_delete_if_match", table, id, [_if_match(if_match)], schema)


@dataclasses.dataclass(frozen=True)
class TryResult:
    """What ``occ_try_update`` returns.

    status: "updated", "merged", "unchanged", "conflict" or "not_found";
    row: the row after the call (None when not found);
    current_version: the row's version (None when not found);
    conflicting_fields: the fields that conflicted (empty unless "conflict");
    changed_fields: with field granularity, the fields changed since
    expected_version (None when the result does not say).
    """
    status: str
    row: dict = None
    current_version: int = None
    conflicting_fields: tuple = ()
    changed_fields: tuple = None
    raw: dict = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def ok(self):
        """True when the patch is in the row (updated, merged or unchanged)."""
        return self.status in ("updated", "merged", "unchanged")


def try_update(conn, table, id, expected_version, patch, *, schema=None):
    """``occ_try_update``: like ``update`` but reports a conflict or a missing row
    in its result instead of raising; returns a ``TryResult``.
    """
    res = _run(conn, "occ_try_update", table, id, [_version(expected_version), _patch(patch)], schema)
    res = res or {}
    return TryResult(status=res.get("status"), row=res.get("row"),
                     current_version=res.get("current_version"),
                     conflicting_fields=tuple(res.get("conflicting_fields") or ()),
                     changed_fields=(tuple(res["changed_fields"]) if res.get("changed_fields") is not None
                                     else None),
                     raw=res)


@dataclasses.dataclass(frozen=True)
class _TableInfo:
    name: str            # the regclass text, quoted as SQL needs
    qualified: str       # schema.table, as occ's DETAIL names it
    key_columns: tuple
    version_column: str
    etag_column: str


def _table_info(conn, table, schema):
    view = _fn("occ_tables", schema)
    row = conn.execute(
        sql.SQL("SELECT o.table_name::text, format('%%I.%%I', n.nspname, c.relname), "
                "o.key_columns::text[], o.version_column::text, o.etag_column::text "
                "FROM {} o JOIN pg_catalog.pg_class c ON c.oid = o.table_name "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE o.table_name = %s::regclass").format(view),
        [table]).fetchone()
    if row is None:
        raise ValueError("table %s is not enabled for occ" % table)
    return _TableInfo(row[0], row[1], tuple(row[2]), row[3], row[4])


def _read(conn, info, id):
    if len(info.key_columns) == 1:
        where = sql.SQL("{} = %s").format(sql.Identifier(info.key_columns[0]))
        params = [id]
    else:
        if not isinstance(id, dict):
            raise TypeError("a composite key is a dict naming every key column")
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in info.key_columns)
        params = [id[c] for c in info.key_columns]
    # info.name is regclass output: already quoted by the server
    query = sql.SQL("SELECT to_jsonb(t) FROM {} AS t WHERE {}").format(sql.SQL(info.name), where)
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise NotFound('row not found in table "%s" for key %s'
                       % (info.qualified, json.dumps(id, default=str, separators=(",", ":"))),
                       detail={"table": info.qualified, "key": id}, sqlstate="OC404")
    return row[0]


def read(conn, table, id, *, schema=None):
    """The row of an occ-enabled table as a dict (version and ETag included).

    Raises NotFound when there is no such row.
    """
    return _read(conn, _table_info(conn, table, schema), id)


def modify(conn, table, id, change, *, schema=None, **retry_options):
    """Read-modify-write with retry: read the row, ``patch = change(row)``, and
    ``update`` it at the version read; on a conflict re-read and re-apply, with
    the backoff of ``occ.retry`` (``retry_options`` go to it). ``change`` may
    return None or {} to leave the row as it is. Returns the row written.

        occ.modify(conn, "docs", 42, lambda row: {"hits": row["hits"] + 1})
    """
    info = _table_info(conn, table, schema)

    def attempt():
        row = _read(conn, info, id)
        patch = change(row)
        if not patch:
            return row
        return update(conn, table, id, row[info.version_column], patch, schema=schema)

    retry_options.setdefault("conn", conn)
    return retry(attempt, **retry_options)
