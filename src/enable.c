/*
 * enable.c
 *		occ_enable() and occ_disable(): opt a table in (columns, backfill,
 *		trigger) and out, and occ_trigger_args() behind the occ_tables view.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "catalog/pg_inherits.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(occ_enable);
PG_FUNCTION_INFO_V1(occ_disable);
PG_FUNCTION_INFO_V1(occ_trigger_args);


/* Does rel have occ's trigger only as the clone of its parent's? */
static bool
occ_inherited_trigger(Relation rel)
{
	Trigger    *trig = occ_find_trigger(rel);

	return trig != NULL && trig->tgisclone;
}

/*
 * Raises 42501 unless the caller owns relid.  Reads the catalog cache, with
 * no lock on the table, so that a caller without rights never queues for
 * one (as ALTER TABLE's RangeVarGetRelidExtended callback does).
 */
static void
occ_check_owner(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!occ_table_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, name);
}

/*
 * Opens a table the caller owns, with the lock DDL on it needs.  Ownership
 * is checked before the lock is requested and again once it is held (the
 * owner may have changed meanwhile).
 */
static Relation
occ_open_owned_table(Oid relid)
{
	Relation	rel;

	occ_check_owner(relid);
	rel = try_table_open(relid, AccessExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("occ works on ordinary and partitioned tables.")));
	if (!occ_table_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE,
					   RelationGetRelationName(rel));
	if (occ_inherited_trigger(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is a partition of a table enabled for occ",
						RelationGetRelationName(rel)),
				 errhint("Call occ_enable() or occ_disable() on the partitioned table.")));
	return rel;
}

/* Is name one of rel's primary-key columns? */
static bool
occ_is_key_column(Relation rel, const char *name)
{
	Relation	idx;
	bool		found = false;

	list_free(RelationGetIndexList(rel));
	if (!OidIsValid(rel->rd_pkindex))
		return false;
	idx = index_open(rel->rd_pkindex, AccessShareLock);
	for (int i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	a = idx->rd_index->indkey.values[i];

		if (a > 0 &&
			strcmp(NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname), name) == 0)
			found = true;
	}
	index_close(idx, AccessShareLock);
	return found;
}

/* Drops occ's trigger of the table qname, and with history its history triggers. */
static void
occ_drop_triggers(const char *qname, bool history)
{
	occ_exec(psprintf("DROP TRIGGER %s ON %s", quote_identifier(OCC_TRIGGER_NAME), qname));
	if (!history)
		return;
	occ_exec(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
					  quote_identifier(OCC_HISTORY_TRIGGER_NAME), qname));
	occ_exec(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
					  quote_identifier(OCC_HISTORY_TRUNCATE_TRIGGER_NAME), qname));
}

/*
 * Drops the occ triggers that partitions of relid were enabled with on their
 * own, so that the partitioned table's trigger can be cloned onto them.
 */
static void
occ_drop_partition_triggers(Oid relid)
{
	List	   *parts = find_all_inheritors(relid, AccessExclusiveLock, NULL);
	ListCell   *lc;

	foreach(lc, parts)
	{
		Oid			part = lfirst_oid(lc);
		Relation	prel;
		Trigger    *trig;

		if (part == relid)
			continue;
		prel = table_open(part, NoLock);
		trig = occ_find_trigger(prel);
		if (trig && !trig->tgisclone)
			occ_drop_triggers(psprintf("%s.%s",
									   quote_identifier(get_namespace_name(RelationGetNamespace(prel))),
									   quote_identifier(RelationGetRelationName(prel))),
							  occ_relation_history(prel, NULL, NULL) > 0);
		table_close(prel, NoLock);
	}
}

