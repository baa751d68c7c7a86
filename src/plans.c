/*
 * plans.c
 *		The statements of the conditional functions: their SQL text, one per
 *		operation and patch shape, prepared on first use, kept in the table's
 *		description (at most OCC_MAX_PLANS, least recently used evicted), and
 *		freed here when meta.c drops the description.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "funcapi.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

static List *occ_retired_plans = NIL;	/* evicted while a nested call ran */

/* Fills in what the statements of t share: extension schema, key condition. */
void
occ_prepare_table_sql(OccTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(t->mcxt);
	StringInfoData s;
	char	   *schema = occ_extension_schema(false);

	initStringInfo(&s);
	for (int i = 0; i < t->nkeys; i++)
		appendStringInfo(&s, "%socc_t.%s %s $%d",
						 i > 0 ? " AND " : "",
						 quote_identifier(t->keys[i].name), t->keys[i].eqop, i + 1);
	t->key_cond = s.data;
	t->ext_schema = schema;
	MemoryContextSwitchTo(old);
}

/* The qualified SQL type of a column, with its typmod. */
static char *
occ_column_sqltype(Form_pg_attribute att)
{
	return format_type_extended(att->atttypid, att->atttypmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/* Appends "FROM jsonb_to_record($n) AS occ_p(col type, ...)" for the patch. */
static void
occ_append_patch_record(StringInfo s, OccRequest *r, TupleDesc desc)
{
	appendStringInfo(s, " FROM pg_catalog.jsonb_to_record($%d) AS occ_p(",
					 r->t->nkeys + 3);
	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);

		appendStringInfo(s, "%s%s %s", i > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)),
						 occ_column_input(r, r->cols[i])->is_json ? "pg_catalog.jsonb" :
						 occ_column_sqltype(att));
	}
	appendStringInfoChar(s, ')');
}

/* The SQL text of one operation and patch shape. */
static char *
occ_build_sql(OccRequest *r)
{
	OccTable   *t = r->t;
	TupleDesc	desc = RelationGetDescr(r->rel);
	StringInfoData s;
	const char *ver = quote_identifier(t->version_col);

	initStringInfo(&s);
	switch (r->kind)
	{
		case OCC_KIND_UPDATE:
			appendStringInfo(&s, "UPDATE %s AS occ_t SET ", t->qualified_name);
			for (int i = 0; i < r->ncols; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);
				const char *col = quote_identifier(NameStr(att->attname));
				char	   *value = r->typed ?
					psprintf("$%d", t->nkeys + 4 + i) : psprintf("occ_p.%s", col);

				if (i > 0)
					appendStringInfoString(&s, ", ");
				if (occ_column_input(r, r->cols[i])->is_json)
				{
					appendStringInfo(&s, "%s = %s.occ_merge_patch(occ_t.%s::pg_catalog.jsonb, %s)",
									 col, t->ext_schema, col, value);
					if (att->atttypid != JSONBOID)
						appendStringInfo(&s, "::%s", occ_column_sqltype(att));
				}
				else
					appendStringInfo(&s, "%s = %s", col, value);
			}
			if (t->version_input == OCC_INPUT_EXPECTED)
				appendStringInfo(&s, ", %s = occ_t.%s", ver, ver);
			else if (t->version_input == OCC_INPUT_NEXT)
				appendStringInfo(&s, ", %s = occ_t.%s OPERATOR(pg_catalog.+) 1", ver, ver);
			if (!r->typed)
				occ_append_patch_record(&s, r, desc);
			appendStringInfoString(&s, " WHERE ");
			break;
		case OCC_KIND_DELETE:
			appendStringInfo(&s, "DELETE FROM %s AS occ_t WHERE ", t->qualified_name);
			break;
		case OCC_KIND_CHECK:
			appendStringInfo(&s, "SELECT occ_t.* FROM %s AS occ_t WHERE ",
							 t->qualified_name);
			break;
		case OCC_KIND_CONVERT:
			/* as JSON (occ_merge_check), then each value (occ_convert_here) */
			appendStringInfoString(&s, "SELECT pg_catalog.to_jsonb(occ_p.*), occ_p.*");
			occ_append_patch_record(&s, r, desc);
			return s.data;
	}
	appendStringInfoString(&s, t->key_cond);
	if (r->cond == OCC_COND_VERSION)
		appendStringInfo(&s, " AND occ_t.%s OPERATOR(pg_catalog.=) $%d",
						 ver, t->nkeys + 1);
	else if (r->cond == OCC_COND_ETAG)
		appendStringInfo(&s, " AND occ_t.%s OPERATOR(pg_catalog.=) ANY ($%d)",
						 quote_identifier(t->etag_col), t->nkeys + 2);
	if (r->kind == OCC_KIND_CHECK)
		appendStringInfoString(&s, " FOR UPDATE OF occ_t");
	else
		appendStringInfoString(&s, " RETURNING occ_t.*");
	return s.data;
}

/*
 * Prepares and keeps a statement.  Parameters: keys, version, ETags, patch,
 * then (typed updates) one value per patched column.
 */
