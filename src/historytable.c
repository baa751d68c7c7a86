/*
 * historytable.c
 *		The history table's life, for occ_enable() and occ_disable(): made
 *		when history is turned on, its rows re-kept when N changes, dropped
 *		when history or occ is turned off.  history.c reads and writes it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "occ.h"
#include "compat.h"

#define OCC_HISTORY_SUFFIX "_occ_history"
#define OCC_HISTORY_COMMENT "occ row history of "
#define OCC_HISTORY_COMMENT_END "; read it with occ_history(), occ_row_at() and occ_diff()"

PG_FUNCTION_INFO_V1(occ_drop_history);

/*
 * What rel's occ trigger says about history: N (0: off) and the history
 * table's schema and name.
 */
int32
occ_relation_history(Relation rel, char **nspname, char **relname)
{
	Trigger    *trig = occ_find_trigger(rel);
	Oid			nsp;

	if (trig == NULL || trig->tgnargs < 8)
		return 0;
	nsp = get_namespace_oid(trig->tgargs[6], true);
	if (nspname && (!OidIsValid(nsp) || !OidIsValid(get_relname_relid(trig->tgargs[7], nsp))) &&
		OidIsValid(get_relname_relid(trig->tgargs[7], RelationGetNamespace(rel))))
		*nspname = get_namespace_name(RelationGetNamespace(rel));	/* a renamed schema */
	else if (nspname)
		*nspname = pstrdup(trig->tgargs[6]);
	if (relname)
		*relname = pstrdup(trig->tgargs[7]);
	return pg_strtoint32(trig->tgargs[5]);
}

/* The name of a new history table of rel: "<relname>_occ_history", cut to fit. */
char *
occ_history_table_name(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	int			room = NAMEDATALEN - 1 - strlen(OCC_HISTORY_SUFFIX);
	int			len = pg_mbcliplen(name, strlen(name), room);

	return psprintf("%.*s%s", len, name, OCC_HISTORY_SUFFIX);
}

/* The column definition of one key column of rel, as the history table repeats it. */
static char *
occ_history_key_column(Relation rel, AttrNumber attnum)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	char	   *def = psprintf("%s %s NOT NULL", quote_identifier(NameStr(att->attname)),
							   format_type_extended(att->atttypid, att->atttypmod,
													FORMAT_TYPE_TYPEMOD_GIVEN |
													FORMAT_TYPE_FORCE_QUALIFY));

	if (OidIsValid(att->attcollation) &&
		att->attcollation != get_typcollation(att->atttypid))
	{
		HeapTuple	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(att->attcollation));
		Form_pg_collation coll;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for collation %u", att->attcollation);
		coll = (Form_pg_collation) GETSTRUCT(tup);
		def = psprintf("%s COLLATE %s", def,
					   quote_qualified_identifier(get_namespace_name(coll->collnamespace),
												  NameStr(coll->collname)));
		ReleaseSysCache(tup);
	}
	return def;
}

/*
 * Creates the history table nspname.relname of rel (inside SPI), owned by
 * the caller, readable by nobody else, dropped with rel.
 */
void
occ_history_create(Relation rel, Oid pkoid, const char *nspname, const char *relname)
{
	char	   *qname = quote_qualified_identifier(nspname, relname);
	Relation	idx = index_open(pkoid, AccessShareLock);
	StringInfoData cols;
	StringInfoData keys;

	initStringInfo(&cols);
	initStringInfo(&keys);
	for (int i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	a = idx->rd_index->indkey.values[i];

		appendStringInfo(&cols, "%s, ", occ_history_key_column(rel, a));
		appendStringInfo(&keys, "%s, ",
						 quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname)));
	}
	index_close(idx, AccessShareLock);

	occ_exec(psprintf("CREATE TABLE %s (%s"
					  "occ_slot pg_catalog.int4 NOT NULL, "
					  "occ_version pg_catalog.int8 NOT NULL, "
					  "occ_etag pg_catalog.text, "
					  "occ_changed_at pg_catalog.timestamptz, "
					  "occ_changed_by pg_catalog.text, "
					  "occ_reason pg_catalog.text, "
					  "occ_row pg_catalog.jsonb, "
					  "PRIMARY KEY (%socc_slot)) WITH (fillfactor = 80)",
					  qname, cols.data, keys.data));
	occ_exec(psprintf("REVOKE ALL ON %s FROM PUBLIC", qname));
	occ_history_link(RelationGetRelid(rel), nspname, relname);
}

/*
 * Makes DROP TABLE of relid drop its history table too: a dependency, and a
 * comment naming the table.  pg_dump keeps the comment but not the
 * dependency; the event trigger occ_drop_history goes by the comment.  Both
 * are made again by every occ_enable() (after a rename, say).  Inside SPI.
 */
