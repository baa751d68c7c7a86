/*
 * citus.c
 *		occ on Citus: recognising a shard and the distributed table it belongs
 *		to, refusing the table shapes occ cannot keep correct, and the few
 *		places where a shard's trigger must act differently.
 *
 * Citus is found at run time through its catalogs (pg_dist_partition,
 * pg_dist_shard, pg_dist_placement), read by column name, so occ builds and
 * behaves the same without it.  Everything here runs when a table's
 * description is built (meta.c) or from occ_enable(), never per row, except
 * the two small checks the trigger makes on shards.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"

#define OCC_CITUS_EXTENSION "citus"

/* Bumped at the end of every transaction: see occ_citus_current(). */
static uint64 occ_citus_xact_count = 1;
static bool occ_citus_callback_registered = false;

/* Counts transaction ends. */
static void
occ_citus_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		occ_citus_xact_count++;
}

/* Is Citus installed in this database? */
static bool
occ_citus_installed(void)
{
	return OidIsValid(get_extension_oid(OCC_CITUS_EXTENSION, true));
}

/*
 * Does name end in "_<digits>"?  Sets *id to the number and *suffix to where
 * "_" begins.  Citus names a shard, and each trigger on it, by appending
 * "_<shard id>" to the distributed table's (or trigger's) name.
 */
static bool
occ_citus_name_suffix(const char *name, uint64 *id, int *suffix)
{
	int			len = strlen(name);
	int			i = len;

	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--;
	if (i == len || i == 0 || name[i - 1] != '_' || len - i > 19)
		return false;
	*id = strtou64(name + i, NULL, 10);
	*suffix = i - 1;
	return true;
}

/*
 * Opens Citus catalog relname and starts a scan of the rows whose column
 * colname equals value (through index idxname when it exists).
 */
static SysScanDesc
occ_citus_scan(const char *relname, const char *idxname, const char *colname,
			   Oid cmpproc, Datum value, Relation *rel, ScanKey key)
{
	Oid			relid = get_relname_relid(relname, PG_CATALOG_NAMESPACE);
	Oid			idx = get_relname_relid(idxname, PG_CATALOG_NAMESPACE);
	AttrNumber	att;

	*rel = NULL;
	if (!OidIsValid(relid))
		return NULL;
	*rel = table_open(relid, AccessShareLock);
	att = occ_find_column(RelationGetDescr(*rel), colname);
	if (att == InvalidAttrNumber)
	{
		table_close(*rel, AccessShareLock);
		*rel = NULL;
		return NULL;
	}
	/* the table's column number: systable_beginscan maps it to the index's */
	ScanKeyInit(key, att, BTEqualStrategyNumber, cmpproc, value);
	return systable_beginscan(*rel, idx, OidIsValid(idx), NULL, 1, key);
}

/* Column colname of a row of Citus catalog rel. */
static Datum
occ_citus_value(Relation rel, HeapTuple tup, const char *colname, bool *isnull)
{
	AttrNumber	att = occ_find_column(RelationGetDescr(rel), colname);

	if (att == InvalidAttrNumber)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return heap_getattr(tup, att, RelationGetDescr(rel), isnull);
}

/*
 * The distributed table shard shardid belongs to, from pg_dist_shard;
 * InvalidOid when this node's catalogs do not (yet) show the shard.
 */
