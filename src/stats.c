/*
 * stats.c
 *		Conflict statistics: cluster-wide counters per enabled table and a
 *		ring buffer of recent conflicts, in shared memory (with
 *		shared_preload_libraries = 'occ'), and occ.log_conflicts.
 *
 * Counters are not transactional: a conflict is counted, kept and logged
 * even though the transaction that raised it rolls back.  Retries are
 * matched to the conflict that preceded them in the same session.
 *
 * Shared memory is sized once, at startup: a hash of occ.max_tables entries
 * that never grows (HASH_FIXED_SIZE) and a ring of occ.recent_conflicts_size
 * records.  When the hash is full, a table without an entry is not counted
 * and untracked_events says so.  The entries of dropped tables (and of a
 * database dropped) are removed when the dropping transaction commits, temp
 * tables' at the end of their session included.
 *
 * Lock protocol (occ_shared->lock, one LWLock of the tranche "occ"):
 *
 * - It guards the hash, the ring and the other fields of OccSharedState.
 * - Counting an event takes it shared: the entry is found under it and its
 *   counters, atomics, are bumped without any further lock.
 * - Adding an entry (or rewriting its names after a rename), recording a
 *   conflict in the ring, removing entries and resetting take it exclusive.
 *   A backend holding it shared that needs more releases it and acquires
 *   it exclusive, then looks the entry up again (HASH_ENTER): another
 *   backend may have added it meanwhile.
 * - Readers (statsfuncs.c) copy what they need under the shared lock and
 *   do every catalog lookup after releasing it, so that no reader holds up
 *   a writer for longer than a copy.
 * - No other lock is taken while it is held; an error under it (out of
 *   memory while formatting a ring record) releases it, as every LWLock is
 *   released at abort.
 * - A backend caches its entry pointer per table until "generation"
 *   changes, which every removal and reset bumps (under the exclusive lock),
 *   so a cached pointer is never used after its entry was freed.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "occ.h"
#include "compat.h"
#include "stats.h"

/* A conflict this session has not yet resolved by a successful retry. */
typedef struct OccPending
{
	Oid			relid;
	uint32		keyhash;
	TimestampTz time;
} OccPending;

#define OCC_MAX_PENDING 16

OccSharedState *occ_shared = NULL;
HTAB	   *occ_stats_hash = NULL;
int			occ_max_tables = 1000;
int			occ_ring_size = 1000;
static bool occ_log_conflicts = false;
static OccPending occ_pending[OCC_MAX_PENDING];
static int	occ_npending = 0;

/*
 * Tables and databases this transaction dropped: their entries go when it
 * commits.  dbid is InvalidOid for a table of this database, relid is
 * InvalidOid for a whole database.
 */
typedef struct OccDropped
{
	Oid			dbid;
	Oid			relid;
	int			nestlevel;		/* (sub)transaction that dropped it */
} OccDropped;

static List *occ_dropped = NIL;		/* OccDropped *, in TopTransactionContext */
static object_access_hook_type occ_prev_object_access_hook = NULL;

static shmem_request_hook_type occ_prev_shmem_request_hook = NULL;
static shmem_startup_hook_type occ_prev_shmem_startup_hook = NULL;

/* The size of the shared state. */
static Size
occ_shmem_size(void)
{
	Size		size = offsetof(OccSharedState, ring);

	size = add_size(size, mul_size(occ_ring_size, sizeof(OccConflictRecord)));
	size = add_size(size, hash_estimate_size(occ_max_tables, sizeof(OccStatsEntry)));
	return size;
}

/* Asks the postmaster for shared memory and a lock. */
static void
occ_shmem_request(void)
{
	if (occ_prev_shmem_request_hook)
		occ_prev_shmem_request_hook();
	RequestAddinShmemSpace(occ_shmem_size());
	RequestNamedLWLockTranche("occ", 1);
}

