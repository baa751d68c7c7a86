// Node client for the occ PostgreSQL extension, over node-postgres (pg).
//
// Wrappers for occ's SQL functions that return the row as an object, error
// classes for the OC-class SQLSTATEs with the DETAIL JSON parsed, and a retry
// helper with capped exponential backoff and full jitter. `db` is anything
// with pg's `query(text, values)`: a pg.Client, a pg.Pool or a PoolClient.

/** The OC-class SQLSTATEs, whose last three digits are the HTTP status. */
export const SQLSTATE = Object.freeze({
  VERSION_CONFLICT: 'OC409',
  PRECONDITION_FAILED: 'OC412',
  NOT_FOUND: 'OC404',
  PRECONDITION_REQUIRED: 'OC428',
});

/** An ETag as an HTTP header carries it: abc -> "abc". */
export function quoteEtag(etag) {
  return etag == null ? null : `"${etag}"`;
}

/**
 * An error raised by occ (SQLSTATE class OC). `code` is the SQLSTATE, `status`
 * the HTTP status; the parsed DETAIL is `detail`, and its fields are also
 * properties (undefined when the DETAIL leaves them out).
 */
export class OccError extends Error {
  constructor(message, { code = 'OC000', detail = {}, hint, schema, table, column, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.status = /^OC\d{3}$/.test(code) ? Number(code.slice(2)) : undefined;
    this.detail = detail;
    this.hint = hint;
    this.schemaName = schema;
    this.tableName = table;
    this.columnName = column;
    this.table = detail.table;
    this.key = detail.key;
    this.expectedVersion = detail.expected_version;
    this.expectedEtag = detail.expected_etag;
    this.currentVersion = detail.current_version;
    this.currentEtag = detail.current_etag;
    this.changedFields = detail.changed_fields;
    this.conflictingFields = detail.conflicting_fields;
  }

  /** The current ETag, quoted for an HTTP ETag header (undefined if unknown). */
  get etagHeader() {
    return this.currentEtag == null ? undefined : quoteEtag(this.currentEtag);
  }
}

/** OC409: the row exists but is not at the expected version. */
export class VersionConflict extends OccError {}
/** OC412: the row's ETag does not match the If-Match value. */
export class PreconditionFailed extends OccError {}
/** OC404: no such row, or row-level security hides it. */
export class NotFound extends OccError {}
/** OC428: an UPDATE did not assign the version (version_input expected/next). */
export class PreconditionRequired extends OccError {}

const CLASSES = {
  OC409: VersionConflict,
  OC412: PreconditionFailed,
  OC404: NotFound,
  OC428: PreconditionRequired,
};

/** retry() gave up: every one of `attempts` attempts failed; `cause` is the last error. */
export class RetryExhausted extends Error {
  constructor(attempts, lastError) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${lastError.message}`,
      { cause: lastError });
    this.name = 'RetryExhausted';
    this.attempts = attempts;
    this.lastError = lastError;
  }
}

/** The OccError for a pg error whose SQLSTATE is in class OC, else null. */
export function fromPgError(err) {
  if (err instanceof OccError) return err;
  const code = err?.code;
  if (typeof code !== 'string' || !code.startsWith('OC')) return null;
  let detail = {};
  try {
    const parsed = err.detail ? JSON.parse(err.detail) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) detail = parsed;
  } catch {
    // not JSON: keep the message, leave the fields out
  }
  const Cls = CLASSES[code] ?? OccError;
  return new Cls(err.message, {
    code, detail, hint: err.hint, schema: err.schema, table: err.table, column: err.column, cause: err,
  });
}

/** Run fn(); rethrow an OC-class pg error as its OccError subclass. */
export async function translate(fn) {
  try {
    return await fn();
  } catch (err) {
    throw fromPgError(err) ?? err;
  }
}

function ident(s) {
  return `"${String(s).replace(/"/g, '""')}"`;
}

function fnName(name, schema) {
  return schema ? `${ident(schema)}.${ident(name)}` : name;
}