/* Runs one utility or DML statement through SPI. */
void
occ_exec(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "occ: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* What occ_enable() was asked for and what it found. */
typedef struct OccEnableRequest
{
	Oid			relid;
	char	   *version_col;
	char	   *etag_col;
	OccGranularity granularity;
	OccVersionInput version_input;
	OccColumnTypes types;		/* of the columns as they are now */
	char	   *qname;			/* the table, quoted and qualified */
	char	   *schema;			/* the extension's, quoted */
	bool		was_enabled;
	bool		forced;			/* FORCE ROW LEVEL SECURITY */
	bool		partitioned;
	bool		citus;
	int32		history;		/* history => N */
	int32		old_history;	/* what the table kept so far */
	char	   *hist_nspname;	/* the history table (kept, or to be made) */
	char	   *hist_relname;
	Oid			pkoid;
} OccEnableRequest;

/* Checks and reads occ_enable()'s arguments. */
static void
occ_enable_args(FunctionCallInfo fcinfo, OccEnableRequest *e)
{
	static const char *const argnames[] =
	{"tbl", "version_column", "etag_column", "granularity", "version_input", "history"};
	char	   *granularity;
	char	   *version_input;

	/* the 1.0 and 1.1 declarations (before ALTER EXTENSION UPDATE) pass five */
	for (int i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be null", argnames[i])));
	e->relid = PG_GETARG_OID(0);
	e->version_col = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	e->etag_col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	granularity = text_to_cstring(PG_GETARG_TEXT_PP(3));
	version_input = text_to_cstring(PG_GETARG_TEXT_PP(4));
	e->history = PG_NARGS() > 5 ? PG_GETARG_INT32(5) : 0;
	if (e->history < 0 || e->history > OCC_HISTORY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must be between 0 and %d", OCC_HISTORY_MAX),
				 errdetail("history is the number of earlier versions of each row to keep; 0 keeps none.")));

	if (!occ_parse_granularity(granularity, &e->granularity))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid granularity \"%s\"", granularity),
				 errhint("Valid values are \"row\" and \"field\".")));
	if (!occ_parse_version_input(version_input, &e->version_input))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid version_input \"%s\"", version_input),
				 errhint("Valid values are \"ignore\", \"expected\" and \"next\".")));
	if (e->version_col[0] == '\0' || e->etag_col[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version_column and etag_column must not be empty")));
	if (strcmp(e->version_col, e->etag_col) == 0 ||
		strcmp(e->version_col, OCC_FIELDS_COLUMN) == 0 ||
		strcmp(e->etag_col, OCC_FIELDS_COLUMN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version_column and etag_column must differ from each other and from \"%s\"",
						OCC_FIELDS_COLUMN)));
}

/*
 * Checks the table (owner, key, columns) and decides the backfill: first
 * ETags for a table newly enabled or given other columns, first field
 * versions for one switching to field granularity.
 */
static OccBackfill
occ_enable_check(OccEnableRequest *e)
{
	Relation	rel = occ_open_owned_table(e->relid);
	bool		field = e->granularity == OCC_GRANULARITY_FIELD;
	OccGranularity old_granularity;
	char	   *old_version = NULL;
	char	   *old_etag = NULL;
	OccBackfill backfill = OCC_BACKFILL_NONE;

	e->citus = occ_citus_check_enable(rel, true);
	if (e->citus && e->history > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("occ cannot keep history of Citus table \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Call occ_enable() without history.")));
	e->qname = psprintf("%s.%s",
						quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
						quote_identifier(RelationGetRelationName(rel)));
	e->pkoid = occ_check_columns(rel, RelationGetRelationName(rel), e->version_col,
								 e->etag_col, field ? OCC_FIELDS_COLUMN : NULL, &e->types);
	occ_check_no_children(rel);
	if (occ_is_key_column(rel, e->version_col) || occ_is_key_column(rel, e->etag_col))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the version and etag columns cannot be part of the primary key")));
	e->was_enabled = occ_relation_enabled(rel, &old_granularity, &old_version, &old_etag);
	if (!e->was_enabled || !OidIsValid(e->types.version) || !OidIsValid(e->types.etag) ||
		(old_version && strcmp(old_version, e->version_col) != 0) ||
		(old_etag && strcmp(old_etag, e->etag_col) != 0))
		backfill = OCC_BACKFILL_ALL;	/* new or other columns: first ETags */
	else if (field && (old_granularity != OCC_GRANULARITY_FIELD ||
					   !OidIsValid(e->types.fields)))
		backfill = OCC_BACKFILL_FIELDS;
	e->old_history = e->was_enabled ?
		occ_relation_history(rel, &e->hist_nspname, &e->hist_relname) : 0;
	if (e->old_history == 0)
	{
		e->hist_nspname = get_namespace_name(RelationGetNamespace(rel));
		e->hist_relname = occ_history_table_name(rel);
	}
	e->forced = rel->rd_rel->relforcerowsecurity;
	e->partitioned = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
	table_close(rel, NoLock);
	return backfill;
}

