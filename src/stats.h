/*
 * stats.h
 *		The shared memory of occ's statistics, shared by stats.c (which sets
 *		it up and records events) and statsfuncs.c (the SQL functions that
 *		read and reset it).  The lock protocol is described in stats.c.
 */
#ifndef OCC_STATS_H
#define OCC_STATS_H

#include "storage/lwlock.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

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

extern OccSharedState *occ_shared;
extern HTAB *occ_stats_hash;
extern int	occ_max_tables;
extern int	occ_ring_size;

#endif							/* OCC_STATS_H */