static Oid
occ_citus_shard_owner(uint64 shardid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;
	bool		isnull;

	scan = occ_citus_scan("pg_dist_shard", "pg_dist_shard_shardid_index", "shardid",
						  F_INT8EQ, Int64GetDatum((int64) shardid), &rel, &key);
	if (scan == NULL)
		return InvalidOid;
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Datum		d = occ_citus_value(rel, tup, "logicalrelid", &isnull);

		if (!isnull)
			owner = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/* How many copies (placements) shard shardid has. */
static int
occ_citus_placements(uint64 shardid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	int			n = 0;

	scan = occ_citus_scan("pg_dist_placement", "pg_dist_placement_shardid_index", "shardid",
						  F_INT8EQ, Int64GetDatum((int64) shardid), &rel, &key);
	if (scan == NULL)
		return 0;
	while (HeapTupleIsValid(systable_getnext(scan)))
		n++;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * Is relid a table Citus manages (in pg_dist_partition)?  Sets *repmodel to
 * its replication model ('t' for a reference table).
 */
static bool
occ_citus_table(Oid relid, char *repmodel)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	bool		isnull;

	scan = occ_citus_scan("pg_dist_partition", "pg_dist_partition_logical_relid_index",
						  "logicalrelid", F_OIDEQ, ObjectIdGetDatum(relid), &rel, &key);
	if (scan == NULL)
		return false;
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Datum		d = occ_citus_value(rel, tup, "repmodel", &isnull);

		found = true;
		*repmodel = isnull ? '\0' : DatumGetChar(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Does any shard of Citus table relid have more than one copy? */
static bool
occ_citus_replicated(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	bool		replicated = false;

	scan = occ_citus_scan("pg_dist_shard", "pg_dist_shard_logical_relid_index", "logicalrelid",
						  F_OIDEQ, ObjectIdGetDatum(relid), &rel, &key);
	if (scan == NULL)
		return false;
	while (!replicated && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Datum		d = occ_citus_value(rel, tup, "shardid", &isnull);

		replicated = !isnull && occ_citus_placements((uint64) DatumGetInt64(d)) > 1;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return replicated;
}

/*
 * Refuses Citus table relid (named name) when it has more than one copy of
 * a row: a reference table, or shards with several placements.  Each copy
 * would draw its own ETags (the secret, the nonce and the table's id differ
 * per node), so an If-Match would hold on one copy and not on another.
 */
static void
occ_citus_refuse_copies(Oid relid, const char *name)
{
	char		repmodel = '\0';

	if (!occ_citus_table(relid, &repmodel))
		return;
	if (repmodel == 't')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("occ does not support reference table \"%s\"", name),
				 errdetail("Citus keeps a copy of a reference table on every node, and occ cannot keep a row's ETag identical on every copy."),
				 errhint("Use a distributed table, or call occ_disable() on this one.")));
	if (occ_citus_replicated(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("occ does not support table \"%s\" because its shards have more than one copy", name),
				 errdetail("occ cannot keep a row's ETag identical on every copy of a shard."),
				 errhint("Distribute the table with citus.shard_replication_factor = 1, or call occ_disable() on it.")));
}

/* "schema.table", unquoted, for messages. */
static char *
occ_citus_plain_name(Oid relid)
{
	return psprintf("%s.%s", get_namespace_name(get_rel_namespace(relid)),
					get_rel_name(relid));
}

/*
 * The occ trigger of a Citus shard: named "zz_occ_version_<shard id>", on a
 * relation whose name ends in the same "_<shard id>", in a database with
 * Citus.  NULL if rel is not such a shard.
 */
Trigger *
occ_citus_shard_trigger(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	size_t		plen = strlen(OCC_TRIGGER_NAME);
	uint64		relshard;
	uint64		tgshard;
	int			at;

	if (td == NULL ||
		!occ_citus_name_suffix(RelationGetRelationName(rel), &relshard, &at))
		return NULL;
	for (int i = 0; i < td->numtriggers; i++)
	{
		const char *name = td->triggers[i].tgname;

		if (strncmp(name, OCC_TRIGGER_NAME, plen) == 0 &&
			occ_citus_name_suffix(name, &tgshard, &at) && at == plen &&
			tgshard == relshard && occ_citus_installed())
			return &td->triggers[i];
	}
	return NULL;
}

/*
 * Fills in what Citus changes in t's description (called while meta.c
 * builds it, in t's memory context).  On a shard: the shard id, and the
 * names of the distributed table for messages and statistics; a shard of a
 * table occ cannot keep correct is refused.  Elsewhere: whether Citus
 * manages the table.
 */
void
occ_citus_describe(OccTable *t, Relation rel)
{
	Trigger    *trig = occ_find_trigger(rel);
	uint64		shardid;
	int			at;
	Oid			owner;
	char		repmodel;

	t->citus_shardid = 0;
	t->citus_xact = 0;
	if (trig == NULL || strcmp(trig->tgname, OCC_TRIGGER_NAME) == 0 ||
		!occ_citus_name_suffix(trig->tgname, &shardid, &at))
	{
		t->citus = occ_citus_installed() && occ_citus_table(t->relid, &repmodel);
		return;
	}

	t->citus = true;
	t->citus_shardid = shardid;
	owner = occ_citus_shard_owner(shardid);
	if (OidIsValid(owner) && get_rel_name(owner) != NULL)
	{
		Oid			top = owner;

		occ_citus_refuse_copies(owner, occ_citus_plain_name(owner));
		t->nspname = get_namespace_name(get_rel_namespace(owner));
		t->relname = get_rel_name(owner);
		if (get_rel_relispartition(owner))
			top = llast_oid(get_partition_ancestors(owner));
		t->stats_relid = top;
		t->stats_nspname = get_namespace_name(get_rel_namespace(top));
		t->stats_relname = get_rel_name(top);
	}
	else
	{
		/*
		 * The shard is new in this transaction (create_distributed_table()
		 * copying the rows in), and this node does not see its metadata
		 * yet: name it by its name without the shard id, and look again in
		 * the next transaction.
		 */
		if (occ_citus_name_suffix(t->relname, &shardid, &at))
			t->relname = pnstrdup(t->relname, at);
		t->stats_nspname = t->nspname;
		t->stats_relname = t->relname;
		if (!occ_citus_callback_registered)
		{
			RegisterXactCallback(occ_citus_xact_callback, NULL);
			occ_citus_callback_registered = true;
		}
		t->citus_xact = occ_citus_xact_count;
	}
	t->display_name = quote_qualified_identifier(t->nspname, t->relname);
	t->plain_name = psprintf("%s.%s", t->nspname, t->relname);
}

/* May meta.c keep using t's description, as far as Citus is concerned? */
bool
occ_citus_current(OccTable *t)
{
	return t->citus_xact == 0 || t->citus_xact == occ_citus_xact_count;
}

/*
 * Refuses occ_enable() and occ_disable() on a shard (they belong on the
 * distributed table, on the coordinator), and occ_enable() (enabling) on what
 * occ cannot keep correct: a reference table, a table whose shards have more
 * than one copy.  occ_disable() stays allowed there, as the way out.
 * Returns whether Citus manages rel.
 */
bool
occ_citus_check_enable(Relation rel, bool enabling)
{
	uint64		shardid;
	int			at;
	Oid			owner;
	char		repmodel;
	char	   *name;

	if (!occ_citus_installed())
		return false;
	name = psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)),
					RelationGetRelationName(rel));
	if (occ_citus_name_suffix(RelationGetRelationName(rel), &shardid, &at) &&
		OidIsValid(owner = occ_citus_shard_owner(shardid)) &&
		get_rel_namespace(owner) == RelationGetNamespace(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is a shard of distributed table \"%s\"",
						name, occ_citus_plain_name(owner)),
				 errhint("Call occ_enable() or occ_disable() on the distributed table, on the coordinator.")));
	if (!occ_citus_table(RelationGetRelid(rel), &repmodel))
		return false;
	if (enabling)
		occ_citus_refuse_copies(RelationGetRelid(rel), name);
	return true;
}

