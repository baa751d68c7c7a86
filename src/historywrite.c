/*
 * historywrite.c
 *		What the triggers write into a history table (see history.c for its
 *		layout): the versions an UPDATE replaces and makes, a new row's first
 *		version, and forgetting a deleted row's history.
 *
 * These writes go straight to the heap and the primary-key index, as
 * PostgreSQL's own catalog updates do, without a statement to plan and run
 * on every UPDATE.  They are safe without further locking: every write to a
 * row's history happens while its writer holds the row itself (updated,
 * inserted or deleted, not yet committed).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "occ.h"
#include "compat.h"

/* occ's own columns of a history table, after the key columns. */
enum
{
	OCC_HC_SLOT,
	OCC_HC_VERSION,
	OCC_HC_ETAG,
	OCC_HC_CHANGED_AT,
	OCC_HC_CHANGED_BY,
	OCC_HC_REASON,
	OCC_HC_ROW,
	OCC_HC_COUNT
};

static const char *const occ_hc_names[OCC_HC_COUNT] = {
	"occ_slot", "occ_version", "occ_etag", "occ_changed_at", "occ_changed_by",
	"occ_reason", "occ_row"
};
static const Oid occ_hc_types[OCC_HC_COUNT] = {
	INT4OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID
};

/* An open history table and where its columns are. */
typedef struct OccHistoryRel
{
	Relation	rel;
	Oid			pkoid;
	AttrNumber	keys[INDEX_MAX_KEYS];	/* in the order of t's key */
	AttrNumber	cols[OCC_HC_COUNT];
	RegProcedure keyeq[INDEX_MAX_KEYS]; /* equality of each key column */
	Oid			keycoll[INDEX_MAX_KEYS];
} OccHistoryRel;

/* Raises the error for a history table that is not as occ_enable() made it. */
pg_noreturn static void
occ_history_altered(OccTable *t)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("history table \"%s.%s\" of table \"%s\" is not as occ_enable() made it",
					t->history_nspname, t->history_relname, t->plain_name),
			 errhint("Call occ_enable(..., history => 0), then turn history on again; this starts a new history.")));
}

/*
 * Opens t's history table and checks that it is what occ_enable() made: the
 * key columns, occ's seven, nothing else, and its primary key.
 */
static void
occ_history_open(OccTable *t, OccHistoryRel *h, LOCKMODE lockmode)
{
	TupleDesc	desc;
	int			live = 0;
	Relation	idx;

	h->rel = try_table_open(t->history_relid, lockmode);
	if (h->rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("history table \"%s.%s\" of table \"%s\" does not exist",
						t->history_nspname, t->history_relname, t->plain_name),
				 errhint("Call occ_enable() on the table again.")));
	if (h->rel->rd_rel->relkind != RELKIND_RELATION)
		occ_history_altered(t);
	desc = RelationGetDescr(h->rel);
	for (int i = 0; i < desc->natts; i++)
		live += !TupleDescAttr(desc, i)->attisdropped;
	if (live != t->nkeys + OCC_HC_COUNT)
		occ_history_altered(t);
	for (int i = 0; i < t->nkeys; i++)
	{
		h->keys[i] = occ_find_column(desc, t->keys[i].name);
		if (h->keys[i] == InvalidAttrNumber ||
			TupleDescAttr(desc, h->keys[i] - 1)->atttypid != t->keys[i].typid)
			occ_history_altered(t);
	}
	for (int i = 0; i < OCC_HC_COUNT; i++)
	{
		h->cols[i] = occ_find_column(desc, occ_hc_names[i]);
		if (h->cols[i] == InvalidAttrNumber ||
			TupleDescAttr(desc, h->cols[i] - 1)->atttypid != occ_hc_types[i])
			occ_history_altered(t);
	}

	/* the primary key: the key columns, then occ_slot */
	list_free(RelationGetIndexList(h->rel));
	h->pkoid = h->rel->rd_pkindex;
	if (!OidIsValid(h->pkoid))
		occ_history_altered(t);
	idx = index_open(h->pkoid, AccessShareLock);
	if (idx->rd_index->indnkeyatts != t->nkeys + 1 ||
		idx->rd_index->indkey.values[t->nkeys] != h->cols[OCC_HC_SLOT])
		occ_history_altered(t);
	for (int i = 0; i < t->nkeys; i++)
	{
		Oid			eqop;

		if (idx->rd_index->indkey.values[i] != h->keys[i])
			occ_history_altered(t);
		eqop = get_opfamily_member(idx->rd_opfamily[i], idx->rd_opcintype[i],
								   idx->rd_opcintype[i], BTEqualStrategyNumber);
		if (!OidIsValid(eqop))
			occ_history_altered(t);
		h->keyeq[i] = get_opcode(eqop);
		h->keycoll[i] = idx->rd_indcollation[i];
	}
	index_close(idx, AccessShareLock);
}

