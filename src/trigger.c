/*
 * trigger.c
 *		occ_trigger(): the BEFORE INSERT OR UPDATE row trigger that keeps the
 *		version and ETag of an enabled table right, whoever writes.
 *
 * INSERT gets the table's start version (the version column's constant
 * DEFAULT, else 1) and a fresh ETag.  An UPDATE that changes any other
 * column gets version + 1 and the next ETag; one that changes nothing keeps
 * both.  With version_input 'expected' or 'next' the UPDATE must also say
 * which version it read.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "storage/proc.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rls.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "occ.h"

PG_FUNCTION_INFO_V1(occ_trigger);

/*
 * UPDATEs of a row that this trigger found changed nothing, so that a caller
 * can tell such an UPDATE from one the trigger never saw (disabled, or
 * session_replication_role = replica).
 */
uint64		occ_noop_updates = 0;

/*
 * An UPDATE that moves a row to another partition deletes it there and
 * inserts it here; the insert must keep what the update just computed.
 * Only that insert may: into the same partitioned table (so that a
 * data-modifying CTE cannot carry a row from one enabled table into
 * another), in the same transaction and command, with the same key (so no
 * other statement, and no other row of this one, can use the marker), the
 * same version and ETag.
 */
typedef struct OccMoved
{
	bool		valid;
	Oid			root;			/* the partitioned table the row moves in */
	LocalTransactionId lxid;
	CommandId	cid;
	uint32		keyhash;
	int64		version;
	char		etag[OCC_ETAG_LEN];
} OccMoved;

static OccMoved occ_moved;

static int64 occ_tuple_version(OccTable *t, TupleDesc desc, HeapTuple tup, bool *isnull);
static bool occ_tuple_keys(OccTable *t, TupleDesc desc, HeapTuple tup, Datum *keys);

/* Is this insert the second half of the move the marker describes? */
static bool
occ_is_move(OccTable *t, TupleDesc desc, HeapTuple tup)
{
	bool		isnull;
	Datum		e;
	Datum		keys[INDEX_MAX_KEYS];

	if (!occ_moved.valid)
		return false;
	occ_moved.valid = false;
	if (occ_moved.root != t->stats_relid ||
		occ_moved.lxid != occ_my_lxid() || occ_moved.cid != GetCurrentCommandId(false))
		return false;
	e = heap_getattr(tup, t->etag_attnum, desc, &isnull);
	if (isnull || VARSIZE_ANY_EXHDR(DatumGetPointer(e)) != OCC_ETAG_LEN ||
		memcmp(VARDATA_ANY(DatumGetPointer(e)), occ_moved.etag, OCC_ETAG_LEN) != 0)
		return false;
	if (occ_tuple_version(t, desc, tup, &isnull) != occ_moved.version || isnull)
		return false;
	return occ_tuple_keys(t, desc, tup, keys) &&
		occ_key_hash(t, keys) == occ_moved.keyhash;
}

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

/*
 * Does the update change any column besides occ's own?  With changed
 * given, flags every changed column (indexed like desc); without, stops
 * at the first.
 */
bool
occ_row_changes(OccTable *t, TupleDesc desc, HeapTuple oldtup,
				HeapTuple newtup, bool *changed)
{
	int			natts = desc->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	Datum	   *nv = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	bool	   *nn = palloc(natts * sizeof(bool));
	bool		any = false;

	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		differs;

		if (changed)
			changed[i] = false;
		if (att->attisdropped || occ_own_column(t, att->attnum))
			continue;
		if (on[i] != nn[i])
			differs = true;
		else
			differs = !on[i] && !occ_datum_equal(att, ov[i], nv[i]);
		if (!differs)
			continue;
		any = true;
		if (changed == NULL)
			break;
		changed[i] = true;
	}
	pfree(ov);
	pfree(nv);
	pfree(on);
	pfree(nn);
	return any;
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

/*
 * May the caller read the key, version and ETag of the row a plain UPDATE
 * hit?  Only with SELECT on those columns and no row-level security in the
 * way (the row may be one its SELECT policies hide).
 */
