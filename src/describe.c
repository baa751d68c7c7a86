/*
 * describe.c
 *		Describing an enabled table: reading the occ trigger's arguments,
 *		finding the key, version and ETag columns, the extension's schema,
 *		and building the OccTable that meta.c caches.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "occ.h"
#include "compat.h"

/* Reads a granularity name; false if it is not one. */
bool
occ_parse_granularity(const char *s, OccGranularity *g)
{
	if (strcmp(s, "row") == 0)
		*g = OCC_GRANULARITY_ROW;
	else if (strcmp(s, "field") == 0)
		*g = OCC_GRANULARITY_FIELD;
	else
		return false;
	return true;
}

/* Reads a version_input name; false if it is not one. */
bool
occ_parse_version_input(const char *s, OccVersionInput *v)
{
	if (strcmp(s, "ignore") == 0)
		*v = OCC_INPUT_IGNORE;
	else if (strcmp(s, "expected") == 0)
		*v = OCC_INPUT_EXPECTED;
	else if (strcmp(s, "next") == 0)
		*v = OCC_INPUT_NEXT;
	else
		return false;
	return true;
}

/* The name of a granularity, as occ_enable() and occ_tables spell it. */
const char *
occ_granularity_name(OccGranularity g)
{
	return g == OCC_GRANULARITY_FIELD ? "field" : "row";
}

/* The name of a version_input mode. */
const char *
occ_version_input_name(OccVersionInput v)
{
	switch (v)
	{
		case OCC_INPUT_EXPECTED:
			return "expected";
		case OCC_INPUT_NEXT:
			return "next";
		default:
			return "ignore";
	}
}

/*
 * The schema occ is installed in, or InvalidOid when it is not installed.
 * (get_extension_schema() is exported only from PostgreSQL 16.)
 */
Oid
occ_extension_namespace(void)
{
	Oid			extoid = get_extension_oid(OCC_EXTENSION_NAME, true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	if (!OidIsValid(extoid))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* The quoted name of the schema occ is installed in. */
char *
occ_extension_schema(bool missing_ok)
{
	Oid			nsp = occ_extension_namespace();

	if (!OidIsValid(nsp))
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"occ\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION occ.")));
	}
	return pstrdup(quote_identifier(get_namespace_name(nsp)));
}

/* Finds a live column by name; InvalidAttrNumber if there is none. */
AttrNumber
occ_find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/* "OPERATOR(schema.name)" for an operator, immune to search_path. */
static char *
occ_operator_sql(Oid opoid)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opoid));
	Form_pg_operator op;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opoid);
	op = (Form_pg_operator) GETSTRUCT(tup);
	sql = psprintf("OPERATOR(%s.%s)",
				   quote_identifier(get_namespace_name(op->oprnamespace)),
				   NameStr(op->oprname));
	ReleaseSysCache(tup);
	return sql;
}

/*
 * The primary-key index of rel, or an error saying why occ cannot use one:
 * there is none, or it is DEFERRABLE (not unique at every moment; before
 * PostgreSQL 18 the relcache does not count it as the primary key, from 18
 * it does).  name is the table
 * as messages show it.  occ_enable() and the cache both check through this.
 */
Oid
occ_primary_key_index(Relation rel, const char *name)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			pk = InvalidOid;
	bool		deferrable = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (ix->indisprimary)
		{
			pk = ix->indexrelid;
			deferrable = !ix->indimmediate;
		}
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	if (deferrable)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("primary key of table \"%s\" is deferrable", name),
				 errdetail("occ finds rows by their primary key, which must be unique at every moment."),
				 errhint("Recreate the primary key without DEFERRABLE.")));
	if (!OidIsValid(pk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", name),
				 errhint("occ identifies rows by their primary key; add one with ALTER TABLE ... ADD PRIMARY KEY.")));
	return pk;
}

/* The type of column name of rel, or InvalidOid if it has none. */
Oid
occ_column_type(Relation rel, const char *name)
{
	AttrNumber	attnum = occ_find_column(RelationGetDescr(rel), name);

	return attnum == InvalidAttrNumber ? InvalidOid :
		TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
}

/*
 * The one check of a table's columns, for occ_enable() and for the
 * description of an enabled table: a usable primary key, and each of occ's
 * columns that exists of the right type.  fields_col is NULL with row
 * granularity.  Fills the types found (InvalidOid: the column is missing);
 * returns the primary key's index.
 */
