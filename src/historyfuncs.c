/*
 * historyfuncs.c
 *		occ_history(), occ_row_at() and occ_diff(): a row's kept versions,
 *		one of them whole, and the merge patch between two.  The row is read
 *		with the caller's rights first, so that privileges and row-level
 *		security decide; history.c then reads the kept versions.
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

PG_FUNCTION_INFO_V1(occ_history);
PG_FUNCTION_INFO_V1(occ_row_at);
PG_FUNCTION_INFO_V1(occ_diff);

/* A row's versions as the caller may read them. */
typedef struct OccRowHistory
{
	OccRequest	r;
	int64		current;
	Jsonb	   *current_row;
	List	   *records;		/* OccVersionRecord *, oldest first, ending with the current */
} OccRowHistory;

/*
 * Reads the arguments (table, id, then nversions versions, all not null),
 * the current row as the caller, and the kept versions of the row.
 */
static void
occ_read_history(FunctionCallInfo fcinfo, OccRowHistory *h,
				 const char *const *names, int nargs)
{
	OccTable   *t;
	Datum		values[INDEX_MAX_KEYS + 3];
	char		nulls[INDEX_MAX_KEYS + 3];
	bool		isnull;
	char	   *etag;
	List	   *records;
	ListCell   *lc;
	OccVersionRecord *cur = NULL;

	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be null", names[i])));
	occ_read_id(fcinfo, &h->r);
	t = h->r.t;
	if (t->history == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" keeps no history", t->plain_name),
				 errhint("Call occ_enable(..., history => N) first.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_fill_params(&h->r, values, nulls);
	if (SPI_execute_plan(occ_probe_plan(t, false), values, nulls, true, 1) < 0)
		elog(ERROR, "occ: probe failed");
	if (SPI_processed == 0)
	{
		OccErrorInfo info = {0};

		info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		occ_raise(t, h->r.keys, &info);
	}
	h->current = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
	etag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	/* detoasted (a short header, say) here, then copied out of SPI's memory */
	h->current_row = (Jsonb *) DatumGetPointer(
		SPI_datumTransfer(PointerGetDatum(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc,
																	   3, &isnull))),
						  false, -1));
	if (etag)
		etag = strcpy(SPI_palloc(strlen(etag) + 1), etag);
	SPI_finish();

	/* the kept versions: the current one and the N before it */
	records = occ_history_records(t, h->r.keys, h->current - t->history,
								  h->current_row, h->current);
	h->records = NIL;
	foreach(lc, records)
	{
		OccVersionRecord *rec = (OccVersionRecord *) lfirst(lc);

		if (rec->version < h->current && rec->row != NULL)
			h->records = lappend(h->records, rec);
		else if (rec->version == h->current)
			cur = rec;
	}
	if (cur == NULL)
		cur = palloc0(sizeof(OccVersionRecord));	/* written before history began */
	cur->version = h->current;
	cur->etag = etag;
	cur->row = h->current_row;
	h->records = lappend(h->records, cur);
	table_close(h->r.rel, NoLock);
}

/* The image of version v, or an OC410 (no longer kept) or OC404 (never was) error. */
static Jsonb *
occ_version_image(OccRowHistory *h, int64 v)
{
	ListCell   *lc;
	OccErrorInfo info = {0};

	foreach(lc, h->records)
	{
		OccVersionRecord *rec = (OccVersionRecord *) lfirst(lc);

		if (rec->version == v)
			return rec->row;
	}
	info.has_version = true;
	info.version = v;
	if (v > h->current)
	{
		info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		info.has_current = true;
		info.current_version = h->current;
	}
	else
	{
		info.sqlstate = ERRCODE_OCC_GONE;
		info.oldest_kept_version =
			((OccVersionRecord *) linitial(h->records))->version;
	}
	occ_raise(h->r.t, h->r.keys, &info);
}

/*
 * occ_history(tbl regclass, id "any") RETURNS TABLE (version bigint, etag
 * text, changed_at timestamptz, changed_by text, reason text, changes jsonb)
 *		One row per kept version, oldest first.
 */
Datum
occ_history(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tbl", "id"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OccRowHistory h;
	ListCell   *lc;
	OccVersionRecord *prev = NULL;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	occ_read_history(fcinfo, &h, names, 2);
	foreach(lc, h.records)
	{
		OccVersionRecord *rec = (OccVersionRecord *) lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = Int64GetDatum(rec->version);
		nulls[1] = rec->etag == NULL;
		values[1] = rec->etag ? CStringGetTextDatum(rec->etag) : (Datum) 0;
		nulls[2] = !rec->has_changed_at;
		values[2] = TimestampTzGetDatum(rec->changed_at);
		nulls[3] = rec->changed_by == NULL;
		values[3] = rec->changed_by ? CStringGetTextDatum(rec->changed_by) : (Datum) 0;
		nulls[4] = rec->reason == NULL;
		values[4] = rec->reason ? CStringGetTextDatum(rec->reason) : (Datum) 0;

		/* from the version before; a row's first version is all new */
		if (prev && prev->version == rec->version - 1)
			values[5] = JsonbPGetDatum(occ_json_diff(prev->row, rec->row));
		else if (prev == NULL && rec->version == h.r.t->start_version)
			values[5] = JsonbPGetDatum(rec->row);
		else
			nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		prev = rec;
	}
	return (Datum) 0;
}

/*
 * occ_row_at(tbl regclass, id "any", version bigint) RETURNS jsonb
 *		The row as it was at a kept version.
 */
Datum
occ_row_at(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tbl", "id", "version"};
	OccRowHistory h;

	occ_read_history(fcinfo, &h, names, 3);
	PG_RETURN_JSONB_P(occ_version_image(&h, PG_GETARG_INT64(2)));
}

/*
 * occ_diff(tbl regclass, id "any", from_version bigint, to_version bigint)
 *		RETURNS jsonb
 *		The merge patch from one kept version of the row to another.
 */
Datum
occ_diff(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tbl", "id", "from_version", "to_version"};
	OccRowHistory h;
	Jsonb	   *from;

	occ_read_history(fcinfo, &h, names, 4);
	from = occ_version_image(&h, PG_GETARG_INT64(2));
	PG_RETURN_JSONB_P(occ_json_diff(from, occ_version_image(&h, PG_GETARG_INT64(3))));
}
