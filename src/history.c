/*
 * history.c
 *		Row history (occ_enable(..., history => N)): the setting occ.reason,
 *		the history triggers, and reading a row's kept versions back.
 *		historytable.c makes the history table, historywrite.c writes it,
 *		historyfuncs.c answers the SQL functions, merge.c merges a stale
 *		update against a kept version.
 *
 * The history table of t is "<t>_occ_history" in t's schema: t's key
 * columns, then occ_slot, occ_version, occ_etag, occ_changed_at,
 * occ_changed_by, occ_reason and occ_row.  Version v of a row lives in slot
 * v % (N + 1), so that a long run of updates rewrites the same N + 1 rows in
 * place.  Each write of a version records who, when and why; the row image
 * of a version is stored when the next version replaces it (the current
 * version's image is the table's row), so at most N images are kept.
 *
 * Nobody but the table's owner may read or write the history table.  The
 * triggers write it directly (historywrite.c), as PostgreSQL's foreign keys
 * check as the table's owner; the reading functions first read the row
 * itself with the caller's rights, then the history as the owner.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "occ.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(occ_history_trigger);

#define OCC_REASON_MAX 256

char	   *occ_reason = NULL;

/* The statements of history_plans[] (historywrite.c writes without any). */
enum
{
	OCC_HP_READ,				/* a row's records from a version on */
	OCC_HP_REKEY,				/* a row's key changed */
	OCC_HP_FORGET,				/* a key's records (before records move to it) */
	OCC_HP_TRUNCATE				/* every record: the table was truncated */
};
StaticAssertDecl(OCC_HP_TRUNCATE + 1 == OCC_HISTORY_NPLANS, "one plan slot per statement");

/* occ.reason: at most OCC_REASON_MAX bytes. */
static bool
occ_check_reason(char **newval, void **extra, GucSource source)
{
	if (*newval && strlen(*newval) > OCC_REASON_MAX)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("occ.reason is at most %d bytes long.", OCC_REASON_MAX);
		return false;
	}
	return true;
}

/* Defines occ.reason. */
void
occ_history_init(void)
{
	DefineCustomStringVariable("occ.reason",
							   "Why the current transaction writes: recorded in row history.",
							   "At most 256 bytes; empty means no reason.",
							   &occ_reason,
							   "",
							   PGC_USERSET,
							   0,
							   occ_check_reason, NULL, NULL);
}

/*
 * Reads the history part of the occ trigger's arguments (see
 * occ_build_table) and finds the history table.
 */
void
occ_history_describe(OccTable *t, Relation rel, char **args, int nargs)
{
	Oid			nsp;

	if (nargs < 8)
		return;
	t->history = pg_strtoint32(args[5]);
	t->history_nspname = pstrdup(args[6]);
	t->history_relname = pstrdup(args[7]);
	nsp = get_namespace_oid(t->history_nspname, true);
	t->history_relid = OidIsValid(nsp) ? get_relname_relid(t->history_relname, nsp) : InvalidOid;
	if (!OidIsValid(t->history_relid))
	{
		/* its schema was renamed: it is where it was made, beside the table */
		t->history_relid = get_relname_relid(t->history_relname, RelationGetNamespace(rel));
		if (OidIsValid(t->history_relid))
			t->history_nspname = t->nspname;
	}
	t->history_qname = quote_qualified_identifier(t->history_nspname, t->history_relname);
	if (t->history < 1 || t->history > OCC_HISTORY_MAX || !OidIsValid(t->history_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("history table \"%s.%s\" of table \"%s\" does not exist",
						t->history_nspname, t->history_relname, t->plain_name),
				 errhint("Call occ_enable() on the table again.")));
}

/* Frees history.c's statements of t. */
void
occ_history_free_plans(OccTable *t)
{
	for (int i = 0; i < OCC_HISTORY_NPLANS; i++)
		if (t->history_plans[i])
		{
			SPI_freeplan(t->history_plans[i]);
			t->history_plans[i] = NULL;
		}
}

/* Appends the key condition over alias occ_h and parameters $first.. */
static void
occ_history_key_cond(StringInfo s, OccTable *t, int first)
{
	for (int i = 0; i < t->nkeys; i++)
		appendStringInfo(s, "%socc_h.%s %s $%d", i > 0 ? " AND " : "",
						 quote_identifier(t->keys[i].name), t->keys[i].eqop, first + i);
}