/* Adds the missing columns and (re)creates the trigger, inside SPI. */
static void
occ_enable_install(OccEnableRequest *e)
{
	bool		field = e->granularity == OCC_GRANULARITY_FIELD;
	List	   *cmds = NIL;
	ListCell   *lc;
	StringInfoData sql;
	int			guc_level = 0;	/* citus.enable_unsafe_triggers set for the DDL */

	if (e->citus)
		guc_level = occ_citus_allow_triggers();
	if (!OidIsValid(e->types.version))
		cmds = lappend(cmds, psprintf("ADD COLUMN %s pg_catalog.int8 NOT NULL DEFAULT 1",
									  quote_identifier(e->version_col)));
	if (!OidIsValid(e->types.etag))
		cmds = lappend(cmds, psprintf("ADD COLUMN %s pg_catalog.text",
									  quote_identifier(e->etag_col)));
	if (field && !OidIsValid(e->types.fields))
		cmds = lappend(cmds, psprintf("ADD COLUMN %s pg_catalog.jsonb",
									  quote_identifier(OCC_FIELDS_COLUMN)));
	initStringInfo(&sql);
	if (cmds != NIL)
	{
		appendStringInfo(&sql, "ALTER TABLE %s ", e->qname);
		foreach(lc, cmds)
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 (char *) lfirst(lc));
		occ_exec(sql.data);
		resetStringInfo(&sql);
	}
	if (e->was_enabled)
		occ_drop_triggers(e->qname, e->old_history > 0);
	if (e->partitioned)
		occ_drop_partition_triggers(e->relid);
	if (e->history > 0 &&
		(e->old_history == 0 ||
		 !OidIsValid(get_relname_relid(e->hist_relname,
									   get_namespace_oid(e->hist_nspname, true)))))
	{
		Relation	rel = table_open(e->relid, NoLock);

		occ_history_create(rel, e->pkoid, e->hist_nspname, e->hist_relname);
		table_close(rel, NoLock);
	}
	if (e->history > 0 && e->old_history > 0)
		occ_history_link(e->relid, e->hist_nspname, e->hist_relname);
	if (e->history == 0 && e->old_history > 0)
		occ_history_drop(e->hist_nspname, e->hist_relname);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW "
					 "EXECUTE FUNCTION %s.occ_trigger(%s, %s, %s, %s",
					 quote_identifier(OCC_TRIGGER_NAME), e->qname, e->schema,
					 quote_literal_cstr(e->version_col), quote_literal_cstr(e->etag_col),
					 quote_literal_cstr(occ_granularity_name(e->granularity)),
					 quote_literal_cstr(occ_version_input_name(e->version_input)));
	if (field || e->history > 0)
		appendStringInfo(&sql, ", %s", quote_literal_cstr(field ? OCC_FIELDS_COLUMN : ""));
	if (e->history > 0)
		appendStringInfo(&sql, ", '%d', %s, %s", e->history,
						 quote_literal_cstr(e->hist_nspname),
						 quote_literal_cstr(e->hist_relname));
	appendStringInfoChar(&sql, ')');
	occ_exec(sql.data);
	if (e->history > 0)
	{
		occ_exec(psprintf("CREATE TRIGGER %s AFTER INSERT OR DELETE ON %s FOR EACH ROW "
						  "EXECUTE FUNCTION %s.occ_history_trigger()",
						  quote_identifier(OCC_HISTORY_TRIGGER_NAME), e->qname, e->schema));
		occ_exec(psprintf("CREATE TRIGGER %s AFTER TRUNCATE ON %s FOR EACH STATEMENT "
						  "EXECUTE FUNCTION %s.occ_history_trigger()",
						  quote_identifier(OCC_HISTORY_TRUNCATE_TRIGGER_NAME), e->qname,
						  e->schema));
	}
	if (e->citus)
		occ_citus_restore_triggers(guc_level);
}