Oid
occ_check_columns(Relation rel, const char *relname, const char *version_col,
				  const char *etag_col, const char *fields_col, OccColumnTypes *types)
{
	Oid			pk = occ_primary_key_index(rel, relname);

	types->version = occ_column_type(rel, version_col);
	types->etag = occ_column_type(rel, etag_col);
	types->fields = fields_col ? occ_column_type(rel, fields_col) : InvalidOid;
	if (OidIsValid(types->version) && types->version != INT4OID &&
		types->version != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("version column \"%s\" must be of type integer or bigint",
						version_col)));
	if (OidIsValid(types->etag) && types->etag != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("etag column \"%s\" must be of type text", etag_col)));
	if (OidIsValid(types->fields) && types->fields != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field versions column \"%s\" must be of type jsonb",
						fields_col)));
	return pk;
}

/* Fills in the primary-key columns of t from the relation's key index. */
static void
occ_describe_key(OccTable *t, Relation rel, Oid pkoid)
{
	Relation	idx;
	TupleDesc	desc = RelationGetDescr(rel);

	idx = index_open(pkoid, AccessShareLock);
	t->nkeys = idx->rd_index->indnkeyatts;
	for (int i = 0; i < t->nkeys; i++)
	{
		OccKeyColumn *k = &t->keys[i];
		Form_pg_attribute att;
		Oid			eqop;
		bool		isvarlena;

		k->attnum = idx->rd_index->indkey.values[i];
		if (k->attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key of table \"%s\" has an expression column",
							t->plain_name)));
		att = TupleDescAttr(desc, k->attnum - 1);
		k->name = pstrdup(NameStr(att->attname));
		k->typid = att->atttypid;
		k->basetypid = getBaseType(att->atttypid);
		k->typmod = att->atttypmod;
		get_typlenbyval(k->typid, &k->typlen, &k->typbyval);
		getTypeInputInfo(k->typid, &k->typinput, &k->typioparam);
		getTypeOutputInfo(k->typid, &k->typoutput, &isvarlena);
		k->sqltype = format_type_extended(k->typid, k->typmod,
										  FORMAT_TYPE_TYPEMOD_GIVEN |
										  FORMAT_TYPE_FORCE_QUALIFY);
		eqop = get_opfamily_member(idx->rd_opfamily[i], idx->rd_opcintype[i],
								   idx->rd_opcintype[i], BTEqualStrategyNumber);
		if (!OidIsValid(eqop))
			elog(ERROR, "no equality operator for key column \"%s\"", k->name);
		k->eqop = occ_operator_sql(eqop);
	}
	index_close(idx, AccessShareLock);
}

/* The largest value of an integer type; 0 if typid is not int2, int4 or int8. */
static int64
occ_int_type_max(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return PG_INT16_MAX;
		case INT4OID:
			return PG_INT32_MAX;
		case INT8OID:
			return PG_INT64_MAX;
		default:
			return 0;
	}
}

/* The argument of a cast from one integer type to another; NULL if expr is none. */
static Node *
occ_int_cast_arg(Node *expr)
{
	FuncExpr   *f = (FuncExpr *) expr;

	if (!IsA(expr, FuncExpr) || list_length(f->args) != 1 ||
		(f->funcformat != COERCE_IMPLICIT_CAST &&
		 f->funcformat != COERCE_EXPLICIT_CAST) ||
		occ_int_type_max(f->funcresulttype) == 0 ||
		occ_int_type_max(exprType(linitial(f->args))) == 0)
		return NULL;
	return linitial(f->args);
}

/*
 * The version new rows start at: the version column's DEFAULT when it is a
 * non-negative integer constant (an ORM's "lock_version DEFAULT 0"), else 1.
 * Casts between integer types around the constant are looked through; the
 * expression is never evaluated, so no DEFAULT can make this fail.
 */
static int64
occ_start_version(TupleDesc desc, AttrNumber attnum)
{
	Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
	Node	   *expr = NULL;
	int64		max = occ_int_type_max(att->atttypid);
	Const	   *c;
	int64		v;

	if (!att->atthasdef || att->attgenerated || desc->constr == NULL)
		return 1;
	for (int i = 0; i < desc->constr->num_defval; i++)
		if (desc->constr->defval[i].adnum == attnum)
			expr = stringToNode(desc->constr->defval[i].adbin);
	while (expr != NULL && !IsA(expr, Const))
	{
		if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (occ_int_cast_arg(expr) != NULL)
		{
			max = Min(max, occ_int_type_max(exprType(expr)));
			expr = occ_int_cast_arg(expr);
		}
		else
			return 1;
	}
	c = (Const *) expr;
	if (c == NULL || c->constisnull || occ_int_type_max(c->consttype) == 0)
		return 1;
	v = c->consttype == INT2OID ? DatumGetInt16(c->constvalue) :
		c->consttype == INT4OID ? DatumGetInt32(c->constvalue) :
		DatumGetInt64(c->constvalue);
	return v >= 0 && v <= max ? v : 1;
}

