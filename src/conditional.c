/*
 * conditional.c
 *		occ_update(), occ_update_if_match(), occ_delete(),
 *		occ_delete_if_match() and occ_try_update(): one UPDATE or DELETE,
 *		conditioned on the version or the ETag, and a typed OC error (or, for
 *		occ_try_update, a status) when it matches nothing.
 *
 * request.c reads the arguments, plans.c makes the statement of each
 * operation and patch shape, this file runs it (occ_run) and finds out why
 * it matched nothing; merge.c decides a field-level merge.  Everything runs
 * as the caller, so privileges and row-level security apply as to a plain
 * UPDATE or DELETE.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

PG_FUNCTION_INFO_V1(occ_update);
PG_FUNCTION_INFO_V1(occ_update_if_match);
PG_FUNCTION_INFO_V1(occ_delete);
PG_FUNCTION_INFO_V1(occ_delete_if_match);
PG_FUNCTION_INFO_V1(occ_try_update);

static Datum occ_try_update_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond);


/* Runs the request's statement; the row it returned (copied out of SPI), or NULL. */
Jsonb *
occ_execute(OccRequest *r)
{
	Datum	   *values = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	SPIPlanPtr	plan = occ_get_plan(r);
	bool		isnull;
	Datum		d;

	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(plan, values, nulls, false, 0) < 0)
		elog(ERROR, "occ: statement failed");
	if (SPI_processed == 0)
		return NULL;
	if (r->kind != OCC_KIND_CONVERT)
		d = JsonbPGetDatum(occ_row_to_jsonb(r->t, SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc));
	else
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
}

/*
 * Converts an untyped patch (see occ_convert_patch) by a statement of its
 * own, on this node, and makes the request typed.  Citus cannot distribute
 * the UPDATE ... FROM jsonb_to_record() form, so a Citus table takes this
 * way.  Called inside the request's SPI connection.
 */
static void
occ_convert_here(OccRequest *r)
{
	Datum	   *values = palloc0((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	OccKind		kind = r->kind;
	SPIPlanPtr	plan;
	TupleDesc	desc;

	memset(nulls, 'n', INDEX_MAX_KEYS + 3 + r->ncols);
	r->kind = OCC_KIND_CONVERT;
	plan = occ_get_plan(r);
	r->kind = kind;
	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(plan, values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "occ: patch conversion failed");
	desc = SPI_tuptable->tupdesc;
	r->colvals = palloc(Max(r->ncols, 1) * sizeof(Datum));
	r->colnulls = palloc(Max(r->ncols, 1) * sizeof(char));
	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i + 1);
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], desc, i + 2, &isnull);

		r->colnulls[i] = isnull ? 'n' : ' ';
		r->colvals[i] = isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
	}
	SPI_freetuptable(SPI_tuptable);
	r->typed = true;
}

/* The version stored in a row returned as jsonb. */
static int64
occ_row_version(OccTable *t, Jsonb *row)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&row->root, t->version_col,
												 strlen(t->version_col), NULL);

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/*
 * Did the UPDATE that returned row leave it as it was?  Only if occ's
 * trigger saw it and said so (occ_noop_updates moved past noops): a row
 * written with the trigger disabled or in replica role keeps its version
 * too, yet was changed.
 */
bool
occ_unchanged(OccTable *t, Jsonb *row, int64 version, uint64 noops)
{
	return occ_row_version(t, row) == version && occ_noop_updates != noops;
}

/*
 * Runs a request to the end without raising for a conflict or a missing
 * row: res says what happened.  Called inside an SPI connection.
 */