/* Creates or attaches to the shared state. */
static void
occ_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (occ_prev_shmem_startup_hook)
		occ_prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	occ_shared = ShmemInitStruct("occ stats",
								 offsetof(OccSharedState, ring) +
								 occ_ring_size * sizeof(OccConflictRecord),
								 &found);
	if (!found)
	{
		occ_shared->lock = &(GetNamedLWLockTranche("occ"))->lock;
		occ_shared->generation = 1;
		occ_shared->stats_reset = GetCurrentTimestamp();
		occ_shared->ring_count = 0;
		occ_shared->untracked = 0;
	}
	info.keysize = sizeof(OccStatsKey);
	info.entrysize = sizeof(OccStatsEntry);
	/* every entry is allocated now; HASH_FIXED_SIZE: never any more */
	occ_stats_hash = ShmemInitHash("occ stats hash", occ_max_tables, occ_max_tables,
								   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

/* Remembers a dropped table or database until its transaction ends. */
static void
occ_stats_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						int subId, void *arg)
{
	if (occ_prev_object_access_hook)
		occ_prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_DROP || subId != 0 || occ_shared == NULL)
		return;
	if (classId == RelationRelationId)
	{
		char		kind = get_rel_relkind(objectId);

		if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
			return;
	}
	else if (classId != DatabaseRelationId)
		return;
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		OccDropped *d = palloc(sizeof(OccDropped));

		d->dbid = classId == DatabaseRelationId ? objectId : InvalidOid;
		d->relid = classId == RelationRelationId ? objectId : InvalidOid;
		d->nestlevel = GetCurrentTransactionNestLevel();
		occ_dropped = lappend(occ_dropped, d);
		MemoryContextSwitchTo(old);
	}
}

/* Removes the entries of what the committed transaction dropped. */
static void
occ_stats_forget_dropped(void)
{
	HASH_SEQ_STATUS status;
	OccStatsEntry *e;
	ListCell   *lc;

	LWLockAcquire(occ_shared->lock, LW_EXCLUSIVE);
	foreach(lc, occ_dropped)
	{
		OccDropped *d = lfirst(lc);

		if (OidIsValid(d->relid))
		{
			OccStatsKey key;

			memset(&key, 0, sizeof(key));
			key.dbid = MyDatabaseId;
			key.relid = d->relid;
			hash_search(occ_stats_hash, &key, HASH_REMOVE, NULL);
			continue;
		}
		hash_seq_init(&status, occ_stats_hash);
		while ((e = hash_seq_search(&status)) != NULL)
			if (e->key.dbid == d->dbid)
				hash_search(occ_stats_hash, &e->key, HASH_REMOVE, NULL);
	}
	occ_shared->generation++;	/* no backend keeps a pointer to a freed entry */
	LWLockRelease(occ_shared->lock);
}

/* At commit, frees the entries of dropped tables; at abort, keeps them. */
static void
occ_stats_xact_callback(XactEvent event, void *arg)
{
	if (occ_dropped == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		occ_stats_forget_dropped();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		occ_dropped = NIL;			/* the list lived in TopTransactionContext */
}

/*
 * A subtransaction that rolls back undoes its drops; one that commits hands
 * them to its parent.
 */
static void
occ_stats_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, occ_dropped)
	{
		OccDropped *d = lfirst(lc);

		if (d->nestlevel < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			occ_dropped = foreach_delete_current(occ_dropped, lc);
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			d->nestlevel = level - 1;
	}
}

