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
 * Lock protocol: one LWLock guards the hash, the ring and the fields of
 * OccSharedState.  Counters are atomics, bumped under the shared lock; adding
 * or removing an entry, recording a conflict and resetting take it
 * exclusively.  A backend caches its entry pointer per table until
 * "generation" changes, which every removal and reset bumps.
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

PG_FUNCTION_INFO_V1(occ_stats_internal);
PG_FUNCTION_INFO_V1(occ_recent_conflicts_internal);
PG_FUNCTION_INFO_V1(occ_stats_reset);
PG_FUNCTION_INFO_V1(occ_stats_capacity);

/* The counters of one table. */
typedef enum OccCounter
{
	OCC_C_UPDATES,
	OCC_C_NOOPS,
	OCC_C_MERGES,
	OCC_C_CONFLICTS,
	OCC_C_ETAG_MISMATCHES,
	OCC_C_NOT_FOUND,
	OCC_C_REQUIRED,
	OCC_C_RETRIES,				/* successful retries after a conflict */
	OCC_C_RESOLUTION_US,		/* their total time to resolution */
	OCC_C_RESOLUTION_MAX_US,
	OCC_NCOUNTERS
} OccCounter;

typedef struct OccStatsKey
{
	Oid			dbid;
	Oid			relid;
} OccStatsKey;

typedef struct OccStatsEntry
{
	OccStatsKey key;			/* hash key: must be first */
	NameData	nspname;
	NameData	relname;
	pg_atomic_uint64 counters[OCC_NCOUNTERS];
} OccStatsEntry;

#define OCC_RING_KEY_LEN	128
#define OCC_RING_FIELDS_LEN 256

/* One recent conflict. */
typedef struct OccConflictRecord
{
	TimestampTz time;
	Oid			dbid;
	Oid			relid;
	Oid			roleid;
	int			sqlstate;
	bool		has_expected;
	int64		expected_version;
	int64		current_version;
	NameData	nspname;
	NameData	relname;
	char		key[OCC_RING_KEY_LEN];
	char		fields[OCC_RING_FIELDS_LEN];	/* JSON array, or empty */
	char		appname[NAMEDATALEN];
} OccConflictRecord;

typedef struct OccSharedState
{
	LWLock	   *lock;			/* the hash and the ring */
	uint64		generation;		/* bumped by a reset (under the lock) */
	TimestampTz stats_reset;
	uint64		ring_count;		/* conflicts recorded since the reset */
	uint64		untracked;		/* events not counted: the hash was full */
	OccConflictRecord ring[FLEXIBLE_ARRAY_MEMBER];
} OccSharedState;

/* A conflict this session has not yet resolved by a successful retry. */
typedef struct OccPending
{
	Oid			relid;
	uint32		keyhash;
	TimestampTz time;
} OccPending;

#define OCC_MAX_PENDING 16

static OccSharedState *occ_shared = NULL;
static HTAB *occ_stats_hash = NULL;
static int	occ_max_tables = 1000;
static int	occ_ring_size = 1000;
static bool occ_log_conflicts = false;
static OccPending pending[OCC_MAX_PENDING];
static int	npending = 0;

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

static List *dropped = NIL;		/* OccDropped *, in TopTransactionContext */
static object_access_hook_type prev_object_access_hook = NULL;

#ifdef OCC_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

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
#ifdef OCC_HAVE_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(occ_shmem_size());
	RequestNamedLWLockTranche("occ", 1);
}