// pg sends parameters untyped, and an "any" argument needs a type: a key
// object (composite key) goes as jsonb, anything else as text, which the
// server converts with the key type's input function.
function idArg(id) {
  if (id !== null && typeof id === 'object' && !(id instanceof Date) && !Buffer.isBuffer(id)) {
    return ['jsonb', JSON.stringify(id)];
  }
  if (id instanceof Date) return ['text', id.toISOString()];
  return ['text', id == null ? null : String(id)];
}

function jsonArg(patch) {
  return typeof patch === 'string' ? patch : JSON.stringify(patch);
}

function bigintArg(v) {
  return typeof v === 'bigint' ? v.toString() : v;
}

async function call(db, name, table, id, args, schema) {
  const [idType, idValue] = idArg(id);
  const ph = [`$1::regclass`, `$2::${idType}`, ...args.map(([type], i) => `$${i + 3}::${type}`)];
  const text = `SELECT ${fnName(name, schema)}(${ph.join(', ')}) AS result`;
  const values = [table, idValue, ...args.map(([, v]) => v)];
  const res = await translate(() => db.query(text, values));
  return res.rows[0].result;
}

/** occ_update: apply `patch` if the row is at `expectedVersion`; resolves to the new row. */
export function update(db, table, id, expectedVersion, patch, { schema } = {}) {
  return call(db, 'occ_update', table, id,
    [['bigint', bigintArg(expectedVersion)], ['jsonb', jsonArg(patch)]], schema);
}

/** occ_update_if_match: apply `patch` if `ifMatch` (an If-Match value, as received) matches. */
export function updateIfMatch(db, table, id, ifMatch, patch, { schema } = {}) {
  return call(db, 'occ_update_if_match', table, id,
    [['text', ifMatch], ['jsonb', jsonArg(patch)]], schema);
}

/** occ_delete: delete the row if it is at `expectedVersion`; resolves to the deleted row. */
function del(db, table, id, expectedVersion, { schema } = {}) {
  return call(db, 'occ_delete', table, id, [['bigint', bigintArg(expectedVersion)]], schema);
}
export { del as delete, del as deleteRow };

/** occ_delete_if_match: delete the row if `ifMatch` matches; resolves to the deleted row. */
export function deleteIfMatch(db, table, id, ifMatch, { schema } = {}) {
  return call(db, 'occ_delete_if_match', table, id, [['text', ifMatch]], schema);
}

/**
 * occ_try_update: like update(), but a conflict or a missing row is reported
 * in the result instead of thrown. Resolves to
 * { status, row, currentVersion, conflictingFields, changedFields, ok, raw }
 * with status "updated", "merged", "unchanged", "conflict" or "not_found";
 * row is the row after the call (the current row on a conflict, null when
 * not found); changedFields (field granularity) is undefined when not known.
 */
export async function tryUpdate(db, table, id, expectedVersion, patch, { schema } = {}) {
  const raw = (await call(db, 'occ_try_update', table, id,
    [['bigint', bigintArg(expectedVersion)], ['jsonb', jsonArg(patch)]], schema)) ?? {};
  return {
    status: raw.status,
    row: raw.row ?? null,
    currentVersion: raw.current_version ?? null,
    conflictingFields: raw.conflicting_fields ?? [],
    changedFields: raw.changed_fields,
    ok: ['updated', 'merged', 'unchanged'].includes(raw.status),
    raw,
  };
}

async function tableInfo(db, table, schema) {
  const view = schema ? `${ident(schema)}.occ_tables` : 'occ_tables';
  const res = await db.query(
    `SELECT o.table_name::text AS name, format('%I.%I', n.nspname, c.relname) AS qualified,
            o.key_columns::text[] AS keys, o.version_column::text AS version
       FROM ${view} o
       JOIN pg_catalog.pg_class c ON c.oid = o.table_name
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE o.table_name = $1::regclass`, [table]);
  if (res.rows.length === 0) throw new Error(`table ${table} is not enabled for occ`);
  return res.rows[0];
}