void
occ_history_link(Oid relid, const char *nspname, const char *relname)
{
	Oid			histid = get_relname_relid(relname, get_namespace_oid(nspname, false));
	ObjectAddress hist;
	ObjectAddress table;

	if (!OidIsValid(histid))
		return;
	if (occ_table_ownercheck(histid, GetUserId()))
		occ_exec(psprintf("COMMENT ON TABLE %s IS %s",
						  quote_qualified_identifier(nspname, relname),
						  quote_literal_cstr(psprintf("%s%s%s", OCC_HISTORY_COMMENT,
													  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
																				 get_rel_name(relid)),
													  OCC_HISTORY_COMMENT_END))));
	deleteDependencyRecordsForSpecific(RelationRelationId, histid, DEPENDENCY_AUTO,
									   RelationRelationId, relid);
	ObjectAddressSet(hist, RelationRelationId, histid);
	ObjectAddressSet(table, RelationRelationId, relid);
	recordDependencyOn(&hist, &table, DEPENDENCY_AUTO);
}

/* Drops a history table if it is there (inside SPI). */
void
occ_history_drop(const char *nspname, const char *relname)
{
	occ_exec(psprintf("DROP TABLE IF EXISTS %s",
					  quote_qualified_identifier(nspname, relname)));
}

/*
 * History now keeps N = t->history versions: forgets the older ones and
 * moves every version to its slot for the new N (inside SPI, as the owner).
 */
void
occ_history_rekeep(OccTable *t)
{
	StringInfoData s;
	int			slots = t->history + 1;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "DELETE FROM %s AS occ_h WHERE occ_h.occ_version OPERATOR(pg_catalog.<) "
					 "((SELECT pg_catalog.max(occ_x.occ_version) FROM %s AS occ_x WHERE ",
					 t->history_qname, t->history_qname);
	for (int i = 0; i < t->nkeys; i++)
		appendStringInfo(&s, "%socc_x.%s %s occ_h.%s", i > 0 ? " AND " : "",
						 quote_identifier(t->keys[i].name), t->keys[i].eqop,
						 quote_identifier(t->keys[i].name));
	appendStringInfo(&s, ") OPERATOR(pg_catalog.-) %d)", t->history);
	occ_exec(s.data);
	/* through negative slots, so that no two rows of a key ever share one */
	occ_exec(psprintf("UPDATE %s SET occ_slot = -1 OPERATOR(pg_catalog.-) "
					  "(occ_version OPERATOR(pg_catalog.%%) %d)::pg_catalog.int4",
					  t->history_qname, slots));
	occ_exec(psprintf("UPDATE %s SET occ_slot = -1 OPERATOR(pg_catalog.-) occ_slot",
					  t->history_qname));
}

/*
 * occ_drop_history() RETURNS event_trigger
 *		At sql_drop: drops the history tables of the tables just dropped that
 *		the dependency did not take along (a restored database has none), as
 *		their comment names them.  Only the caller's own history tables: a
 *		look-alike that someone else owns stays, and cannot make the DROP
 *		fail.  One catalog query, everything qualified.
 */
Datum
occ_drop_history(PG_FUNCTION_ARGS)
{
	static const char *const query =
		"SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
		"  FROM pg_catalog.pg_event_trigger_dropped_objects() AS o "
		"  JOIN pg_catalog.pg_description AS d "
		"    ON d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
		"   AND d.objsubid OPERATOR(pg_catalog.=) 0 "
		"   AND d.description OPERATOR(pg_catalog.=) "
		"       ($1 OPERATOR(pg_catalog.||) o.object_identity OPERATOR(pg_catalog.||) $2) "
		"  JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) d.objoid "
		"  JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
		" WHERE o.object_type OPERATOR(pg_catalog.=) 'table' "
		"   AND c.relkind OPERATOR(pg_catalog.=) 'r' "
		"   AND c.relowner OPERATOR(pg_catalog.=) $3";
	Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};
	Datum		values[3];
	List	   *drop = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("occ_drop_history: not fired by event trigger manager")));
	values[0] = CStringGetTextDatum(OCC_HISTORY_COMMENT);
	values[1] = CStringGetTextDatum(OCC_HISTORY_COMMENT_END);
	values[2] = ObjectIdGetDatum(GetUserId());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "occ: history table lookup failed");
	for (uint64 i = 0; i < SPI_processed; i++)
		drop = lappend(drop, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, drop)
		occ_exec(psprintf("DROP TABLE IF EXISTS %s", (char *) lfirst(lc)));
	SPI_finish();
	PG_RETURN_VOID();
}
