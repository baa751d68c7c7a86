/*
 * batch.c
 *		occ_update_many(): a batch of conditional updates applied all or
 *		none, its rows locked in key order so that batches never deadlock.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rel.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

PG_FUNCTION_INFO_V1(occ_update_many);

static Datum occ_update_many_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond);


/* One item of an occ_update_many batch. */
typedef struct OccBatchItem
{
	int			index;			/* position in the input array */
	Datum		keys[INDEX_MAX_KEYS];
	int64		version;
	Jsonb	   *patch;
	/* the patch's shape and converted values (occ_patch_shape), made once */
	int			ncols;
	AttrNumber *cols;
	bool		typed;
	Datum	   *colvals;
	char	   *colnulls;
	Jsonb	   *result;
	bool		moved;			/* moved to another partition while we waited */
} OccBatchItem;

/* How batch items compare: the primary key index's order procedures. */
typedef struct OccBatchOrder
{
	int			nkeys;
	FmgrInfo   *procs;
	Oid		   *collations;
} OccBatchOrder;

/* Orders batch items by key, as the primary key's index does (qsort_arg). */
static int
occ_batch_cmp(const void *a, const void *b, void *arg)
{
	const OccBatchItem *x = *(OccBatchItem * const *) a;
	const OccBatchItem *y = *(OccBatchItem * const *) b;
	OccBatchOrder *o = (OccBatchOrder *) arg;

	for (int i = 0; i < o->nkeys; i++)
	{
		int32		c = DatumGetInt32(FunctionCall2Coll(&o->procs[i], o->collations[i],
														x->keys[i], y->keys[i]));

		if (c != 0)
			return c;
	}
	return 0;
}

/* Sorts batch items into key order (the order rows are locked in). */
static void
occ_sort_batch(OccRequest *r, OccBatchItem **items, int n)
{
	Relation	idx = index_open(r->rel->rd_pkindex, AccessShareLock);
	OccTable   *t = r->t;
	OccBatchOrder o;

	o.nkeys = t->nkeys;
	o.procs = palloc(t->nkeys * sizeof(FmgrInfo));
	o.collations = palloc(t->nkeys * sizeof(Oid));
	for (int i = 0; i < t->nkeys; i++)
	{
		fmgr_info(index_getprocid(idx, i + 1, BTORDER_PROC), &o.procs[i]);
		o.collations[i] = idx->rd_indcollation[i];
	}
	index_close(idx, AccessShareLock);
	qsort_arg(items, n, sizeof(OccBatchItem *), occ_batch_cmp, &o);
	for (int i = 1; i < n; i++)
		if (occ_batch_cmp(&items[i - 1], &items[i], &o) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("changes name the same row more than once"),
					 errdetail("Items %d and %d have the same key.",
							   Min(items[i - 1]->index, items[i]->index),
							   Max(items[i - 1]->index, items[i]->index))));
}

/* Reads one item of the changes array. */
static OccBatchItem *
occ_read_batch_item(OccRequest *r, JsonbValue *v, int index)
{
	OccBatchItem *item = palloc0(sizeof(OccBatchItem));
	JsonbContainer *c;
	JsonbValue *id;
	JsonbValue *ver;
	JsonbValue *patch;

	item->index = index;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %d of changes must be a JSON object", index),
				 errhint("Each item is {\"id\": ..., \"version\": ..., \"patch\": {...}}.")));
	c = v->val.binary.data;
	id = occ_json_member(c, "id", 2);
	ver = occ_json_member(c, "version", 7);
	patch = occ_json_member(c, "patch", 5);
	if (id == NULL || ver == NULL || patch == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %d of changes must have \"id\", \"version\" and \"patch\"", index)));
	if (id->type == jbvNull || ver->type == jbvNull || patch->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item %d of changes has a null \"id\", \"version\" or \"patch\"", index)));
	if (ver->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"version\" of item %d of changes must be a number", index)));
	item->version = DatumGetInt64(DirectFunctionCall1(numeric_int8,
													  NumericGetDatum(ver->val.numeric)));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(ver->val.numeric),
										  NumericGetDatum(int64_to_numeric(item->version)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"version\" of item %d of changes must be an integer", index)));
	occ_keys_from_json(r->t, id, item->keys);
	item->patch = JsonbValueToJsonb(patch);
	return item;
}

/*
 * Checks an item's patch (its columns, before any write) and keeps its shape
 * and converted values in the item, for the item's turn.
 */
static void
occ_batch_item_shape(OccRequest *r, OccBatchItem *item)
{
	r->patch = item->patch;
	occ_patch_shape(r);
	item->ncols = r->ncols;
	item->cols = r->cols;
	item->typed = r->typed;
	item->colvals = r->colvals;
	item->colnulls = r->colnulls;
}

/* Locks the rows of a batch in key order; *at: the item being locked. */
static void
occ_lock_rows(OccRequest *r, OccBatchItem **sorted, int n, int *at)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[INDEX_MAX_KEYS + 3];
		char		nulls[INDEX_MAX_KEYS + 3];

		*at = i;
		memcpy(r->keys, sorted[i]->keys, sizeof(r->keys));
		r->patch = NULL;
		r->typed = false;
		occ_fill_params(r, values, nulls);
		if (SPI_execute_plan(occ_probe_plan(r->t, true), values, nulls, false, 1) < 0)
			elog(ERROR, "occ: lock failed");
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * Locks every row of a batch in key order, so that batches never deadlock
 * each other.  Where rows can move to another partition under it (see
 * occ_moves_possible()), in one subtransaction: if a row moved, the item is
 * marked as moved and the rows are locked again; its key now finds nothing.
 */
