/*
 * inheritance.c
 *		Keeps table inheritance away from occ's tables: the rows of an
 *		inheritance child get neither occ's trigger nor a version, so
 *		occ_enable() refuses a parent with children and the event trigger
 *		occ_refuse_inheritance refuses children for an enabled table.
 *
 * Partitions are not affected: occ's trigger is cloned onto them.
 */
#include "postgres.h"

#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"

PG_FUNCTION_INFO_V1(occ_refuse_inheritance);

/* Refuses rel (about to be enabled) if it is an inheritance parent. */
void
occ_check_no_children(Relation rel)
{
	List	   *children;

	if (rel->rd_rel->relkind != RELKIND_RELATION || !rel->rd_rel->relhassubclass)
		return;
	children = find_inheritance_children(RelationGetRelid(rel), NoLock);
	if (children == NIL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("table \"%s\" has inheritance children", RelationGetRelationName(rel)),
			 errdetail("Rows of child table \"%s\" would be neither versioned nor checked.",
					   get_rel_name(linitial_oid(children))),
			 errhint("Use a partitioned table, or enable each table of the hierarchy that has no children.")));
}

/*
 * occ_refuse_inheritance() RETURNS event_trigger
 *		At the end of CREATE/ALTER TABLE and CREATE/ALTER FOREIGN TABLE:
 *		refuses a table that now
 *		inherits from a table enabled for occ (an ordinary table with occ's
 *		trigger).  One catalog query, everything qualified.
 */
Datum
occ_refuse_inheritance(PG_FUNCTION_ARGS)
{
	static const char *const query =
		"SELECT c.objid::pg_catalog.regclass::pg_catalog.text, "
		"       p.oid::pg_catalog.regclass::pg_catalog.text "
		"  FROM pg_catalog.pg_event_trigger_ddl_commands() AS c "
		"  JOIN pg_catalog.pg_inherits AS i ON i.inhrelid OPERATOR(pg_catalog.=) c.objid "
		"  JOIN pg_catalog.pg_class AS p ON p.oid OPERATOR(pg_catalog.=) i.inhparent "
		" WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
		"   AND p.relkind OPERATOR(pg_catalog.=) 'r' "
		"   AND EXISTS (SELECT FROM pg_catalog.pg_trigger AS t "
		"                WHERE t.tgrelid OPERATOR(pg_catalog.=) p.oid "
		"                  AND t.tgname OPERATOR(pg_catalog.=) '" OCC_TRIGGER_NAME "') "
		" LIMIT 1";
	char	   *child;
	char	   *parent;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_refuse_inheritance: not fired by event trigger manager")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(query, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "occ: inheritance check failed");
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	child = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	parent = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("table \"%s\" cannot inherit from table \"%s\", which is enabled for occ",
					child, parent),
			 errdetail("Rows of an inheritance child would be neither versioned nor checked."),
			 errhint("Use a partitioned table, or call occ_disable() on \"%s\" first.", parent)));
	PG_RETURN_VOID();				/* not reached */
}