static bool
occ_caller_may_read(OccTable *t)
{
	Oid			user = GetUserId();

	if (check_enable_rls(t->relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	if (pg_class_aclcheck(t->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return true;
	/* column privileges: unlike the table's, these know no superuser */
	if (pg_attribute_aclcheck(t->relid, t->version_attnum, user, ACL_SELECT) != ACLCHECK_OK ||
		pg_attribute_aclcheck(t->relid, t->etag_attnum, user, ACL_SELECT) != ACLCHECK_OK)
		return false;
	for (int i = 0; i < t->nkeys; i++)
		if (pg_attribute_aclcheck(t->relid, t->keys[i].attnum, user, ACL_SELECT) != ACLCHECK_OK)
			return false;
	return true;
}

/*
 * Is this UPDATE a referential action of one of the table's foreign keys
 * (ON DELETE SET NULL / SET DEFAULT, ON UPDATE CASCADE / SET NULL / SET
 * DEFAULT)?  Such a statement cannot name a version.  PostgreSQL runs it
 * (ri_triggers.c) as the table's owner in a security context flagged
 * SECURITY_NOFORCE_RLS, which nothing else sets and no SQL can, and it sets
 * only that key's columns.  A client's UPDATE, even the owner's or a
 * SECURITY DEFINER function's, never runs in that context.
 */
static bool
occ_is_referential_action(Relation rel, TriggerData *td)
{
	const Bitmapset *cols = td->tg_updatedcols;
	ListCell   *lc;

	if (!InNoForceRLSOperation() || GetUserId() != rel->rd_rel->relowner ||
		bms_is_empty(cols))
		return false;
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = (ForeignKeyCacheInfo *) lfirst(lc);
		Bitmapset  *fkcols = NULL;
		HeapTuple	tup;
		Form_pg_constraint con;
		bool		acts;

		for (int i = 0; i < fk->nkeys; i++)
			fkcols = bms_add_member(fkcols,
									fk->conkey[i] - FirstLowInvalidHeapAttributeNumber);
		acts = bms_is_subset(cols, fkcols);
		bms_free(fkcols);
		if (!acts)
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
		if (!HeapTupleIsValid(tup))
			continue;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		acts = con->confupdtype == FKCONSTR_ACTION_CASCADE ||
			con->confupdtype == FKCONSTR_ACTION_SETNULL ||
			con->confupdtype == FKCONSTR_ACTION_SETDEFAULT ||
			con->confdeltype == FKCONSTR_ACTION_SETNULL ||
			con->confdeltype == FKCONSTR_ACTION_SETDEFAULT;
		ReleaseSysCache(tup);
		if (acts)
			return true;
	}
	return false;
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
	OccErrorInfo info = {0};

	occ_tuple_keys(t, desc, td->tg_trigtuple, keys);
	if (occ_caller_may_read(t))
	{
		info.has_current = true;
		info.current_version = oldver;
		info.current_etag = oldetag;
	}
	else
		info.hide_key = true;
	if (!bms_is_member(t->version_attnum - FirstLowInvalidHeapAttributeNumber,
					   td->tg_updatedcols))
	{
		info.sqlstate = ERRCODE_OCC_PRECONDITION_REQUIRED;
		occ_stats_event(t, OCC_STAT_REQUIRED, keys, &info);
		occ_raise(t, keys, &info);
	}
	assigned = occ_tuple_version(t, desc, td->tg_newtuple, &isnull);
	want = t->version_input == OCC_INPUT_NEXT ? oldver + 1 : oldver;
	if (isnull || assigned != want)
	{
		info.sqlstate = ERRCODE_OCC_CONFLICT;
		info.has_expected_version = !isnull;
		info.expected_version = assigned;
		/* next: the version it read is one less (none below the minimum) */
		if (t->version_input == OCC_INPUT_NEXT &&
			pg_sub_s64_overflow(assigned, 1, &info.expected_version))
			info.has_expected_version = false;
		occ_stats_event(t, OCC_STAT_CONFLICT, keys, &info);
		occ_raise(t, keys, &info);
	}
}

/* The field versions stored in a row, or NULL. */
static Jsonb *
occ_tuple_fields(OccTable *t, TupleDesc desc, HeapTuple tup)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, t->fields_attnum, desc, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

/*
 * Field versions after a real change (field granularity); changed flags the
 * changed columns (occ_row_changes).
 */
static Jsonb *
occ_next_fields(OccTable *t, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup,
				int64 oldver, int64 newver, bool *changed)
{
	int			natts = desc->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	Datum	   *nv = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	bool	   *nn = palloc(natts * sizeof(bool));

	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);
	return occ_fields_after_update(t, desc, occ_tuple_fields(t, desc, oldtup),
								   oldver, newver, ov, on, nv, nn, changed);
}

/* Replaces occ's columns in tup; fields is used with field granularity only. */
static HeapTuple
occ_set_columns(OccTable *t, TupleDesc desc, HeapTuple tup,
				Datum version, bool version_null, Datum etag, bool etag_null,
				Jsonb *fields)
{
	int			cols[3];
	Datum		vals[3];
	bool		nulls[3];
	int			n = 2;

	cols[0] = t->version_attnum;
	vals[0] = version;
	nulls[0] = version_null;
	cols[1] = t->etag_attnum;
	vals[1] = etag;
	nulls[1] = etag_null;
	if (t->fields_attnum != InvalidAttrNumber)
	{
		cols[2] = t->fields_attnum;
		vals[2] = PointerGetDatum(fields);
		nulls[2] = fields == NULL;
		n = 3;
	}
	return heap_modify_tuple_by_cols(tup, desc, n, cols, vals, nulls);
}

/*
 * occ_trigger()
 *		BEFORE INSERT OR UPDATE FOR EACH ROW trigger installed by occ_enable().
 *		Arguments: version column, etag column, granularity, version_input
 *		[, field versions column].
 */
Datum
occ_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	OccTable   *t;
	HeapTuple	newtup;
	HeapTuple	oldtup = NULL;
	int64		version;
	const char *prev = NULL;
	int			prevlen = 0;
	Datum		keys[INDEX_MAX_KEYS];
	Datum		etag = (Datum) 0;
	bool		etag_null = false;
	Jsonb	   *fields = NULL;
	bool		isupdate;
	bool		counted = false;
	int64		oldver = 0;		/* an UPDATE's row before (a NULL version: 0) */
	bool	   *colchanged = NULL;	/* which columns it changes, when needed */
	OccBackfill citus_backfill = OCC_BACKFILL_NONE;

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
	if (t->citus_shardid != 0)
	{
		/* a Citus shard: its table's rows copied in, or occ_enable()'s backfill */
		if (!isupdate && occ_citus_keeps_insert(t, rel, desc, td->tg_trigtuple))
			return PointerGetDatum(td->tg_trigtuple);
		if (isupdate)
			citus_backfill = occ_citus_backfill(t, td);
	}

	if (!isupdate)
	{
		newtup = td->tg_trigtuple;
		version = t->start_version;
		if (t->is_partition && occ_is_move(t, desc, newtup))
			return PointerGetDatum(newtup);
		if (t->fields_attnum != InvalidAttrNumber)
			fields = occ_fields_initial(version);
	}
	else
	{
		bool		vnull;
		bool		enull;
		Datum		oldetag;
		bool		changed;
		OccBackfill bf;

		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
		oldver = occ_tuple_version(t, desc, oldtup, &vnull);
		oldetag = heap_getattr(oldtup, t->etag_attnum, desc, &enull);
		if (!enull)
		{
			text	   *e = DatumGetTextPP(oldetag);

			prev = VARDATA_ANY(e);
			prevlen = VARSIZE_ANY_EXHDR(e);
		}

		bf = citus_backfill != OCC_BACKFILL_NONE ? citus_backfill :
			occ_backfill_of(t, desc, newtup);
		if (bf == OCC_BACKFILL_FIELDS)
		{
			/* switching to field granularity: tracking begins now */
			return PointerGetDatum(occ_set_columns(t, desc, newtup,
												   heap_getattr(oldtup, t->version_attnum, desc, &vnull), vnull,
												   oldetag, enull,
												   occ_fields_initial(vnull ? t->start_version : oldver)));
		}
		if (bf == OCC_BACKFILL_ALL)
		{
			/* occ_enable(): keep the version, draw a first ETag */
			version = vnull ? t->start_version : oldver;
			prev = NULL;
			prevlen = 0;
			if (t->fields_attnum != InvalidAttrNumber)
				fields = occ_fields_initial(version);
		}
		else
		{
			/* which columns changed: field versions and history need to know */
			if (t->fields_attnum != InvalidAttrNumber || t->history > 0)
				colchanged = palloc(desc->natts * sizeof(bool));
			changed = occ_row_changes(t, desc, oldtup, newtup, colchanged);
			if (t->version_input != OCC_INPUT_IGNORE &&
				!occ_is_referential_action(rel, td))
			{
				occ_check_version_input(t, td, desc, oldver,
										prev ? text_to_cstring(DatumGetTextPP(oldetag)) : NULL);
				if (t->version_input == OCC_INPUT_NEXT)
					changed = true;
			}

			if (!changed && prev != NULL)
			{
				/* nothing changed: occ's columns stay as they were */
				bool		fnull = true;
				Datum		f = (Datum) 0;

				occ_stats_event(t, OCC_STAT_NOOP, NULL, NULL);
				occ_noop_updates++;
				if (t->fields_attnum != InvalidAttrNumber)
					f = heap_getattr(oldtup, t->fields_attnum, desc, &fnull);
				return PointerGetDatum(occ_set_columns(t, desc, newtup,
													   heap_getattr(oldtup, t->version_attnum, desc, &vnull), vnull,
													   oldetag, false,
													   fnull ? NULL : DatumGetJsonbP(f)));
			}
			if (!changed)
			{
				/* a row without an ETag yet gets one, at the same version */
				version = vnull ? t->start_version : oldver;
				prev = NULL;
				prevlen = 0;
				if (t->fields_attnum != InvalidAttrNumber)
				{
					fields = occ_tuple_fields(t, desc, oldtup);
					if (fields == NULL)
						fields = occ_fields_initial(version);
				}
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
				counted = true;
				if (t->fields_attnum != InvalidAttrNumber)
					fields = occ_next_fields(t, desc, oldtup, newtup,
											 vnull ? 0 : oldver, version, colchanged);
			}
		}
	}

	if (occ_tuple_keys(t, desc, newtup, keys))
	{
		etag = PointerGetDatum(occ_etag_compute(t, keys, version, prev, prevlen));
		if (counted)
			occ_stats_event(t, OCC_STAT_UPDATE, keys, NULL);
		if (counted && t->history > 0)
			occ_history_record_update(t, desc, oldtup, keys, oldver, version, etag,
									  colchanged);
	}
	else
		etag_null = true;		/* the key's NOT NULL check will refuse it */
	newtup = occ_set_columns(t, desc, newtup,
							 t->version_typid == INT4OID ?
							 Int32GetDatum((int32) version) : Int64GetDatum(version),
							 false, etag, etag_null, fields);

	if (isupdate && t->is_partition && !etag_null)
	{
		occ_moved.valid = true;
		occ_moved.root = t->stats_relid;
		occ_moved.lxid = occ_my_lxid();
		occ_moved.cid = GetCurrentCommandId(false);
		occ_moved.keyhash = occ_key_hash(t, keys);
		occ_moved.version = version;
		memcpy(occ_moved.etag, VARDATA(DatumGetPointer(etag)), OCC_ETAG_LEN);
	}
	return PointerGetDatum(newtup);
}