static SPIPlanPtr
occ_prepare(OccTable *t, const char *sql, OccRequest *r)
{
	int			ncols = r && r->typed ? r->ncols : 0;
	Oid		   *types = palloc((t->nkeys + 3 + ncols) * sizeof(Oid));
	SPIPlanPtr	plan;

	for (int i = 0; i < t->nkeys; i++)
		types[i] = t->keys[i].typid;
	types[t->nkeys] = INT8OID;
	types[t->nkeys + 1] = TEXTARRAYOID;
	types[t->nkeys + 2] = JSONBOID;
	for (int i = 0; i < ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(r->rel), r->cols[i] - 1);

		types[t->nkeys + 3 + i] = occ_column_input(r, r->cols[i])->is_json ? JSONBOID : att->atttypid;
	}
	plan = SPI_prepare(sql, t->nkeys + 3 + ncols, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * A plan evicted from a full cache: freed now unless a nested call may be
 * using it; then it waits for occ_free_retired_plans().
 */
static void
occ_drop_plan(SPIPlanPtr plan)
{
	MemoryContext old;

	if (!occ_call_nested())
	{
		SPI_freeplan(plan);
		return;
	}
	old = MemoryContextSwitchTo(CacheMemoryContext);
	occ_retired_plans = lappend(occ_retired_plans, plan);
	MemoryContextSwitchTo(old);
}

/* Frees the evicted plans put aside: meta.c calls it when no call is under way. */
void
occ_free_retired_plans(void)
{
	ListCell   *lc;
	List	   *plans = occ_retired_plans;

	occ_retired_plans = NIL;
	foreach(lc, plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	list_free(plans);
}

/* The kept statement for the request's operation and shape, made on first use. */
SPIPlanPtr
occ_get_plan(OccRequest *r)
{
	OccTable   *t = r->t;
	bool		typed = r->typed && r->kind == OCC_KIND_UPDATE;
	ListCell   *lc;
	OccPlan    *p;
	MemoryContext old;

	foreach(lc, t->plans)
	{
		p = (OccPlan *) lfirst(lc);
		if (p->kind == r->kind && p->cond == r->cond && p->typed == typed &&
			p->ncols == r->ncols &&
			memcmp(p->cols, r->cols, r->ncols * sizeof(AttrNumber)) == 0)
		{
			if (lc != list_head(t->plans))
			{
				old = MemoryContextSwitchTo(t->mcxt);
				t->plans = list_delete_cell(t->plans, lc);
				t->plans = lcons(p, t->plans);
				MemoryContextSwitchTo(old);
			}
			return p->plan;
		}
	}

	old = MemoryContextSwitchTo(t->mcxt);
	p = palloc(sizeof(OccPlan));
	p->kind = r->kind;
	p->cond = r->cond;
	p->typed = typed;
	p->ncols = r->ncols;
	p->cols = palloc(Max(r->ncols, 1) * sizeof(AttrNumber));
	memcpy(p->cols, r->cols, r->ncols * sizeof(AttrNumber));
	MemoryContextSwitchTo(old);
	p->plan = occ_prepare(t, occ_build_sql(r), r);

	old = MemoryContextSwitchTo(t->mcxt);
	t->plans = lcons(p, t->plans);
	if (list_length(t->plans) > OCC_MAX_PLANS)
	{
		OccPlan    *victim = (OccPlan *) llast(t->plans);

		t->plans = list_delete_last(t->plans);
		occ_drop_plan(victim->plan);
		pfree(victim->cols);
		pfree(victim);
	}
	MemoryContextSwitchTo(old);
	return p->plan;
}

/* Makes the probe statements of t: the row by key, without and with a lock. */
SPIPlanPtr
occ_probe_plan(OccTable *t, bool lock)
{
	SPIPlanPtr *slot = lock ? &t->probe_lock_plan : &t->probe_plan;

	if (*slot == NULL)
	{
		char	   *sql = psprintf("SELECT occ_t.%s::pg_catalog.int8, occ_t.%s, "
								   "pg_catalog.to_jsonb(occ_t.*), %s%s "
								   "FROM %s AS occ_t WHERE %s%s",
								   quote_identifier(t->version_col),
								   quote_identifier(t->etag_col),
								   t->fields_col ? "occ_t." : "NULL::pg_catalog.jsonb",
								   t->fields_col ? quote_identifier(t->fields_col) : "",
								   t->qualified_name, t->key_cond,
								   lock ? " FOR UPDATE OF occ_t" : "");

		*slot = occ_prepare(t, sql, NULL);
	}
	return *slot;
}

/*
 * Frees every statement this file prepared for t: the probes and the kept
 * statements.  meta.c calls it when it frees t's description.
 */
void
occ_free_plans(OccTable *t)
{
	ListCell   *lc;

	foreach(lc, t->plans)
		SPI_freeplan(((OccPlan *) lfirst(lc))->plan);
	list_free(t->plans);
	t->plans = NIL;
	if (t->probe_plan)
		SPI_freeplan(t->probe_plan);
	if (t->probe_lock_plan)
		SPI_freeplan(t->probe_lock_plan);
	t->probe_plan = NULL;
	t->probe_lock_plan = NULL;
	occ_history_free_plans(t);
}