void
occ_run(OccRequest *r, OccResult *res)
{
	OccTable   *t = r->t;
	Datum	   *values = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	bool		merging;
	bool		lock;
	bool		retried = false;
	bool		isnull;
	int64		current;
	char	   *etag;
	Jsonb	   *current_row;
	Datum		d;
	bool		visible_match;
	uint64		noops;

	memset(res, 0, sizeof(*res));
	if (r->kind == OCC_KIND_UPDATE && !r->typed && t->citus)
		occ_convert_here(r);
	noops = occ_noop_updates;
	res->row = occ_execute(r);
retry:
	if (res->row)
	{
		if (r->kind == OCC_KIND_DELETE)
			res->outcome = OCC_OUT_DELETED;
		else if (r->kind == OCC_KIND_CHECK ||
				 (r->cond == OCC_COND_VERSION &&
				  occ_unchanged(t, res->row, r->expected_version, noops)))
			res->outcome = OCC_OUT_UNCHANGED;
		else
			res->outcome = OCC_OUT_UPDATED;
		return;
	}

	/*
	 * Nothing matched: find out why.  An update locks the row as it reads
	 * it, so that the UPDATE policies of row-level security apply, the
	 * newest version is seen, and a field-level merge can follow.
	 */
	lock = r->kind == OCC_KIND_UPDATE || r->kind == OCC_KIND_CHECK;
	merging = lock && t->granularity == OCC_GRANULARITY_FIELD &&
		r->cond == OCC_COND_VERSION;
	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(occ_probe_plan(t, lock), values, nulls, false, 1) < 0)
		elog(ERROR, "occ: probe failed");
	if (SPI_processed == 0)
	{
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		return;
	}
	current = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	if (isnull)
		current = 0;
	etag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	current_row = DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
	res->info.has_current = true;
	res->info.current_version = current;
	res->info.current_etag = etag ? strcpy(SPI_palloc(strlen(etag) + 1), etag) : NULL;

	/*
	 * The row is there and matches the condition, yet the statement did not
	 * touch it: a row-level security policy for UPDATE or DELETE hides it.
	 */
	switch (r->cond)
	{
		case OCC_COND_VERSION:
			visible_match = current == r->expected_version;
			break;
		case OCC_COND_ETAG:
			{
				Datum	   *tags;
				int			ntags;

				visible_match = false;
				deconstruct_array(r->etags, TEXTOID, -1, false, TYPALIGN_INT,
								  &tags, NULL, &ntags);
				for (int i = 0; i < ntags && etag && !visible_match; i++)
					visible_match = strcmp(TextDatumGetCString(tags[i]), etag) == 0;
			}
			break;
		default:
			visible_match = true;
			break;
	}
	if (visible_match && !retried)
	{
		/*
		 * The row matches now but did not when the statement began (it was
		 * deleted and inserted again, say): run the statement once more,
		 * with a new snapshot.
		 */
		retried = true;
		memset(&res->info, 0, sizeof(res->info));
		res->row = occ_execute(r);
		goto retry;
	}
	if (visible_match)
	{
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		res->info.has_current = false;
		return;
	}

	res->row = current_row;
	if (r->cond == OCC_COND_ETAG)
	{
		res->outcome = OCC_OUT_ETAG_MISMATCH;
		res->info.sqlstate = ERRCODE_OCC_PRECONDITION_FAILED;
		res->info.expected_etag = r->expected_etag;
		return;
	}

	res->outcome = OCC_OUT_CONFLICT;
	res->info.sqlstate = ERRCODE_OCC_CONFLICT;
	res->info.has_expected_version = true;
	res->info.expected_version = r->expected_version;

	/* history: merge three ways against the version the client read, if kept */
	if (lock && t->history > 0 && r->expected_version < current &&
		r->expected_version >= current - t->history &&
		occ_history_merge(r, res, current_row, current))
		return;
	if (!merging)
		return;

	/* field granularity: apply it anyway if no patched field changed since */
	{
		Jsonb	   *fv = NULL;
		int64		stale = r->expected_version;
		Jsonb	   *row;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		if (!isnull)
			fv = DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
		if (r->kind == OCC_KIND_UPDATE)
			occ_merge_check(r, current_row, fv, current, &res->info);
		else
			res->info.has_fields = true;
		if (res->info.conflicting_fields != NIL || stale > current)
			return;
		r->expected_version = current;
		noops = occ_noop_updates;
		row = occ_execute(r);
		r->expected_version = stale;
		if (row == NULL)
			return;				/* cannot happen: the row is locked */
		res->row = row;
		res->outcome = occ_unchanged(t, row, current, noops) ?
			OCC_OUT_UNCHANGED : OCC_OUT_MERGED;
	}
}