static void
occ_lock_batch(OccRequest *r, OccBatchItem **sorted, int n)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int at = -1;

	if (!occ_moves_possible(r))
	{
		occ_lock_rows(r, sorted, n, (int *) &at);
		return;
	}
	for (;;)
	{
		bool		moved = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(mcxt);
		PG_TRY();
		{
			occ_lock_rows(r, sorted, n, (int *) &at);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(mcxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			occ_catch_moved(mcxt, owner);
			moved = true;
		}
		PG_END_TRY();
		if (!moved)
			return;
		if (sorted[at]->moved)
			elog(ERROR, "occ: the row of batch item %d moved twice", sorted[at]->index);
		sorted[at]->moved = true;
	}
}

/*
 * occ_update_many(tbl regclass, changes jsonb) RETURNS SETOF jsonb
 *		Applies every change or none: rows are locked in key order, every
 *		failing item is reported in one error, and the new rows are returned
 *		in the order of the input.
 */
Datum
occ_update_many(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_update_many_work, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/* The work of occ_update_many(). */
static Datum
occ_update_many_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OccRequest	r;
	Jsonb	   *changes;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	OccBatchItem **items;
	OccBatchItem **sorted;
	int			n = 0;
	char	  **failed;
	int			nfailed = 0;
	bool		any_conflict = false;
	MemoryContext batchcxt;
	MemoryContext itemcxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null",
						PG_ARGISNULL(0) ? "tbl" : "changes")));
	changes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(changes) || JB_ROOT_IS_SCALAR(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changes must be a JSON array"),
				 errhint("Each item is {\"id\": ..., \"version\": ..., \"patch\": {...}}.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	memset(&r, 0, sizeof(r));
	occ_open_request(&r, PG_GETARG_OID(0), RowExclusiveLock);

	items = palloc(Max(JB_ROOT_COUNT(changes), 1) * sizeof(OccBatchItem *));
	it = JsonbIteratorInit(&changes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
		{
			CHECK_FOR_INTERRUPTS();
			items[n] = occ_read_batch_item(&r, &v, n);
			occ_batch_item_shape(&r, items[n]);
			n++;
		}
	sorted = palloc(Max(n, 1) * sizeof(OccBatchItem *));
	memcpy(sorted, items, n * sizeof(OccBatchItem *));
	if (n > 1)
		occ_sort_batch(&r, sorted, n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	occ_lock_batch(&r, sorted, n);

	failed = palloc0(Max(n, 1) * sizeof(char *));
	batchcxt = CurrentMemoryContext;
	itemcxt = AllocSetContextCreate(batchcxt, "occ batch item", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		OccBatchItem *item = sorted[i];
		OccResult	res;
		StringInfoData f;

		CHECK_FOR_INTERRUPTS();
		/* an item's work memory goes with it; its row is copied out of SPI */
		MemoryContextReset(itemcxt);
		MemoryContextSwitchTo(itemcxt);
		memcpy(r.keys, item->keys, sizeof(r.keys));
		r.kind = item->ncols == 0 ? OCC_KIND_CHECK : OCC_KIND_UPDATE;
		r.cond = OCC_COND_VERSION;
		r.expected_version = item->version;
		r.patch = item->patch;
		r.ncols = item->ncols;
		r.cols = item->cols;
		r.typed = item->typed;
		r.colvals = item->colvals;
		r.colnulls = item->colnulls;
		occ_run(&r, &res);
		if (res.outcome == OCC_OUT_NOT_FOUND && item->moved)
			res.info.moved = true;
		occ_count(&r, &res);
		MemoryContextSwitchTo(batchcxt);
		if (res.outcome < OCC_OUT_CONFLICT)
		{
			item->result = res.row;
			continue;
		}
		any_conflict |= res.outcome == OCC_OUT_CONFLICT;
		nfailed++;
		initStringInfo(&f);
		appendStringInfoChar(&f, '{');
		occ_json_key(&f, "index");
		appendStringInfo(&f, "%d", item->index);
		occ_json_string(&f, "status",
						res.outcome == OCC_OUT_CONFLICT ? "conflict" : "not_found");
		occ_error_members(&f, r.t, r.keys, &res.info, false);
		appendStringInfoChar(&f, '}');
		failed[item->index] = f.data;
	}
	if (nfailed > 0)
	{
		OccErrorInfo info = {0};
		StringInfoData failures;

		/* every failing item, in the order of the input */
		initStringInfo(&failures);
		for (int i = 0; i < n; i++)
			if (failed[i])
				appendStringInfo(&failures, "%s%s", failures.len ? "," : "[", failed[i]);
		appendStringInfoChar(&failures, ']');
		info.sqlstate = any_conflict ? ERRCODE_OCC_CONFLICT : ERRCODE_OCC_NOT_FOUND;
		info.items_json = failures.data;
		info.nitems = nfailed;
		occ_raise(r.t, NULL, &info);
	}
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		Datum		value = JsonbPGetDatum(items[i]->result);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	table_close(r.rel, NoLock);
	return (Datum) 0;
}