async function readRow(db, info, id) {
  let where;
  let values;
  if (info.keys.length === 1) {
    where = `${ident(info.keys[0])} = $1`;
    values = [id instanceof Date ? id.toISOString() : id];
  } else {
    if (id === null || typeof id !== 'object') {
      throw new TypeError('a composite key is an object naming every key column');
    }
    where = info.keys.map((k, i) => `${ident(k)} = $${i + 1}`).join(' AND ');
    values = info.keys.map((k) => id[k]);
  }
  // info.name is regclass output, already quoted by the server
  const res = await db.query(`SELECT to_jsonb(t) AS row FROM ${info.name} AS t WHERE ${where}`, values);
  if (res.rows.length === 0) {
    throw new NotFound(`row not found in table "${info.qualified}" for key ${JSON.stringify(id)}`,
      { code: SQLSTATE.NOT_FOUND, detail: { table: info.qualified, key: id } });
  }
  return res.rows[0].row;
}

/** The row of an occ-enabled table (version and ETag included); NotFound if missing. */
export async function read(db, table, id, { schema } = {}) {
  return readRow(db, await tableInfo(db, table, schema), id);
}

/** The wait after the `failures`-th failure: full jitter over a capped exponential. */
export function backoffDelay(failures, baseDelayMs, maxDelayMs, random = Math.random) {
  return random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (failures - 1));
}

const RETRYABLE = new Set(['OC409', 'OC412', '40001', '40P01']);

function isRetryable(err, retryOn) {
  if (retryOn) return retryOn(err);
  if (err instanceof VersionConflict || err instanceof PreconditionFailed) return true;
  if (err instanceof OccError) return false;
  return RETRYABLE.has(err?.code);
}

const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Call `fn(attempt)` until it resolves, and resolve to its result. `fn` must
 * re-read what it changes and re-apply the change (see modify()). A version
 * conflict (OC409), an ETag mismatch (OC412), a serialization failure (40001)
 * or a deadlock (40P01) is retried after
 *   random() * min(maxDelayMs, baseDelayMs * 2 ** (failures - 1))  ms;
 * anything else is thrown at once. After `attempts` attempts, RetryExhausted.
 *
 * Options: attempts (5), baseDelayMs (10), maxDelayMs (1000), retryOn(err) ->
 * bool (replaces the choice above), onRetry(attempt, err, delayMs), and
 * sleep(ms) / random() for tests. OC errors reach onRetry and RetryExhausted
 * as OccError subclasses.
 */
export async function retry(fn, {
  attempts = 5, baseDelayMs = 10, maxDelayMs = 1000, retryOn, onRetry,
  sleep = realSleep, random = Math.random,
} = {}) {
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError('attempts must be an integer of at least 1');
  if (!(baseDelayMs >= 0 && maxDelayMs >= 0)) throw new RangeError('delays must not be negative');
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (caught) {
      const err = fromPgError(caught) ?? caught;
      if (!isRetryable(err, retryOn)) throw err;
      if (attempt >= attempts) throw new RetryExhausted(attempts, err);
      const delay = backoffDelay(attempt, baseDelayMs, maxDelayMs, random);
      onRetry?.(attempt, err, delay);
      await sleep(delay);
    }
  }
}

/**
 * Read-modify-write with retry: read the row, `patch = await change(row)`,
 * update it at the version read; on a conflict re-read and re-apply with
 * retry()'s backoff (the retry options go in `options`). `change` may return
 * null or {} to leave the row alone. Resolves to the row written.
 *
 * With `savepoint: true` (for a pg.Client inside BEGIN ... COMMIT, READ
 * COMMITTED), each attempt runs under a savepoint that a failure rolls back.
 *
 *   await occ.modify(pool, 'docs', 42, (row) => ({ hits: row.hits + 1 }));
 */
export async function modify(db, table, id, change, { schema, savepoint = false, ...retryOptions } = {}) {
  const info = await tableInfo(db, table, schema);
  const attempt = async () => {
    const row = await readRow(db, info, id);
    const patch = await change(row);
    if (!patch || Object.keys(patch).length === 0) return row;
    return update(db, table, id, row[info.version], patch, { schema });
  };
  if (!savepoint) return retry(attempt, retryOptions);
  return retry(async () => {
    await db.query('SAVEPOINT occ_modify');
    try {
      const row = await attempt();
      await db.query('RELEASE SAVEPOINT occ_modify');
      return row;
    } catch (err) {
      await db.query('ROLLBACK TO SAVEPOINT occ_modify; RELEASE SAVEPOINT occ_modify');
      throw err;
    }
  }, retryOptions);
}