/*
 * Can a row that this call waits for be moved to another partition by a
 * concurrent UPDATE, with PostgreSQL raising 40001 ("... was already moved
 * to another partition due to concurrent update")?  Under READ COMMITTED on
 * a partitioned table or a partition.  The row's key changed with its
 * partition, so the key is gone as after a concurrent delete: occ answers
 * OC404, marked as moved.  Catching the error takes a subtransaction, so
 * only these tables pay for it.
 */
bool
occ_moves_possible(OccRequest *r)
{
	return (r->rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
			r->rel->rd_rel->relispartition) &&
		!IsolationUsesXactSnapshot();
}

/*
 * In the PG_CATCH of a subtransaction the caller began: rolls it back, and
 * raises the error again unless it is PostgreSQL's "already moved to
 * another partition" (checked by the untranslated message).
 */
void
occ_catch_moved(MemoryContext mcxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(mcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(mcxt);
	CurrentResourceOwner = owner;
	if (edata->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE ||
		edata->message_id == NULL ||
		strstr(edata->message_id, "moved to another partition") == NULL)
		ReThrowError(edata);
	FreeErrorData(edata);
}

/* occ_run(), answering OC404 "moved" for a row moved under it (see above). */
static void
occ_run_guarded(OccRequest *r, OccResult *res)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (!occ_moves_possible(r))
	{
		occ_run(r, res);
		return;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		occ_run(r, res);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		occ_catch_moved(mcxt, owner);
		memset(res, 0, sizeof(*res));
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		res->info.moved = true;
	}
	PG_END_TRY();
}

/* Counts what a request did (stats.c). */
void
occ_count(OccRequest *r, OccResult *res)
{
	static const OccStatEvent events[] = {
		[OCC_OUT_UPDATED] = OCC_STAT_SUCCESS,
		[OCC_OUT_MERGED] = OCC_STAT_MERGE,
		[OCC_OUT_UNCHANGED] = OCC_STAT_SUCCESS,
		[OCC_OUT_DELETED] = OCC_STAT_SUCCESS,
		[OCC_OUT_CONFLICT] = OCC_STAT_CONFLICT,
		[OCC_OUT_ETAG_MISMATCH] = OCC_STAT_ETAG_MISMATCH,
		[OCC_OUT_NOT_FOUND] = OCC_STAT_NOT_FOUND,
	};

	if (res->outcome == OCC_OUT_UNCHANGED)
		return;					/* nothing written: no retry resolved either */
	occ_stats_event(r->t, events[res->outcome], r->keys, &res->info);
}

/*
 * Runs fn(fcinfo, kind, cond) as one call of a conditional function (see
 * occ_call_enter() in meta.c).
 */
Datum
occ_guarded(Datum (*fn) (FunctionCallInfo, OccKind, OccCond),
			FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	volatile Datum result = (Datum) 0;

	occ_call_enter();
	PG_TRY();
	{
		result = fn(fcinfo, kind, cond);
	}
	PG_FINALLY();
	{
		occ_call_exit();
	}
	PG_END_TRY();
	return result;
}

/* The work of the four raising functions. */
static Datum
occ_conditional(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	OccRequest	r;
	OccResult	res;

	occ_read_request(fcinfo, &r, kind, cond);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_run_guarded(&r, &res);
	occ_count(&r, &res);
	if (res.outcome >= OCC_OUT_CONFLICT)
		occ_raise(r.t, r.keys, &res.info);
	SPI_finish();
	table_close(r.rel, NoLock);
	PG_RETURN_JSONB_P(res.row);
}

/*
 * occ_update(tbl regclass, id "any", expected_version bigint, patch jsonb)
 *		Applies the patch if the row's version is expected_version.
 */
