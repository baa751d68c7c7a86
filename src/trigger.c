/*
 * trigger.c
 *		occ_trigger(): the BEFORE INSERT OR UPDATE row trigger that keeps the
 *		version and ETag of an enabled table right, whoever writes.
 *
 * INSERT gets version 1 and a fresh ETag.  An UPDATE that changes any other
 * column gets version + 1 and the next ETag; one that changes nothing keeps
 * both.  With version_input 'expected' or 'next' the UPDATE must also say
 * which version it read.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"

#include "occ.h"

PG_FUNCTION_INFO_V1(occ_trigger);

/* Set by occ_enable() while it gives every existing row its first ETag. */
bool		occ_backfill_active = false;

/*
 * An UPDATE that moves a row to another partition deletes it there and
 * inserts it here; the insert must keep what the update just computed.
 */
static bool moved_valid = false;
static int64 moved_version;
static char moved_etag[OCC_ETAG_LEN];

/* Do two non-null values of a column hold the same bytes? */
static bool
occ_datum_equal(Form_pg_attribute att, Datum a, Datum b)
{
	struct varlena *va;
	struct varlena *vb;

	if (att->attbyval)
		return datumIsEqual(a, b, true, att->attlen);
	if (att->attlen > 0)
		return memcmp(DatumGetPointer(a), DatumGetPointer(b), att->attlen) == 0;
	if (att->attlen == -2)
		return strcmp(DatumGetCString(a), DatumGetCString(b)) == 0;

	va = (struct varlena *) DatumGetPointer(a);
	vb = (struct varlena *) DatumGetPointer(b);
	if (VARATT_IS_EXTERNAL(va) || VARATT_IS_EXTERNAL(vb) ||
		VARATT_IS_COMPRESSED(va) || VARATT_IS_COMPRESSED(vb))
	{
		/* the same stored value: the UPDATE did not touch the column */
		if (VARSIZE_ANY(va) == VARSIZE_ANY(vb) &&
			memcmp(va, vb, VARSIZE_ANY(va)) == 0)
			return true;
		if (toast_raw_datum_size(a) != toast_raw_datum_size(b))
			return false;
		va = pg_detoast_datum_packed(va);
		vb = pg_detoast_datum_packed(vb);
	}
	return VARSIZE_ANY_EXHDR(va) == VARSIZE_ANY_EXHDR(vb) &&
		memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) == 0;
}

/* Does the update change any column besides version and ETag? */
static bool
occ_row_changed(OccTable *t, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup)
{
	int			natts = desc->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	Datum	   *nv = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	bool	   *nn = palloc(natts * sizeof(bool));
	bool		changed = false;

	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);
	for (int i = 0; i < natts && !changed; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attnum == t->version_attnum ||
			att->attnum == t->etag_attnum)
			continue;
		if (on[i] != nn[i])
			changed = true;
		else if (!on[i])
			changed = !occ_datum_equal(att, ov[i], nv[i]);
	}
	pfree(ov);
	pfree(nv);
	pfree(on);
	pfree(nn);
	return changed;
}

/* The version stored in a row; NULL (a column that predates occ) counts as 0. */
static int64
occ_tuple_version(OccTable *t, TupleDesc desc, HeapTuple tup, bool *isnull)
{
	Datum		d = heap_getattr(tup, t->version_attnum, desc, isnull);

	if (*isnull)
		return 0;
	return t->version_typid == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
}

/* Reads the key columns of tup; false if one is NULL. */
static bool
occ_tuple_keys(OccTable *t, TupleDesc desc, HeapTuple tup, Datum *keys)
{
	bool		isnull;

	for (int i = 0; i < t->nkeys; i++)
	{
		keys[i] = heap_getattr(tup, t->keys[i].attnum, desc, &isnull);
		if (isnull)
			return false;
	}
	return true;
}

/* Checks the version an UPDATE assigned under version_input expected/next. */
static void
occ_check_version_input(OccTable *t, TriggerData *td, TupleDesc desc,
						int64 oldver, const char *oldetag)
{
	Datum		keys[INDEX_MAX_KEYS];
	bool		isnull;
	int64		assigned;
	int64		want;

	occ_tuple_keys(t, desc, td->tg_trigtuple, keys);
	if (!bms_is_member(t->version_attnum - FirstLowInvalidHeapAttributeNumber,
					   td->tg_updatedcols))
		occ_raise(ERRCODE_OCC_PRECONDITION_REQUIRED, t, keys, false, 0, NULL,
				  true, oldver, oldetag);
	assigned = occ_tuple_version(t, desc, td->tg_newtuple, &isnull);
	want = t->version_input == OCC_INPUT_NEXT ? oldver + 1 : oldver;
	if (isnull || assigned != want)
		occ_raise(ERRCODE_OCC_CONFLICT, t, keys,
				  !isnull,
				  t->version_input == OCC_INPUT_NEXT ? assigned - 1 : assigned,
				  NULL, true, oldver, oldetag);
}

