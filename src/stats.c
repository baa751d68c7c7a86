/*
 * stats.c
 *		Conflict statistics (placeholder until shared-memory counters land).
 */
#include "postgres.h"

#include "occ.h"

/* Counts one event for table t. */
void
occ_stats_event(OccTable *t, OccStatEvent ev, Datum *keys, OccErrorInfo *info)
{
}

void
occ_stats_init(void)
{
}
