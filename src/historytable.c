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
#include "commands/trigger.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "occ.h"
#include "compat.h"

#define OCC_HISTORY_SUFFIX "_occ_history"

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
	occ_exec(psprintf("COMMENT ON TABLE %s IS %s", qname,
					  quote_literal_cstr(psprintf("occ row history of %s; read it with occ_history(), occ_row_at() and occ_diff()",
												  quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																			 RelationGetRelationName(rel))))));

	occ_history_link(RelationGetRelid(rel), nspname, relname);
}

/*
 * Makes DROP TABLE of relid drop its history table too (a dependency, which
 * pg_dump does not keep: occ_enable() records it again).
 */
void
occ_history_link(Oid relid, const char *nspname, const char *relname)
{
	Oid			histid = get_relname_relid(relname, get_namespace_oid(nspname, false));
	ObjectAddress hist;
	ObjectAddress table;

	if (!OidIsValid(histid))
		return;
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