/* The SQL text of one of the statements; fills its parameter types. */
static char *
occ_history_sql(OccTable *t, int which, Oid *types, int *nparams)
{
	StringInfoData s;
	int			n = t->nkeys;

	for (int i = 0; i < n; i++)
		types[i] = types[n + i] = t->keys[i].typid;
	*nparams = n;
	initStringInfo(&s);
	switch (which)
	{
		case OCC_HP_READ:
			types[n] = INT8OID;
			*nparams = n + 1;
			appendStringInfo(&s,
							 "SELECT occ_version, occ_etag, occ_changed_at, occ_changed_by, "
							 "occ_reason, occ_row FROM %s AS occ_h WHERE ", t->history_qname);
			occ_history_key_cond(&s, t, 1);
			appendStringInfo(&s, " AND occ_h.occ_version OPERATOR(pg_catalog.>=) $%d "
							 "ORDER BY occ_h.occ_version", n + 1);
			break;
		case OCC_HP_REKEY:
			*nparams = 2 * n;
			appendStringInfo(&s, "UPDATE %s AS occ_h SET ", t->history_qname);
			for (int i = 0; i < n; i++)
				appendStringInfo(&s, "%s%s = $%d", i > 0 ? ", " : "",
								 quote_identifier(t->keys[i].name), n + 1 + i);
			appendStringInfoString(&s, " WHERE ");
			occ_history_key_cond(&s, t, 1);
			break;
		case OCC_HP_FORGET:
			/* $1.. the old key, $n+1.. the new one (as for OCC_HP_REKEY) */
			*nparams = 2 * n;
			appendStringInfo(&s, "DELETE FROM %s AS occ_h WHERE ", t->history_qname);
			occ_history_key_cond(&s, t, n + 1);
			appendStringInfoString(&s, " AND NOT (");
			occ_history_key_cond(&s, t, 1);
			appendStringInfoChar(&s, ')');
			break;
		case OCC_HP_TRUNCATE:
			*nparams = 0;
			appendStringInfo(&s, "TRUNCATE %s", t->history_qname);
			break;
	}
	return s.data;
}

/* The kept statement of t, prepared on first use (inside an SPI connection). */
static SPIPlanPtr
occ_history_plan(OccTable *t, int which)
{
	if (t->history_plans[which] == NULL)
	{
		Oid			types[2 * INDEX_MAX_KEYS + 1];
		int			nparams;
		char	   *sql = occ_history_sql(t, which, types, &nparams);
		SPIPlanPtr	plan = SPI_prepare(sql, nparams, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		t->history_plans[which] = plan;
	}
	return t->history_plans[which];
}

/*
 * Runs one of the statements as the owner of the history table, in an SPI
 * connection of its own.  values: the keys, then the statement's own.
 * Returns the rows it processed; a read's records go to *records (in the
 * caller's memory context).
 */
static uint64
occ_history_run(OccTable *t, int which, Datum *values, const char *nulls,
				List **records)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(t->history_relid));
	Oid			owner;
	Oid			save_user;
	int			save_ctx;
	volatile uint64 processed = 0;
	MemoryContext outer = CurrentMemoryContext;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("history table \"%s.%s\" of table \"%s\" does not exist",
						t->history_nspname, t->history_relname, t->plain_name),
				 errhint("Call occ_enable() on the table again.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&save_user, &save_ctx);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SetUserIdAndSecContext(owner, save_ctx | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_execute_plan(occ_history_plan(t, which), values, nulls, false, 0) < 0)
			elog(ERROR, "occ: history statement failed");
		processed = SPI_processed;
		for (uint64 i = 0; records && i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			MemoryContext old = MemoryContextSwitchTo(outer);
			OccVersionRecord *r = palloc0(sizeof(OccVersionRecord));
			bool		isnull;
			Datum		d;

			r->version = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
			r->etag = SPI_getvalue(row, desc, 2);
			d = SPI_getbinval(row, desc, 3, &isnull);
			r->has_changed_at = !isnull;
			r->changed_at = isnull ? 0 : DatumGetTimestampTz(d);
			r->changed_by = SPI_getvalue(row, desc, 4);
			r->reason = SPI_getvalue(row, desc, 5);
			d = SPI_getbinval(row, desc, 6, &isnull);
			r->row = isnull ? NULL : DatumGetJsonbPCopy(d);
			*records = lappend(*records, r);
			MemoryContextSwitchTo(old);
		}
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_ctx);
	}
	PG_END_TRY();
	SPI_finish();
	return processed;
}

/* The keys, then room for a statement's own parameters, all not null. */
static void
occ_history_params(OccTable *t, Datum *keys, Datum *values, char *nulls, int nvalues)
{
	memset(nulls, ' ', nvalues);
	memcpy(values, keys, t->nkeys * sizeof(Datum));
}

/*
 * A row's key changed (oldkeys to newkeys): its history follows.  Records
 * under the new key that no row owns (left by a TRUNCATE of a partition, say)
 * go first; if a row does own that key, the UPDATE fails on the table's
 * primary key and all of this rolls back.  A key written otherwise but equal
 * by its type's equality (numeric 1.0 and 1.00) is the same key: its records
 * stay.
 */
