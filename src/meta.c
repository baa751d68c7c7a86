/*
 * meta.c
 *		The cache of what occ knows about enabled tables: one OccTable per
 *		relation (built by describe.c), dropped on relcache invalidation.
 *
 * Entries hold saved SPI plans (plans.c), so an invalidated entry is
 * not freed at once, where a caller up the stack may still use it: it is
 * retired and freed at the next commit.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "occ.h"
#include "compat.h"

typedef struct OccCacheEntry
{
	Oid			relid;			/* hash key */
	OccTable   *table;
} OccCacheEntry;

static HTAB *occ_cache = NULL;
static List *occ_retired_tables = NIL;
static int	occ_call_depth = 0;	/* conditional function calls under way */
static bool occ_cache_stale = false;	/* an entry was invalidated */

/* Frees a table description and the plans it holds (plans.c made them). */
static void
occ_free_table(OccTable *t)
{
	occ_free_plans(t);
	MemoryContextDelete(t->mcxt);
}

/* Marks cached descriptions stale when their relation changes. */
static void
occ_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	OccCacheEntry *entry;

	if (occ_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(occ_cache, &relid, HASH_FIND, NULL);
		if (entry && entry->table)
		{
			entry->table->valid = false;
			occ_cache_stale = true;
		}
		return;
	}
	occ_cache_stale = true;
	hash_seq_init(&status, occ_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->table)
			entry->table->valid = false;
}

/*
 * A schema was renamed (or changed otherwise): descriptions hold qualified
 * names, and no relcache invalidation tells their tables.
 */
static void
occ_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	occ_relcache_callback(arg, InvalidOid);
}

/* Frees retired descriptions and plans: no statement can be using them. */
static void
occ_free_retired(void)
{
	ListCell   *lc;
	List	   *tables = occ_retired_tables;

	occ_retired_tables = NIL;
	occ_free_retired_plans();
	foreach(lc, tables)
		occ_free_table((OccTable *) lfirst(lc));
	list_free(tables);
}

/*
 * At commit nothing is in use: frees what was retired, and the descriptions
 * of relations that changed or went away (dropped tables included).
 */
static void
occ_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	OccCacheEntry *entry;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		occ_call_depth = 0;
		return;
	}
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;
	occ_call_depth = 0;
	occ_free_retired();
	if (!occ_cache_stale)
		return;
	occ_cache_stale = false;
	hash_seq_init(&status, occ_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->table && entry->table->valid)
			continue;
		if (entry->table)
			occ_free_table(entry->table);
		hash_search(occ_cache, &entry->relid, HASH_REMOVE, NULL);
	}
}

/*
 * Brackets a call of a conditional function.  Outside any call, what was
 * retired is freed at once; inside a nested call it waits.
 */
void
occ_call_enter(void)
{
	if (occ_call_depth == 0)
		occ_free_retired();
	occ_call_depth++;
}

/* Ends what occ_call_enter() began. */
void
occ_call_exit(void)
{
	if (occ_call_depth > 0)
		occ_call_depth--;
}

/* Is a conditional call under way inside another (which may use its plans)? */
bool
occ_call_nested(void)
{
	return occ_call_depth > 1;
}

/* Puts a description aside until the next commit. */
static void
occ_retire_table(OccTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

	occ_retired_tables = lappend(occ_retired_tables, t);
	MemoryContextSwitchTo(old);
}

/* Registers the callbacks; called once from _PG_init. */
void
occ_meta_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(OccCacheEntry);
	ctl.hcxt = CacheMemoryContext;
	occ_cache = hash_create("occ tables", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(occ_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, occ_namespace_callback, (Datum) 0);
	RegisterXactCallback(occ_xact_callback, NULL);
}

/*
 * The description of an enabled relation, from the cache when it is still
 * valid.  A relation that is not enabled gives NULL with missing_ok, else
 * an error.
 */
OccTable *
occ_table_for_relation(Relation rel, bool missing_ok)
{
	Oid			relid = RelationGetRelid(rel);
	OccCacheEntry *entry;
	bool		found;
	Trigger    *trig;

	entry = hash_search(occ_cache, &relid, HASH_ENTER, &found);
	if (!found)
		entry->table = NULL;
	if (entry->table && entry->table->valid && occ_citus_current(entry->table))
		return entry->table;
	if (entry->table)
	{
		occ_retire_table(entry->table);
		entry->table = NULL;
	}

	trig = occ_find_trigger(rel);
	if (trig == NULL)
	{
		hash_search(occ_cache, &relid, HASH_REMOVE, NULL);
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s.%s\" is not enabled for occ",
						get_namespace_name(RelationGetNamespace(rel)),
						RelationGetRelationName(rel)),
				 errhint("Call occ_enable() on the table first.")));
	}
	entry->table = occ_build_table(rel, trig->tgargs, trig->tgnargs);
	return entry->table;
}