/* Builds the description of rel from its occ trigger's arguments. */
OccTable *
occ_build_table(Relation rel, char **args, int nargs)
{
	MemoryContext mcxt;
	MemoryContext old;
	OccTable   *t;
	TupleDesc	desc = RelationGetDescr(rel);
	OccColumnTypes types;
	Oid			pk;

	mcxt = AllocSetContextCreate(CacheMemoryContext, "occ table",
								 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		t = palloc0(sizeof(OccTable));
		t->relid = RelationGetRelid(rel);
		t->mcxt = mcxt;
		t->nspname = get_namespace_name(RelationGetNamespace(rel));
		t->relname = pstrdup(RelationGetRelationName(rel));
		t->qualified_name = quote_qualified_identifier(t->nspname, t->relname);
		t->display_name = t->qualified_name;
		t->plain_name = psprintf("%s.%s", t->nspname, t->relname);
		t->is_partition = rel->rd_rel->relispartition;
		t->stats_relid = t->relid;
		t->stats_nspname = t->nspname;
		t->stats_relname = t->relname;
		if (t->is_partition)
		{
			List	   *ancestors = get_partition_ancestors(t->relid);

			t->stats_relid = llast_oid(ancestors);
			t->stats_nspname = get_namespace_name(get_rel_namespace(t->stats_relid));
			t->stats_relname = get_rel_name(t->stats_relid);
		}

		/*
		 * version, etag, granularity, version_input [, field versions]; with
		 * history: the field versions column or "", then history => N, the
		 * history table's schema and name
		 */
		if ((nargs != 4 && nargs != 5 && nargs != 8) ||
			!occ_parse_granularity(args[2], &t->granularity) ||
			!occ_parse_version_input(args[3], &t->version_input) ||
			(t->granularity == OCC_GRANULARITY_FIELD) != (nargs >= 5 && args[4][0] != '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("trigger \"%s\" on table \"%s\" has invalid arguments",
							OCC_TRIGGER_NAME, t->plain_name),
					 errhint("Call occ_enable() on the table again.")));
		t->version_col = pstrdup(args[0]);
		t->etag_col = pstrdup(args[1]);
		if (t->granularity == OCC_GRANULARITY_FIELD)
			t->fields_col = pstrdup(args[4]);
		pk = occ_check_columns(rel, t->plain_name, t->version_col, t->etag_col,
							   t->fields_col, &types);
		if (t->fields_col && !OidIsValid(types.fields))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" used by occ does not exist or is not of type jsonb",
							t->fields_col, t->plain_name),
					 errhint("Call occ_enable() on the table again.")));
		if (!OidIsValid(types.version) || !OidIsValid(types.etag))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" used by occ does not exist",
							!OidIsValid(types.version) ?
							t->version_col : t->etag_col, t->plain_name),
					 errhint("Call occ_enable() on the table again.")));
		t->fields_attnum = t->fields_col ? occ_find_column(desc, t->fields_col) :
			InvalidAttrNumber;
		t->version_attnum = occ_find_column(desc, t->version_col);
		t->etag_attnum = occ_find_column(desc, t->etag_col);
		t->version_typid = types.version;
		t->start_version = occ_start_version(desc, t->version_attnum);
		occ_describe_key(t, rel, pk);
		occ_citus_describe(t, rel);
		occ_history_describe(t, rel, args, nargs);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(mcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	t->valid = true;
	return t;
}

/*
 * Finds the occ trigger among rel's triggers (on a Citus shard, the copy
 * Citus renamed); NULL if rel is not enabled.
 */
Trigger *
occ_find_trigger(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	if (td == NULL)
		return NULL;
	for (int i = 0; i < td->numtriggers; i++)
		if (strcmp(td->triggers[i].tgname, OCC_TRIGGER_NAME) == 0)
			return &td->triggers[i];
	return occ_citus_shard_trigger(rel);
}

/*
 * Is rel enabled (does it have occ's trigger), and with which granularity?
 * Unlike occ_table_for_relation(), checks nothing else, so that occ_enable()
 * and occ_disable() can repair a table whose columns were renamed.
 */
bool
occ_relation_enabled(Relation rel, OccGranularity *g, char **version_col,
					 char **etag_col)
{
	Trigger    *trig = occ_find_trigger(rel);

	if (trig == NULL)
		return false;
	if (trig->tgnargs < 3 || !occ_parse_granularity(trig->tgargs[2], g))
		*g = OCC_GRANULARITY_ROW;
	if (version_col)
		*version_col = trig->tgnargs > 0 ? pstrdup(trig->tgargs[0]) : NULL;
	if (etag_col)
		*etag_col = trig->tgnargs > 1 ? pstrdup(trig->tgargs[1]) : NULL;
	return true;
}