void
occ_history_rekey(OccTable *t, Datum *oldkeys, Datum *newkeys)
{
	Datum		values[2 * INDEX_MAX_KEYS];
	char		nulls[2 * INDEX_MAX_KEYS];

	occ_history_params(t, oldkeys, values, nulls, 2 * t->nkeys);
	memcpy(values + t->nkeys, newkeys, t->nkeys * sizeof(Datum));
	occ_history_run(t, OCC_HP_FORGET, values, nulls, NULL);
	occ_history_run(t, OCC_HP_REKEY, values, nulls, NULL);
}

/*
 * The image of the version before img: img with the values the next
 * version replaced (rec->row) put back, and rec's version and ETag.  Only
 * members img has are put back, so that columns dropped since stay out.
 */
static Jsonb *
occ_history_image_before(OccTable *t, Jsonb *img, OccVersionRecord *rec)
{
	JsonbIterator *it = JsonbIteratorInit(&img->root);
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		JsonbValue *old;
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		pushJsonbValue(&st, WJB_KEY, &k);
		name = pnstrdup(k.val.string.val, k.val.string.len);
		if (strcmp(name, t->version_col) == 0)
		{
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(rec->version);
		}
		else if (strcmp(name, t->etag_col) == 0)
		{
			v.type = rec->etag ? jbvString : jbvNull;
			v.val.string.val = rec->etag;
			v.val.string.len = rec->etag ? strlen(rec->etag) : 0;
		}
		else if ((old = occ_json_member(&rec->row->root, k.val.string.val,
										k.val.string.len)) != NULL)
			v = *old;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * The records of a row from version from_version on, oldest first
 * (OccVersionRecord *), each with its whole image in row: the current
 * version (current, its image current_row, as the caller read it) and,
 * going back from it, each version whose replaced values are kept.  A
 * version whose image cannot be rebuilt (older than the kept history, or
 * written past occ's trigger) has row NULL.
 */
List *
occ_history_records(OccTable *t, Datum *keys, int64 from_version,
					Jsonb *current_row, int64 current)
{
	Datum		values[INDEX_MAX_KEYS + 1];
	char		nulls[INDEX_MAX_KEYS + 1];
	List	   *records = NIL;
	Jsonb	   *img = current_row;
	int64		expect = current - 1;

	occ_history_check(t);
	occ_history_params(t, keys, values, nulls, t->nkeys + 1);
	values[t->nkeys] = Int64GetDatum(from_version);
	occ_history_run(t, OCC_HP_READ, values, nulls, &records);

	/* newest first: each image from the one after it */
	for (int i = list_length(records) - 1; i >= 0; i--)
	{
		OccVersionRecord *rec = (OccVersionRecord *) list_nth(records, i);

		if (rec->version >= current)
		{
			rec->row = rec->version == current ? current_row : NULL;
			continue;
		}
		if (rec->version != expect || rec->row == NULL || img == NULL)
			img = NULL;			/* a gap: nothing older can be rebuilt */
		else
			img = occ_history_image_before(t, img, rec);
		rec->row = img;
		expect = rec->version - 1;
	}
	return records;
}

/*
 * occ_history_trigger()
 *		AFTER INSERT OR DELETE FOR EACH ROW and AFTER TRUNCATE FOR EACH
 *		STATEMENT trigger that occ_enable() adds with history: a new row
 *		starts its history, a deleted row's goes.  (Updates are recorded by
 *		occ_trigger, which sees the old and the new row.)  AFTER, so that an
 *		INSERT ... ON CONFLICT that inserts nothing records nothing.
 */
Datum
occ_history_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	OccTable   *t;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!(TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) ||
		  (TRIGGER_FIRED_FOR_ROW(td->tg_event) &&
		   (TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
			TRIGGER_FIRED_BY_DELETE(td->tg_event)))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_history_trigger: must be fired AFTER INSERT OR DELETE FOR EACH ROW or AFTER TRUNCATE")));
	t = occ_table_for_relation(td->tg_relation, true);
	if (t == NULL || t->history == 0)
		return PointerGetDatum(NULL);	/* occ or its history was turned off */
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		occ_history_run(t, OCC_HP_TRUNCATE, NULL, NULL, NULL);
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		occ_history_inserted(t, RelationGetDescr(td->tg_relation), td->tg_trigtuple);
	else
		occ_history_deleted(t, RelationGetDescr(td->tg_relation), td->tg_trigtuple);
	return PointerGetDatum(NULL);
}

/*
 * May the caller read every column of t (the whole row, as SELECT * would)?
 * Row-level security is the caller's own query's business.
 */
bool
occ_caller_may_select_row(OccTable *t)
{
	Oid			user = GetUserId();

	if (pg_class_aclcheck(t->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return true;
	return pg_attribute_aclcheck_all(t->relid, user, ACL_SELECT, ACLMASK_ALL) == ACLCHECK_OK;
}