/* Closes what occ_history_open() opened; the lock stays until commit. */
static void
occ_history_close(OccHistoryRel *h)
{
	table_close(h->rel, NoLock);
}

/*
 * Checks, before history.c reads t's history table, that it is as
 * occ_enable() made it (the same errors as a write).
 */
void
occ_history_check(OccTable *t)
{
	OccHistoryRel h;

	occ_history_open(t, &h, AccessShareLock);
	occ_history_close(&h);
}

/*
 * The records of a row (slot < 0), or its record in one slot, as they are
 * now (this transaction's writes included); copies, with their TIDs.
 */
static List *
occ_history_find(OccTable *t, OccHistoryRel *h, Datum *keys, int32 slot)
{
	ScanKeyData sk[INDEX_MAX_KEYS + 1];
	int			nsk = t->nkeys;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *found = NIL;

	for (int i = 0; i < t->nkeys; i++)
		ScanKeyEntryInitialize(&sk[i], 0, h->keys[i], BTEqualStrategyNumber,
							   InvalidOid, h->keycoll[i], h->keyeq[i], keys[i]);
	if (slot >= 0)
		ScanKeyInit(&sk[nsk++], h->cols[OCC_HC_SLOT], BTEqualStrategyNumber,
					F_INT4EQ, Int32GetDatum(slot));
	scan = systable_beginscan(h->rel, h->pkoid, true, SnapshotSelf, nsk, sk);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		found = lappend(found, heap_copytuple(tup));
	systable_endscan(scan);
	return found;
}

/* Deletes the records occ_history_find() found. */
static void
occ_history_delete(OccHistoryRel *h, List *records)
{
	ListCell   *lc;

	foreach(lc, records)
		CatalogTupleDelete(h->rel, &((HeapTuple) lfirst(lc))->t_self);
}

/* Do two text values hold the same bytes? */
static bool
occ_text_equal(Datum a, Datum b)
{
	text	   *ta = DatumGetTextPP(a);
	text	   *tb = DatumGetTextPP(b);

	return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
		memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(ta)) == 0;
}

/* The version stored in a record. */
static int64
occ_record_version(OccHistoryRel *h, HeapTuple tup)
{
	bool		isnull;

	return DatumGetInt64(heap_getattr(tup, h->cols[OCC_HC_VERSION],
									  RelationGetDescr(h->rel), &isnull));
}

/*
 * Writes the record of key in slot: over the one there, or as a new one.
 * vals/nulls are occ's seven columns.  keep_who: the record there describes
 * the same version, so its changed_at, changed_by and reason stay.
 */