/* Creates or attaches to the shared state. */
static void
occ_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

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
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
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
		dropped = lappend(dropped, d);
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
	foreach(lc, dropped)
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
	if (dropped == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		occ_stats_forget_dropped();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		dropped = NIL;			/* the list lived in TopTransactionContext */
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

	foreach(lc, dropped)
	{
		OccDropped *d = lfirst(lc);

		if (d->nestlevel < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			dropped = foreach_delete_current(dropped, lc);
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
		occ_reserve_guc_prefix("occ");
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
	occ_reserve_guc_prefix("occ");
#ifdef OCC_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = occ_shmem_request;
#else
	occ_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = occ_shmem_startup;
	prev_object_access_hook = object_access_hook;
	object_access_hook = occ_stats_object_access;
	RegisterXactCallback(occ_stats_xact_callback, NULL);
	RegisterSubXactCallback(occ_stats_subxact_callback, NULL);
}

/* Raises 55000 when the library was not preloaded. */
static void
occ_require_shmem(void)
{
	if (occ_shared == NULL || occ_stats_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("occ statistics are not available"),
				 errhint("Add occ to shared_preload_libraries and restart the server.")));
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
		return (OccStatsEntry *) t->stats_entry;

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
	StringInfoData detail;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"event\":\"occ_conflict\",\"sqlstate\":");
	escape_json(&buf, unpack_sql_state(info->sqlstate));
	appendStringInfoString(&buf, ",\"database\":");
	escape_json(&buf, get_database_name(MyDatabaseId));
	appendStringInfoString(&buf, ",\"role\":");
	escape_json(&buf, GetUserNameFromId(GetUserId(), true));
	appendStringInfoString(&buf, ",\"application_name\":");
	escape_json(&buf, application_name ? application_name : "");
	initStringInfo(&detail);
	occ_error_detail(&detail, t, keys, info, true);
	appendStringInfo(&buf, ",%s", detail.data + 1);	/* one flat object */
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
	ListCell   *lc;

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
		appendStringInfoChar(&buf, '[');
		foreach(lc, info->conflicting_fields)
		{
			if (lc != list_head(info->conflicting_fields))
				appendStringInfoChar(&buf, ',');
			escape_json(&buf, lfirst(lc));
		}
		appendStringInfoChar(&buf, ']');
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
		npending > 0 && keys != NULL;
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

		for (i = 0; i < npending; i++)
			if (pending[i].relid == t->stats_relid && pending[i].keyhash == h)
				break;
		if (conflict && i == npending)
		{
			if (npending == OCC_MAX_PENDING)
			{
				memmove(&pending[0], &pending[1], sizeof(OccPending) * (OCC_MAX_PENDING - 1));
				npending--;
			}
			pending[npending].relid = t->stats_relid;
			pending[npending].keyhash = h;
			pending[npending].time = GetCurrentTimestamp();
			npending++;
		}
		else if (resolves && i < npending)
		{
			resolution_us = GetCurrentTimestamp() - pending[i].time;
			pending[i] = pending[--npending];
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

/* May the current role see statistics about relid of database dbid? */
static bool
occ_may_see(Oid dbid, Oid relid, bool read_all)
{
	if (read_all)
		return true;
	if (dbid != MyDatabaseId)
		return false;
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

/* The name of a database, or NULL once it is gone. */
static Datum
occ_database_name(Oid dbid, bool *isnull)
{
	char	   *name = get_database_name(dbid);

	*isnull = name == NULL;
	return name ? CStringGetTextDatum(name) : (Datum) 0;
}

/*
 * occ_stats_internal() RETURNS SETOF record
 *		The counters of every table the caller may see; behind occ_stats.
 *		Entries are copied under the lock and looked at after it, so that no
 *		catalog lookup ever holds up the recording of a conflict.
 */
Datum
occ_stats_internal(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	OccStatsEntry *e;
	bool		read_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	typedef struct
	{
		OccStatsKey key;
		NameData	nspname;
		NameData	relname;
		uint64		c[OCC_NCOUNTERS];
	} OccStatsCopy;
	OccStatsCopy *copies;
	int			n = 0;
	TimestampTz reset;

	occ_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(occ_shared->lock, LW_SHARED);
	copies = palloc(Max(hash_get_num_entries(occ_stats_hash), 1) * sizeof(OccStatsCopy));
	hash_seq_init(&status, occ_stats_hash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		copies[n].key = e->key;
		copies[n].nspname = e->nspname;
		copies[n].relname = e->relname;
		for (int k = 0; k < OCC_NCOUNTERS; k++)
			copies[n].c[k] = pg_atomic_read_u64(&e->counters[k]);
		n++;
	}
	reset = occ_shared->stats_reset;
	LWLockRelease(occ_shared->lock);

	for (int j = 0; j < n; j++)
	{
		Datum		values[16];
		bool		nulls[16] = {0};
		uint64	   *c = copies[j].c;
		uint64		attempts;
		int			i = 0;

		if (!occ_may_see(copies[j].key.dbid, copies[j].key.relid, read_all))
			continue;
		values[i] = occ_database_name(copies[j].key.dbid, &nulls[i]);
		i++;
		values[i++] = CStringGetTextDatum(NameStr(copies[j].nspname));
		values[i++] = CStringGetTextDatum(NameStr(copies[j].relname));
		values[i++] = ObjectIdGetDatum(copies[j].key.relid);
		values[i++] = Int64GetDatum(c[OCC_C_UPDATES]);
		values[i++] = Int64GetDatum(c[OCC_C_NOOPS]);
		values[i++] = Int64GetDatum(c[OCC_C_MERGES]);
		values[i++] = Int64GetDatum(c[OCC_C_CONFLICTS]);
		values[i++] = Int64GetDatum(c[OCC_C_ETAG_MISMATCHES]);
		values[i++] = Int64GetDatum(c[OCC_C_NOT_FOUND]);
		values[i++] = Int64GetDatum(c[OCC_C_REQUIRED]);
		attempts = c[OCC_C_UPDATES] + c[OCC_C_NOOPS] + c[OCC_C_CONFLICTS] +
			c[OCC_C_ETAG_MISMATCHES];
		nulls[i] = attempts == 0;
		values[i++] = Float8GetDatum(attempts ?
									 (double) (c[OCC_C_CONFLICTS] + c[OCC_C_ETAG_MISMATCHES]) / attempts : 0);
		values[i++] = Int64GetDatum(c[OCC_C_RETRIES]);
		nulls[i] = c[OCC_C_RETRIES] == 0;
		values[i++] = Float8GetDatum(c[OCC_C_RETRIES] ?
									 c[OCC_C_RESOLUTION_US] / 1000.0 / c[OCC_C_RETRIES] : 0);
		nulls[i] = c[OCC_C_RETRIES] == 0;
		values[i++] = Float8GetDatum(c[OCC_C_RESOLUTION_MAX_US] / 1000.0);
		values[i++] = TimestampTzGetDatum(reset);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * occ_recent_conflicts_internal() RETURNS SETOF record
 *		The conflicts in the ring buffer the caller may see, newest first;
 *		behind occ_recent_conflicts.  Copied under the lock, like occ_stats.
 */
Datum
occ_recent_conflicts_internal(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		read_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	OccConflictRecord *copies;
	uint64		n;

	occ_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(occ_shared->lock, LW_SHARED);
	n = Min(occ_shared->ring_count, (uint64) occ_ring_size);
	copies = palloc(Max(n, 1) * sizeof(OccConflictRecord));
	for (uint64 j = 0; j < n; j++)
		copies[j] = occ_shared->ring[(occ_shared->ring_count - 1 - j) % occ_ring_size];
	LWLockRelease(occ_shared->lock);

	for (uint64 j = 0; j < n; j++)
	{
		OccConflictRecord *rec = &copies[j];
		Datum		values[11];
		bool		nulls[11] = {0};
		int			i = 0;
		char	   *role;
		bool		hide_row;

		if (!occ_may_see(rec->dbid, rec->relid, read_all))
			continue;
		/* row-level security on the table: the row itself stays hidden */
		hide_row = !read_all &&
			check_enable_rls(rec->relid, InvalidOid, true) == RLS_ENABLED;
		values[i++] = TimestampTzGetDatum(rec->time);
		values[i] = occ_database_name(rec->dbid, &nulls[i]);
		i++;
		values[i++] = CStringGetTextDatum(NameStr(rec->nspname));
		values[i++] = CStringGetTextDatum(NameStr(rec->relname));
		values[i++] = CStringGetTextDatum(unpack_sql_state(rec->sqlstate));
		nulls[i] = rec->key[0] == '\0' || hide_row;
		values[i] = nulls[i] ? (Datum) 0 :
			DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->key));
		i++;
		nulls[i] = !rec->has_expected || hide_row;
		values[i++] = Int64GetDatum(rec->expected_version);
		nulls[i] = hide_row;
		values[i++] = Int64GetDatum(rec->current_version);
		nulls[i] = rec->fields[0] == '\0' || hide_row;
		values[i++] = rec->fields[0] ?
			DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->fields)) : (Datum) 0;
		role = GetUserNameFromId(rec->roleid, true);
		nulls[i] = role == NULL;
		values[i++] = role ? CStringGetTextDatum(role) : (Datum) 0;
		values[i++] = CStringGetTextDatum(rec->appname);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * occ_stats_reset() RETURNS void
 *		Forgets every counter and recent conflict.
 */
Datum
occ_stats_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	OccStatsEntry *e;

	occ_require_shmem();
	LWLockAcquire(occ_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, occ_stats_hash);
	while ((e = hash_seq_search(&status)) != NULL)
		hash_search(occ_stats_hash, &e->key, HASH_REMOVE, NULL);
	occ_shared->generation++;
	occ_shared->ring_count = 0;
	occ_shared->untracked = 0;
	occ_shared->stats_reset = GetCurrentTimestamp();
	LWLockRelease(occ_shared->lock);
	PG_RETURN_VOID();
}

/*
 * occ_stats_capacity() RETURNS record
 *		How full the statistics are: occ.max_tables, the tables with an entry,
 *		and the events not counted since the reset because the hash was full.
 */
Datum
occ_stats_capacity(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {0};

	occ_require_shmem();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(occ_shared->lock, LW_SHARED);
	values[0] = Int32GetDatum(occ_max_tables);
	values[1] = Int32GetDatum((int32) hash_get_num_entries(occ_stats_hash));
	values[2] = Int64GetDatum((int64) occ_shared->untracked);
	LWLockRelease(occ_shared->lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