/*
 * occ_trigger()
 *		BEFORE INSERT OR UPDATE FOR EACH ROW trigger installed by occ_enable().
 *		Arguments: version column, etag column, granularity, version_input.
 */
Datum
occ_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	OccTable   *t;
	HeapTuple	newtup;
	int64		version;
	const char *prev = NULL;
	int			prevlen = 0;
	Datum		keys[INDEX_MAX_KEYS];
	int			cols[2];
	Datum		vals[2];
	bool		nulls[2] = {false, false};
	bool		isupdate;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_trigger: not called by trigger manager")));
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_trigger: must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));

	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	t = occ_table_for_relation(rel, false);
	isupdate = TRIGGER_FIRED_BY_UPDATE(td->tg_event);

	if (!isupdate)
	{
		newtup = td->tg_trigtuple;
		version = 1;
		if (t->is_partition && moved_valid)
		{
			bool		isnull;
			Datum		e = heap_getattr(newtup, t->etag_attnum, desc, &isnull);

			moved_valid = false;
			if (!isnull &&
				occ_tuple_version(t, desc, newtup, &isnull) == moved_version &&
				VARSIZE_ANY_EXHDR(DatumGetPointer(e)) == OCC_ETAG_LEN &&
				memcmp(VARDATA_ANY(DatumGetPointer(e)), moved_etag, OCC_ETAG_LEN) == 0)
				return PointerGetDatum(newtup);
		}
	}
	else
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		bool		vnull;
		bool		enull;
		int64		oldver;
		Datum		oldetag;
		char	   *oldetag_str = NULL;
		bool		changed;

		newtup = td->tg_newtuple;
		oldver = occ_tuple_version(t, desc, oldtup, &vnull);
		oldetag = heap_getattr(oldtup, t->etag_attnum, desc, &enull);
		if (!enull)
		{
			text	   *e = DatumGetTextPP(oldetag);

			prev = VARDATA_ANY(e);
			prevlen = VARSIZE_ANY_EXHDR(e);
		}

		if (occ_backfill_active)
		{
			/* occ_enable(): keep the version, draw a first ETag */
			version = vnull ? 1 : oldver;
			prev = NULL;
			prevlen = 0;
		}
		else
		{
			changed = occ_row_changed(t, desc, oldtup, newtup);
			if (t->version_input != OCC_INPUT_IGNORE)
			{
				if (prev)
					oldetag_str = text_to_cstring(DatumGetTextPP(oldetag));
				occ_check_version_input(t, td, desc, oldver, oldetag_str);
				if (t->version_input == OCC_INPUT_NEXT)
					changed = true;
			}

			if (!changed && prev != NULL)
			{
				/* nothing changed: version and ETag stay as they were */
				cols[0] = t->version_attnum;
				cols[1] = t->etag_attnum;
				vals[0] = heap_getattr(oldtup, t->version_attnum, desc, &nulls[0]);
				vals[1] = oldetag;
				return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 2,
																 cols, vals, nulls));
			}
			if (!changed)
			{
				/* a row without an ETag yet gets one, at the same version */
				version = vnull ? 1 : oldver;
				prev = NULL;
				prevlen = 0;
			}
			else
			{
				if ((t->version_typid == INT4OID && oldver >= PG_INT32_MAX) ||
					oldver == PG_INT64_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("version of a row of table \"%s\" would exceed the maximum of its type",
									t->plain_name),
							 errhint("Widen the version column to bigint.")));
				version = oldver + 1;
			}
		}
	}

	cols[0] = t->version_attnum;
	cols[1] = t->etag_attnum;
	vals[0] = t->version_typid == INT4OID ?
		Int32GetDatum((int32) version) : Int64GetDatum(version);
	if (occ_tuple_keys(t, desc, newtup, keys))
		vals[1] = PointerGetDatum(occ_etag_compute(t, keys, version, prev, prevlen));
	else
		nulls[1] = true;		/* the key's NOT NULL check will refuse it */
	newtup = heap_modify_tuple_by_cols(newtup, desc, 2, cols, vals, nulls);

	if (isupdate && t->is_partition && !nulls[1])
	{
		moved_valid = true;
		moved_version = version;
		memcpy(moved_etag, VARDATA(DatumGetPointer(vals[1])), OCC_ETAG_LEN);
	}
	return PointerGetDatum(newtup);
}