static void
occ_history_put(OccTable *t, OccHistoryRel *h, Datum *keys, Datum *vals, bool *nulls,
				bool keep_who)
{
	TupleDesc	desc = RelationGetDescr(h->rel);
	Datum	   *values = palloc0(desc->natts * sizeof(Datum));
	bool	   *isnull = palloc(desc->natts * sizeof(bool));
	List	   *old = occ_history_find(t, h, keys, DatumGetInt32(vals[OCC_HC_SLOT]));
	HeapTuple	tup;

	memset(isnull, true, desc->natts * sizeof(bool));
	for (int i = 0; i < t->nkeys; i++)
	{
		values[h->keys[i] - 1] = keys[i];
		isnull[h->keys[i] - 1] = false;
	}
	for (int i = 0; i < OCC_HC_COUNT; i++)
	{
		values[h->cols[i] - 1] = vals[i];
		isnull[h->cols[i] - 1] = nulls[i];
	}
	if (old != NIL)
	{
		HeapTuple	prev = (HeapTuple) linitial(old);

		if (keep_who && occ_record_version(h, prev) == DatumGetInt64(vals[OCC_HC_VERSION]))
			for (int i = OCC_HC_CHANGED_AT; i <= OCC_HC_REASON; i++)
				values[h->cols[i] - 1] = heap_getattr(prev, h->cols[i], desc,
													  &isnull[h->cols[i] - 1]);
		tup = heap_form_tuple(desc, values, isnull);
		CatalogTupleUpdate(h->rel, &prev->t_self, tup);
	}
	else
	{
		tup = heap_form_tuple(desc, values, isnull);
		CatalogTupleInsert(h->rel, tup);
	}
	heap_freetuple(tup);
	pfree(values);
	pfree(isnull);
}

