/*
 * occ.c
 *		Module initialisation, and the trigger that keeps the ETag secret
 *		table at exactly one row.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"

OCC_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(occ_secret_replace);

void		_PG_init(void);

/* Sets up the per-table cache and the ETag secret's cache. */
void
_PG_init(void)
{
	/* occ.reason before stats.c reserves the "occ" prefix, so that a SET made before loading is kept */
	occ_history_init();
	occ_meta_init();
	occ_etag_init();
	occ_stats_init();
}

/*
 * occ_secret_replace()
 *		BEFORE INSERT trigger on occ_secret: a new secret replaces the old
 *		one, so that restoring a dump (which inserts the dumped secret after
 *		CREATE EXTENSION made a fresh one) leaves the dumped one.  Every
 *		backend forgets its cached key when the transaction commits.
 */
Datum
occ_secret_replace(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	char	   *sql;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_secret_replace: must be fired BEFORE INSERT FOR EACH ROW")));
	sql = psprintf("DELETE FROM %s.%s",
				   quote_identifier(get_namespace_name(RelationGetNamespace(td->tg_relation))),
				   quote_identifier(RelationGetRelationName(td->tg_relation)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "occ: could not replace the secret");
	SPI_finish();
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(td->tg_trigtuple);
}
