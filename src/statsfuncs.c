/*
 * statsfuncs.c
 *		The SQL functions over occ's statistics: occ_stats_internal() and
 *		occ_recent_conflicts_internal() behind the views, occ_stats_reset()
 *		and occ_stats_capacity().  They copy shared memory under the lock
 *		(stats.h) and do every catalog lookup after releasing it.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "occ.h"
#include "compat.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(occ_stats_internal);
PG_FUNCTION_INFO_V1(occ_recent_conflicts_internal);
PG_FUNCTION_INFO_V1(occ_stats_reset);
PG_FUNCTION_INFO_V1(occ_stats_capacity);

/*
 * The columns of each SQL definition of the functions, as pg_stat_statements
 * does: a newer library keeps serving an older definition during
 * ALTER EXTENSION UPDATE.  Both came in occ 1.1.
 */
#define OCC_STATS_COLS_V1_1			16
#define OCC_STATS_COLS				16	/* the most of any version */
#define OCC_CONFLICTS_COLS_V1_1		11
#define OCC_CONFLICTS_COLS			11

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

/*
 * Begins a set-returning function over the statistics: 55000 without shared
 * memory, then the result's column count checked against the SQL
 * definitions known.
 */
static void
occ_stats_srf_begin(FunctionCallInfo fcinfo, const int *known, int nknown)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	occ_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nknown; i++)
		if (rsinfo->setDesc->natts == known[i])
			return;
	elog(ERROR, "incorrect number of output arguments");
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
	static const int stats_cols[] = {OCC_STATS_COLS_V1_1};

	occ_stats_srf_begin(fcinfo, stats_cols, lengthof(stats_cols));

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
		Datum		values[OCC_STATS_COLS];
		bool		nulls[OCC_STATS_COLS] = {0};
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
	static const int conflicts_cols[] = {OCC_CONFLICTS_COLS_V1_1};

	occ_stats_srf_begin(fcinfo, conflicts_cols, lengthof(conflicts_cols));

	LWLockAcquire(occ_shared->lock, LW_SHARED);
	n = Min(occ_shared->ring_count, (uint64) occ_ring_size);
	copies = palloc(Max(n, 1) * sizeof(OccConflictRecord));
	for (uint64 j = 0; j < n; j++)
		copies[j] = occ_shared->ring[(occ_shared->ring_count - 1 - j) % occ_ring_size];
	LWLockRelease(occ_shared->lock);

	for (uint64 j = 0; j < n; j++)
	{
		OccConflictRecord *rec = &copies[j];
		Datum		values[OCC_CONFLICTS_COLS];
		bool		nulls[OCC_CONFLICTS_COLS] = {0};
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