/*
 * Lets occ_enable() and occ_disable() create and drop the trigger of a
 * Citus table: sets citus.enable_unsafe_triggers until
 * occ_citus_restore_triggers(), and returns the nesting level to restore.
 */
int
occ_citus_allow_triggers(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("citus.enable_unsafe_triggers", "on",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return level;
}

/* Ends what occ_citus_allow_triggers() began. */
void
occ_citus_restore_triggers(int level)
{
	AtEOXact_GUC(true, level);
}

/*
 * Does an INSERT into a shard keep the version and ETag it carries?  Only
 * when Citus copies existing rows into a shard it created in this very
 * transaction (create_distributed_table() of a table that has rows), and
 * the row has both: otherwise every row would start again at version 1
 * with a new ETag, and stale clients would win.  Only the table's owner
 * can create shards, and the owner can switch occ off anyway.
 */
bool
occ_citus_keeps_insert(OccTable *t, Relation rel, TupleDesc desc, HeapTuple tup)
{
	bool		isnull;

	if (t->citus_shardid == 0 || rel->rd_createSubid == InvalidSubTransactionId)
		return false;
	(void) heap_getattr(tup, t->version_attnum, desc, &isnull);
	if (isnull)
		return false;
	(void) heap_getattr(tup, t->etag_attnum, desc, &isnull);
	return !isnull;
}

/* Does the UPDATE set column attnum to NULL? */
static bool
occ_citus_sets_null(TriggerData *td, TupleDesc desc, AttrNumber attnum)
{
	bool		isnull;

	if (attnum == InvalidAttrNumber ||
		!bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, td->tg_updatedcols))
		return false;
	(void) heap_getattr(td->tg_newtuple, attnum, desc, &isnull);
	return isnull;
}

/*
 * occ_enable()'s backfill reaches a shard on another node as a plain UPDATE,
 * without the coordinator session's marker.  It is recognised by what it
 * does: it sets the ETag column (first ETags) or the field versions column
 * (switching to field granularity) to NULL and changes nothing else.  Such
 * an UPDATE changes no data, so whoever runs it, giving the rows a fresh
 * ETag (or fresh, conservative field versions) at the same version loses
 * no update.
 */
OccBackfill
occ_citus_backfill(OccTable *t, TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);

	if (t->citus_shardid == 0)
		return OCC_BACKFILL_NONE;
	if (!occ_citus_sets_null(td, desc, t->etag_attnum) &&
		!occ_citus_sets_null(td, desc, t->fields_attnum))
		return OCC_BACKFILL_NONE;
	if (occ_row_changes(t, desc, td->tg_trigtuple, td->tg_newtuple, NULL))
		return OCC_BACKFILL_NONE;
	return occ_citus_sets_null(td, desc, t->etag_attnum) ?
		OCC_BACKFILL_ALL : OCC_BACKFILL_FIELDS;
}