/*
 * occ_enable(tbl regclass, version_column name, etag_column name,
 *			  granularity text, version_input text, history int) RETURNS void
 *		Opts a table in, or reconfigures it: validate, decide the backfill,
 *		install the trigger, backfill.
 */
Datum
occ_enable(PG_FUNCTION_ARGS)
{
	OccEnableRequest e = {0};
	OccBackfill backfill;

	occ_enable_args(fcinfo, &e);
	PreventCommandIfReadOnly("occ_enable()");
	backfill = occ_enable_check(&e);

	e.schema = occ_extension_schema(false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_enable_install(&e);
	if (backfill != OCC_BACKFILL_NONE)
		occ_backfill_rows(e.qname, e.etag_col, backfill,
						  e.partitioned ?
						  find_all_inheritors(e.relid, AccessExclusiveLock, NULL) :
						  list_make1_oid(e.relid),
						  e.forced, e.citus);
	if (e.history > 0 && e.old_history > 0 && e.history != e.old_history)
	{
		Relation	rel;

		CommandCounterIncrement();
		rel = table_open(e.relid, NoLock);
		occ_history_rekeep(occ_table_for_relation(rel, false));
		table_close(rel, NoLock);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * occ_disable(tbl regclass) RETURNS void
 *		Removes the trigger; the columns and their data stay.
 */
Datum
occ_disable(PG_FUNCTION_ARGS)
{
	Relation	rel;
	bool		enabled;
	OccGranularity g;
	char	   *qname;
	int32		history;
	char	   *hist_nspname = NULL;
	char	   *hist_relname = NULL;
	bool		citus;
	int			guc_level;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"tbl\" must not be null")));
	PreventCommandIfReadOnly("occ_disable()");
	rel = occ_open_owned_table(PG_GETARG_OID(0));
	citus = occ_citus_check_enable(rel, false);
	enabled = occ_relation_enabled(rel, &g, NULL, NULL);
	history = enabled ? occ_relation_history(rel, &hist_nspname, &hist_relname) : 0;
	qname = psprintf("%s.%s", quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
					 quote_identifier(RelationGetRelationName(rel)));
	if (!enabled)
		ereport(NOTICE,
				(errmsg("table \"%s\" is not enabled for occ, skipping",
						RelationGetRelationName(rel))));
	table_close(rel, NoLock);
	if (enabled)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		guc_level = citus ? occ_citus_allow_triggers() : 0;
		occ_drop_triggers(qname, history > 0);
		if (history > 0)
			occ_history_drop(hist_nspname, hist_relname);
		if (citus)
			occ_citus_restore_triggers(guc_level);
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/*
 * occ_trigger_args(tgargs bytea) RETURNS text[]
 *		Splits pg_trigger.tgargs (NUL-terminated strings) for the occ_tables view.
 */
Datum
occ_trigger_args(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(b);
	const char *end = p + VARSIZE_ANY_EXHDR(b);
	ArrayBuildState *abs = initArrayResult(TEXTOID, CurrentMemoryContext, false);

	while (p < end)
	{
		int			len = strnlen(p, end - p);

		abs = accumArrayResult(abs, PointerGetDatum(cstring_to_text_with_len(p, len)),
							   false, TEXTOID, CurrentMemoryContext);
		p += len + 1;
	}
	PG_RETURN_DATUM(makeArrayResult(abs, CurrentMemoryContext));
}