Datum
occ_update(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/*
 * occ_update_if_match(tbl regclass, id "any", if_match text, patch jsonb)
 *		Applies the patch if the row's ETag matches if_match.
 */
Datum
occ_update_if_match(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_UPDATE, OCC_COND_ETAG);
}

/*
 * occ_delete(tbl regclass, id "any", expected_version bigint)
 *		Deletes the row if its version is expected_version.
 */
Datum
occ_delete(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_DELETE, OCC_COND_VERSION);
}

/*
 * occ_delete_if_match(tbl regclass, id "any", if_match text)
 *		Deletes the row if its ETag matches if_match.
 */
Datum
occ_delete_if_match(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_DELETE, OCC_COND_ETAG);
}

/*
 * occ_try_update(tbl regclass, id "any", expected_version bigint, patch jsonb)
 *		occ_update that reports a conflict or a missing row in its result
 *		instead of raising: {"status", "row", "current_version",
 *		"conflicting_fields"}.
 */
Datum
occ_try_update(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_try_update_work, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/*
 * The result of occ_try_update(): {"status", "row", "current_version",
 * "conflicting_fields"}, with "moved" and "changed_fields" when known.
 */
static Jsonb *
occ_try_update_result(OccRequest *r, OccResult *res)
{
	static const char *const status[] = {
		[OCC_OUT_UPDATED] = "updated",
		[OCC_OUT_MERGED] = "merged",
		[OCC_OUT_UNCHANGED] = "unchanged",
		[OCC_OUT_DELETED] = "deleted",
		[OCC_OUT_CONFLICT] = "conflict",
		[OCC_OUT_ETAG_MISMATCH] = "conflict",
		[OCC_OUT_NOT_FOUND] = "not_found",
	};
	JsonbParseState *st = NULL;
	JsonbValue	v;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	occ_push_key(&st, "status", 6);
	v.type = jbvString;
	v.val.string.val = (char *) status[res->outcome];
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&st, WJB_VALUE, &v);

	occ_push_key(&st, "row", 3);
	v.type = jbvNull;
	if (res->row)
	{
		v.type = jbvBinary;
		v.val.binary.data = &res->row->root;
		v.val.binary.len = VARSIZE(res->row) - VARHDRSZ;
	}
	pushJsonbValue(&st, WJB_VALUE, &v);

	occ_push_key(&st, "current_version", 15);
	v.type = jbvNull;
	if (res->row)
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(occ_row_version(r->t, res->row));
	}
	pushJsonbValue(&st, WJB_VALUE, &v);

	occ_push_key(&st, "conflicting_fields", 18);
	if (res->outcome == OCC_OUT_CONFLICT && !res->info.has_fields)
	{
		v.type = jbvNull;		/* row granularity: not known */
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	else
		occ_push_names(&st, res->info.conflicting_fields);
	if (res->info.moved)
	{
		occ_push_key(&st, "moved", 5);
		v.type = jbvBool;
		v.val.boolean = true;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	if (res->info.has_fields)
	{
		occ_push_key(&st, "changed_fields", 14);
		occ_push_names(&st, res->info.changed_fields);
	}
	if (res->info.has_history)
	{
		occ_push_key(&st, "conflicting_paths", 17);
		occ_push_names(&st, res->info.conflicting_paths);
		occ_push_key(&st, "changes_since", 13);
		v.type = jbvBinary;
		v.val.binary.data = &res->info.changes_since->root;
		v.val.binary.len = VARSIZE(res->info.changes_since) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* The work of occ_try_update(). */
static Datum
occ_try_update_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	OccRequest	r;
	OccResult	res;
	Datum		result;

	occ_read_request(fcinfo, &r, OCC_KIND_UPDATE, OCC_COND_VERSION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_run_guarded(&r, &res);
	occ_count(&r, &res);

	/* the field lists live in SPI's memory: build the result before leaving it */
	result = SPI_datumTransfer(JsonbPGetDatum(occ_try_update_result(&r, &res)),
							   false, -1);
	SPI_finish();
	table_close(r.rel, NoLock);
	PG_RETURN_DATUM(result);
}