/* Defines the settings and, when preloaded, the shared state. */
void
occ_stats_init(void)
{
	DefineCustomBoolVariable("occ.log_conflicts",
							 "Logs every occ conflict as one line of JSON.",
							 NULL, &occ_log_conflicts, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
	{
		/* postmaster settings can only be defined while preloading */
		MarkGUCPrefixReserved("occ");
		return;
	}
	DefineCustomIntVariable("occ.max_tables",
							"Number of tables occ keeps statistics for.",
							NULL, &occ_max_tables, 1000, 10, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("occ.recent_conflicts_size",
							"Number of recent conflicts occ_recent_conflicts keeps.",
							NULL, &occ_ring_size, 1000, 1, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("occ");
	occ_prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = occ_shmem_request;
	occ_prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = occ_shmem_startup;
	occ_prev_object_access_hook = object_access_hook;
	object_access_hook = occ_stats_object_access;
	RegisterXactCallback(occ_stats_xact_callback, NULL);
	RegisterSubXactCallback(occ_stats_subxact_callback, NULL);
}

/* Where a table's counters go: the partitioned table for a partition. */
static void
occ_stats_target(OccTable *t, Oid *relid, const char **nsp, const char **rel)
{
	*relid = t->stats_relid;
	*nsp = t->stats_nspname;
	*rel = t->stats_relname;
}

/* The shared entry of t (the caller holds the lock, shared at least). */
static OccStatsEntry *
occ_stats_entry(OccTable *t, bool *exclusive)
{
	OccStatsKey key;
	OccStatsEntry *e;
	bool		found;
	const char *nsp;
	const char *rel;

	if (t->stats_entry && t->stats_generation == occ_shared->generation)
		return t->stats_entry;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	occ_stats_target(t, &key.relid, &nsp, &rel);
	e = hash_search(occ_stats_hash, &key, HASH_FIND, NULL);
	if (e == NULL || strcmp(NameStr(e->nspname), nsp) != 0 ||
		strcmp(NameStr(e->relname), rel) != 0)
	{
		/* a new entry, or a table renamed since: (re)write its names */
		LWLockRelease(occ_shared->lock);
		LWLockAcquire(occ_shared->lock, LW_EXCLUSIVE);
		*exclusive = true;
		e = hash_search(occ_stats_hash, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			occ_shared->untracked++;	/* full: occ.max_tables */
			return NULL;
		}
		if (!found)
			for (int i = 0; i < OCC_NCOUNTERS; i++)
				pg_atomic_init_u64(&e->counters[i], 0);
		namestrcpy(&e->nspname, nsp);
		namestrcpy(&e->relname, rel);
	}
	t->stats_entry = e;
	t->stats_generation = occ_shared->generation;
	return e;
}

/* Logs a conflict as one line of JSON (occ.log_conflicts). */
static void
occ_log_conflict(OccTable *t, Datum *keys, OccErrorInfo *info)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	occ_json_string(&buf, "event", "occ_conflict");
	occ_json_string(&buf, "sqlstate", unpack_sql_state(info->sqlstate));
	occ_json_string(&buf, "database", get_database_name(MyDatabaseId));
	occ_json_string(&buf, "role", GetUserNameFromId(GetUserId(), true));
	occ_json_string(&buf, "application_name", application_name ? application_name : "");
	occ_error_members(&buf, t, keys, info, true);
	appendStringInfoChar(&buf, '}');
	ereport(LOG,
			(errmsg_internal("%s", buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
}

/* Records a conflict in the ring buffer (the caller holds the lock exclusively). */
static void
occ_ring_record(OccTable *t, Datum *keys, OccErrorInfo *info)
{
	OccConflictRecord *rec = &occ_shared->ring[occ_shared->ring_count % occ_ring_size];
	StringInfoData buf;
	const char *nsp;
	const char *rel;

	occ_shared->ring_count++;
	memset(rec, 0, sizeof(*rec));
	rec->time = GetCurrentTimestamp();
	rec->dbid = MyDatabaseId;
	occ_stats_target(t, &rec->relid, &nsp, &rel);
	rec->roleid = GetUserId();
	rec->sqlstate = info->sqlstate;
	rec->has_expected = info->has_expected_version;
	rec->expected_version = info->expected_version;
	rec->current_version = info->current_version;
	namestrcpy(&rec->nspname, nsp);
	namestrcpy(&rec->relname, rel);
	initStringInfo(&buf);
	occ_key_json(&buf, t, keys);
	if (buf.len < sizeof(rec->key))
		strlcpy(rec->key, buf.data, sizeof(rec->key));	/* else left out */
	resetStringInfo(&buf);
	if (info->has_fields)
	{
		occ_names_json(&buf, info->conflicting_fields);
		if (buf.len < sizeof(rec->fields))
			strlcpy(rec->fields, buf.data, sizeof(rec->fields));
	}
	pfree(buf.data);
	strlcpy(rec->appname, application_name ? application_name : "", sizeof(rec->appname));
}

/* Updates an atomic maximum. */
static void
occ_atomic_max(pg_atomic_uint64 *v, uint64 x)
{
	uint64		cur = pg_atomic_read_u64(v);

	while (cur < x && !pg_atomic_compare_exchange_u64(v, &cur, x))
		;
}

/*
 * Counts one event for table t.  keys and info are needed for conflicts
 * and successes only.
 */
void
occ_stats_event(OccTable *t, OccStatEvent ev, Datum *keys, OccErrorInfo *info)
{
	static const OccCounter counter[] = {
		[OCC_STAT_UPDATE] = OCC_C_UPDATES,
		[OCC_STAT_NOOP] = OCC_C_NOOPS,
		[OCC_STAT_MERGE] = OCC_C_MERGES,
		[OCC_STAT_CONFLICT] = OCC_C_CONFLICTS,
		[OCC_STAT_ETAG_MISMATCH] = OCC_C_ETAG_MISMATCHES,
		[OCC_STAT_NOT_FOUND] = OCC_C_NOT_FOUND,
		[OCC_STAT_REQUIRED] = OCC_C_REQUIRED,
		[OCC_STAT_SUCCESS] = OCC_NCOUNTERS,
	};
	bool		conflict = ev == OCC_STAT_CONFLICT || ev == OCC_STAT_ETAG_MISMATCH;
	bool		resolves = (ev == OCC_STAT_SUCCESS || ev == OCC_STAT_MERGE ||
							ev == OCC_STAT_UPDATE) &&
		occ_npending > 0 && keys != NULL;
	OccStatsEntry *e = NULL;
	bool		exclusive = false;
	int64		resolution_us = -1;

	if (conflict && occ_log_conflicts)
		occ_log_conflict(t, keys, info);

	/* match a success with this session's earlier conflict on the same row */
	if (conflict || resolves)
	{
		uint32		h = occ_key_hash(t, keys);
		int			i;

		for (i = 0; i < occ_npending; i++)
			if (occ_pending[i].relid == t->stats_relid && occ_pending[i].keyhash == h)
				break;
		if (conflict && i == occ_npending)
		{
			if (occ_npending == OCC_MAX_PENDING)
			{
				memmove(&occ_pending[0], &occ_pending[1], sizeof(OccPending) * (OCC_MAX_PENDING - 1));
				occ_npending--;
			}
			occ_pending[occ_npending].relid = t->stats_relid;
			occ_pending[occ_npending].keyhash = h;
			occ_pending[occ_npending].time = GetCurrentTimestamp();
			occ_npending++;
		}
		else if (resolves && i < occ_npending)
		{
			resolution_us = GetCurrentTimestamp() - occ_pending[i].time;
			occ_pending[i] = occ_pending[--occ_npending];
		}
	}

	if (occ_shared == NULL || (ev == OCC_STAT_SUCCESS && resolution_us < 0))
		return;

	LWLockAcquire(occ_shared->lock, LW_SHARED);
	e = occ_stats_entry(t, &exclusive);
	if (e)
	{
		if (counter[ev] < OCC_NCOUNTERS)
			pg_atomic_fetch_add_u64(&e->counters[counter[ev]], 1);
		if (resolution_us >= 0)
		{
			pg_atomic_fetch_add_u64(&e->counters[OCC_C_RETRIES], 1);
			pg_atomic_fetch_add_u64(&e->counters[OCC_C_RESOLUTION_US], resolution_us);
			occ_atomic_max(&e->counters[OCC_C_RESOLUTION_MAX_US], resolution_us);
		}
	}
	if (conflict)
	{
		if (!exclusive)
		{
			LWLockRelease(occ_shared->lock);
			LWLockAcquire(occ_shared->lock, LW_EXCLUSIVE);
		}
		occ_ring_record(t, keys, info);
	}
	LWLockRelease(occ_shared->lock);
}