/* Fills changed_at, changed_by and reason: now, the current role, occ.reason. */
static void
occ_history_who(Datum *vals, bool *nulls)
{
	char	   *role = GetUserNameFromId(GetUserId(), true);

	vals[OCC_HC_CHANGED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[OCC_HC_CHANGED_AT] = false;
	nulls[OCC_HC_CHANGED_BY] = role == NULL;
	vals[OCC_HC_CHANGED_BY] = role ? CStringGetTextDatum(role) : (Datum) 0;
	nulls[OCC_HC_REASON] = occ_reason == NULL || occ_reason[0] == '\0';
	vals[OCC_HC_REASON] = nulls[OCC_HC_REASON] ? (Datum) 0 : CStringGetTextDatum(occ_reason);
}


/* The slot of a version: versions cycle through history + 1 slots. */
static int32
occ_history_slot(OccTable *t, int64 version)
{
	int64		slot = version % (t->history + 1);

	return (int32) (slot < 0 ? slot + t->history + 1 : slot);
}

/* Records a new version of the row with key keys: who, when, why; no image. */
static void
occ_history_put_new(OccTable *t, OccHistoryRel *h, Datum *keys, int64 version, Datum etag)
{
	Datum		vals[OCC_HC_COUNT];
	bool		nulls[OCC_HC_COUNT] = {false};

	vals[OCC_HC_SLOT] = Int32GetDatum(occ_history_slot(t, version));
	vals[OCC_HC_VERSION] = Int64GetDatum(version);
	vals[OCC_HC_ETAG] = etag;
	occ_history_who(vals, nulls);
	nulls[OCC_HC_ROW] = true;
	occ_history_put(t, h, keys, vals, nulls, false);
}

/* Reads the key columns of a tuple of t. */
static void
occ_tuple_key_values(OccTable *t, TupleDesc desc, HeapTuple tup, Datum *keys)
{
	bool		isnull;

	for (int i = 0; i < t->nkeys; i++)
		keys[i] = heap_getattr(tup, t->keys[i].attnum, desc, &isnull);
}

/*
 * What an UPDATE replaced: the old values of the columns it changed
 * (colchanged, and field_versions), as jsonb.  With the next version's image (in the end the
 * table's row) they give the old version's image back; the columns the
 * UPDATE left alone, a large document say, are not stored again.  Version
 * and ETag are kept in the record's own columns.
 */
static Jsonb *
occ_history_replaced(OccTable *t, TupleDesc desc, HeapTuple oldtup, const bool *colchanged)
{
	bool	   *changed = palloc(desc->natts * sizeof(bool));
	Jsonb	   *replaced;

	memcpy(changed, colchanged, desc->natts * sizeof(bool));
	if (t->fields_attnum != InvalidAttrNumber)
		changed[t->fields_attnum - 1] = true;
	replaced = occ_columns_to_jsonb(t, oldtup, desc, changed);
	pfree(changed);
	return replaced;
}

/*
 * The BEFORE UPDATE trigger wrote a new version of a row: keep what it
 * replaced of version oldver (changed flags the changed columns, as
 * occ_row_changes does) and record the new version, with who, when and
 * why.  A row whose key changed takes its history along first.
 */
void
occ_history_record_update(OccTable *t, TupleDesc desc, HeapTuple oldtup,
						  Datum *newkeys, int64 oldver, int64 newver, Datum newetag,
						  const bool *changed)
{
	OccHistoryRel h;
	Datum		oldkeys[INDEX_MAX_KEYS];
	Datum		vals[OCC_HC_COUNT];
	bool		nulls[OCC_HC_COUNT] = {false};

	occ_tuple_key_values(t, desc, oldtup, oldkeys);
	for (int i = 0; i < t->nkeys; i++)
		if (!datumIsEqual(oldkeys[i], newkeys[i], t->keys[i].typbyval, t->keys[i].typlen))
		{
			occ_history_rekey(t, oldkeys, newkeys);
			break;
		}

	occ_history_open(t, &h, RowExclusiveLock);
	/* the version being replaced: what changed of it (who wrote it stays) */
	vals[OCC_HC_SLOT] = Int32GetDatum(occ_history_slot(t, oldver));
	vals[OCC_HC_VERSION] = Int64GetDatum(oldver);
	vals[OCC_HC_ETAG] = heap_getattr(oldtup, t->etag_attnum, desc, &nulls[OCC_HC_ETAG]);
	nulls[OCC_HC_CHANGED_AT] = nulls[OCC_HC_CHANGED_BY] = nulls[OCC_HC_REASON] = true;
	vals[OCC_HC_ROW] = JsonbPGetDatum(occ_history_replaced(t, desc, oldtup, changed));
	occ_history_put(t, &h, newkeys, vals, nulls, true);

	/* the new version: who, when, why; its image is the row itself */
	occ_history_put_new(t, &h, newkeys, newver, newetag);
	occ_history_close(&h);
}

/*
 * A row was inserted: its first version starts a fresh history (records a
 * TRUNCATE or a write past occ's triggers left under its key go).  The
 * second half of a row moving to another partition is no new row: its
 * update already recorded this version, with this very ETag, under the new
 * key.
 */
void
occ_history_inserted(OccTable *t, TupleDesc desc, HeapTuple tup)
{
	OccHistoryRel h;
	Datum		keys[INDEX_MAX_KEYS];
	bool		vnull;
	bool		enull;
	Datum		ver = heap_getattr(tup, t->version_attnum, desc, &vnull);
	Datum		etag = heap_getattr(tup, t->etag_attnum, desc, &enull);
	int64		version;
	List	   *old;
	ListCell   *lc;

	if (vnull || enull)
		return;					/* written past occ's trigger: no version to record */
	version = t->version_typid == INT4OID ? DatumGetInt32(ver) : DatumGetInt64(ver);
	occ_tuple_key_values(t, desc, tup, keys);

	occ_history_open(t, &h, RowExclusiveLock);
	old = occ_history_find(t, &h, keys, -1);
	foreach(lc, old)
	{
		HeapTuple	rec = (HeapTuple) lfirst(lc);
		bool		isnull;
		Datum		e = heap_getattr(rec, h.cols[OCC_HC_ETAG], RelationGetDescr(h.rel),
									 &isnull);

		if (!isnull && occ_record_version(&h, rec) == version && occ_text_equal(e, etag))
		{
			occ_history_close(&h);
			return;				/* a moved row */
		}
	}
	occ_history_delete(&h, old);
	occ_history_put_new(t, &h, keys, version, etag);
	occ_history_close(&h);
}

/* A row was deleted: its history goes with it. */
void
occ_history_deleted(OccTable *t, TupleDesc desc, HeapTuple tup)
{
	OccHistoryRel h;
	Datum		keys[INDEX_MAX_KEYS];

	occ_tuple_key_values(t, desc, tup, keys);
	occ_history_open(t, &h, RowExclusiveLock);
	occ_history_delete(&h, occ_history_find(t, &h, keys, -1));
	occ_history_close(&h);
}
