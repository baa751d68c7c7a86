/*
 * conditional.c
 *		occ_update(), occ_update_if_match(), occ_delete() and
 *		occ_delete_if_match(): one UPDATE or DELETE, conditioned on the
 *		version or the ETag, and a typed OC error when it matches nothing.
 *
 * Each operation and patch shape (the set of patched columns) gets one SQL
 * statement, prepared once and kept in the table's description (meta.c).
 * Values are converted by jsonb_to_record(), exactly as
 * jsonb_populate_record() would convert them; json/jsonb columns are merged
 * with occ_merge_patch().  Everything runs as the caller, so privileges and
 * row-level security apply as to a plain UPDATE or DELETE.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "occ.h"

PG_FUNCTION_INFO_V1(occ_update);
PG_FUNCTION_INFO_V1(occ_update_if_match);
PG_FUNCTION_INFO_V1(occ_delete);
PG_FUNCTION_INFO_V1(occ_delete_if_match);

/* What the statement does ... */
typedef enum OccKind
{
	OCC_KIND_UPDATE,
	OCC_KIND_DELETE,
	OCC_KIND_CHECK				/* an empty patch: lock and return the row */
} OccKind;

/* ... and what it is conditioned on. */
typedef enum OccCond
{
	OCC_COND_VERSION,
	OCC_COND_ETAG,
	OCC_COND_ANY				/* If-Match: * */
} OccCond;

#define OCC_OP(kind, cond)	((kind) * 3 + (cond))

/* One call's request, once its arguments are checked and converted. */
typedef struct OccRequest
{
	OccTable   *t;
	Relation	rel;
	OccKind		kind;
	OccCond		cond;
	Datum		keys[INDEX_MAX_KEYS];
	int64		expected_version;
	const char *expected_etag;	/* for the DETAIL */
	ArrayType  *etags;			/* the If-Match list */
	Jsonb	   *patch;
	int			ncols;
	AttrNumber *cols;
} OccRequest;

/* Is the column's type (or its domain's base type) json or jsonb? */
static bool
occ_is_json_type(Oid typid)
{
	Oid			base = getBaseType(typid);

	return base == JSONOID || base == JSONBOID;
}

/* Fills in what the statements of t share: extension schema, key condition. */
static void
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

				if (i > 0)
					appendStringInfoString(&s, ", ");
				if (occ_is_json_type(att->atttypid))
				{
					appendStringInfo(&s, "%s = %s.occ_merge_patch(occ_t.%s::pg_catalog.jsonb, occ_p.%s)",
									 col, t->ext_schema, col, col);
					if (att->atttypid != JSONBOID)
						appendStringInfo(&s, "::%s",
										 format_type_extended(att->atttypid, att->atttypmod,
															  FORMAT_TYPE_TYPEMOD_GIVEN |
															  FORMAT_TYPE_FORCE_QUALIFY));
				}
				else
					appendStringInfo(&s, "%s = occ_p.%s", col, col);
			}
			if (t->version_input == OCC_INPUT_EXPECTED)
				appendStringInfo(&s, ", %s = occ_t.%s", ver, ver);
			else if (t->version_input == OCC_INPUT_NEXT)
				appendStringInfo(&s, ", %s = occ_t.%s OPERATOR(pg_catalog.+) 1", ver, ver);
			appendStringInfo(&s, " FROM pg_catalog.jsonb_to_record($%d) AS occ_p(",
							 t->nkeys + 3);
			for (int i = 0; i < r->ncols; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);

				appendStringInfo(&s, "%s%s %s", i > 0 ? ", " : "",
								 quote_identifier(NameStr(att->attname)),
								 occ_is_json_type(att->atttypid) ? "pg_catalog.jsonb" :
								 format_type_extended(att->atttypid, att->atttypmod,
													  FORMAT_TYPE_TYPEMOD_GIVEN |
													  FORMAT_TYPE_FORCE_QUALIFY));
			}
			appendStringInfoString(&s, ") WHERE ");
			break;
		case OCC_KIND_DELETE:
			appendStringInfo(&s, "DELETE FROM %s AS occ_t WHERE ", t->qualified_name);
			break;
		case OCC_KIND_CHECK:
			appendStringInfo(&s, "SELECT pg_catalog.to_jsonb(occ_t.*) FROM %s AS occ_t WHERE ",
							 t->qualified_name);
			break;
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
		appendStringInfoString(&s, " RETURNING pg_catalog.to_jsonb(occ_t.*)");
	return s.data;
}

/* The parameter types of every statement: keys, version, ETags, patch. */
static Oid *
occ_param_types(OccTable *t)
{
	Oid		   *types = palloc((t->nkeys + 3) * sizeof(Oid));

	for (int i = 0; i < t->nkeys; i++)
		types[i] = t->keys[i].typid;
	types[t->nkeys] = INT8OID;
	types[t->nkeys + 1] = TEXTARRAYOID;
	types[t->nkeys + 2] = JSONBOID;
	return types;
}

/* Prepares and keeps a statement. */
static SPIPlanPtr
occ_prepare(OccTable *t, const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, t->nkeys + 3, occ_param_types(t));

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/* The kept statement for the request's operation and shape, made on first use. */
static SPIPlanPtr
occ_get_plan(OccRequest *r)
{
	OccTable   *t = r->t;
	int			op = OCC_OP(r->kind, r->cond);
	ListCell   *lc;
	OccPlan    *p;
	MemoryContext old;

	foreach(lc, t->plans)
	{
		p = (OccPlan *) lfirst(lc);
		if (p->op == op && p->ncols == r->ncols &&
			memcmp(p->cols, r->cols, r->ncols * sizeof(AttrNumber)) == 0)
		{
			if (lc != list_head(t->plans))
			{
				old = MemoryContextSwitchTo(t->mcxt);
				t->plans = list_delete_cell(t->plans, lc);
				t->plans = lcons(p, t->plans);
				MemoryContextSwitchTo(old);
			}
			return (SPIPlanPtr) p->plan;
		}
	}

	old = MemoryContextSwitchTo(t->mcxt);
	p = palloc(sizeof(OccPlan));
	p->op = op;
	p->ncols = r->ncols;
	p->cols = palloc(Max(r->ncols, 1) * sizeof(AttrNumber));
	memcpy(p->cols, r->cols, r->ncols * sizeof(AttrNumber));
	MemoryContextSwitchTo(old);
	p->plan = occ_prepare(t, occ_build_sql(r));

	old = MemoryContextSwitchTo(t->mcxt);
	t->plans = lcons(p, t->plans);
	if (list_length(t->plans) > OCC_MAX_PLANS)
	{
		OccPlan    *victim = (OccPlan *) llast(t->plans);

		t->plans = list_delete_last(t->plans);
		occ_retire_plan(victim->plan);
		pfree(victim->cols);
		pfree(victim);
	}
	MemoryContextSwitchTo(old);
	return (SPIPlanPtr) p->plan;
}

/* Converts one text value to key column k's type (the input function's errors). */
static Datum
occ_key_from_text(OccKeyColumn *k, char *s)
{
	return OidInputFunctionCall(k->typinput, s, k->typioparam, k->typmod);
}

/* The text of a JSON scalar, as jsonb_populate_record would pass it on. */
static char *
occ_json_scalar_text(OccTable *t, JsonbValue *v, const char *what)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key column \"%s\" of table \"%s\" cannot be null",
							what, t->plain_name)));
			break;
		default:
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("value for key column \"%s\" of table \"%s\" must be a JSON scalar",
					what, t->plain_name)));
	return NULL;
}

/* Reads the key from a JSON object that names every key column. */
static void
occ_keys_from_object(OccTable *t, Jsonb *jb, Datum *keys)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < t->nkeys; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", t->keys[i].name);

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_COUNT(jb) != t->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id for table \"%s\" must be a JSON object naming exactly its key columns",
						t->plain_name),
				 errdetail("The key columns are: %s.", names.data)));
	for (int i = 0; i < t->nkeys; i++)
	{
		OccKeyColumn *k = &t->keys[i];
		JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, k->name,
													 strlen(k->name), NULL);

		if (v == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("id for table \"%s\" must be a JSON object naming exactly its key columns",
							t->plain_name),
					 errdetail("The key columns are: %s.", names.data)));
		keys[i] = occ_key_from_text(k, occ_json_scalar_text(t, v, k->name));
	}
}

/* Converts the id argument ("any") to the key's type. */
static void
occ_convert_id(OccTable *t, FunctionCallInfo fcinfo, Datum *keys)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	Datum		arg = PG_GETARG_DATUM(1);
	OccKeyColumn *k = &t->keys[0];

	if (!OidIsValid(argtype))
		elog(ERROR, "could not determine the type of id");

	if (argtype == JSONBOID || argtype == JSONOID ||
		(t->nkeys > 1 && (argtype == UNKNOWNOID || argtype == TEXTOID)))
	{
		Jsonb	   *jb;

		if (argtype == JSONBOID)
			jb = DatumGetJsonbP(arg);
		else
		{
			char	   *s = argtype == UNKNOWNOID ? DatumGetCString(arg) :
			TextDatumGetCString(arg);

			jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
		}
		if (JB_ROOT_IS_OBJECT(jb) || t->nkeys > 1)
			occ_keys_from_object(t, jb, keys);
		else
		{
			JsonbValue	v;

			if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("id for table \"%s\" must be a key value or a JSON object naming the key column",
								t->plain_name)));
			keys[0] = occ_key_from_text(k, occ_json_scalar_text(t, &v, k->name));
		}
		return;
	}

	if (t->nkeys > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id for table \"%s\" must be a JSON object naming its key columns",
						t->plain_name),
				 errhint("The table has a composite primary key.")));

	if (argtype == k->typid)
		keys[0] = arg;
	else if (argtype == UNKNOWNOID || argtype == CSTRINGOID)
		keys[0] = occ_key_from_text(k, DatumGetCString(arg));
	else
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(argtype, &outfn, &isvarlena);
		keys[0] = occ_key_from_text(k, OidOutputFunctionCall(outfn, arg));
	}
}

/* Checks the patch's columns and records its shape in r. */
static void
occ_patch_shape(OccRequest *r)
{
	OccTable   *t = r->t;
	TupleDesc	desc = RelationGetDescr(r->rel);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;

	if (!JB_ROOT_IS_OBJECT(r->patch))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patch must be a JSON object"),
				 errdetail("The patch's keys name the columns to change.")));

	r->cols = palloc(Max(JB_ROOT_COUNT(r->patch), 1) * sizeof(AttrNumber));
	it = JsonbIteratorInit(&r->patch->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		AttrNumber	attnum = InvalidAttrNumber;
		Form_pg_attribute att = NULL;
		const char *why = NULL;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		for (int i = 0; i < desc->natts; i++)
		{
			att = TupleDescAttr(desc, i);
			if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			{
				attnum = att->attnum;
				break;
			}
		}
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, t->plain_name)));
		if (attnum == t->version_attnum)
			why = "It is the version column, which occ maintains.";
		else if (attnum == t->etag_attnum)
			why = "It is the ETag column, which occ maintains.";
		else if (att->attgenerated)
			why = "It is a generated column.";
		else if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			why = "It is an identity column defined as GENERATED ALWAYS.";
		for (int i = 0; i < t->nkeys && why == NULL; i++)
			if (attnum == t->keys[i].attnum)
				why = "It is part of the primary key.";
		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("column \"%s\" of table \"%s\" cannot be set by a patch",
							name, t->plain_name),
					 errdetail("%s", why)));
		r->cols[n++] = attnum;
	}
	r->ncols = n;
}

/*
 * Parses an If-Match value: bare or double-quoted tags, a comma-separated
 * list of them, or "*".  Weak tags (W/"...") never match.
 */
static void
occ_parse_if_match(OccRequest *r, text *value)
{
	char	   *s = text_to_cstring(value);
	char	   *tok;
	char	   *save;
	ArrayBuildState *abs = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	int			ntags = 0;
	char	   *first = NULL;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (strcmp(tok, "*") == 0)
		{
			r->cond = OCC_COND_ANY;
			return;
		}
		ntags++;
		if (strncmp(tok, "W/", 2) == 0)
			continue;
		if (end - tok >= 2 && tok[0] == '"' && end[-1] == '"')
		{
			tok++;
			*--end = '\0';
		}
		if (first == NULL)
			first = tok;
		abs = accumArrayResult(abs, CStringGetTextDatum(tok), false, TEXTOID,
							   CurrentMemoryContext);
	}
	r->cond = OCC_COND_ETAG;
	r->etags = DatumGetArrayTypeP(makeArrayResult(abs, CurrentMemoryContext));
	r->expected_etag = ntags == 1 && first ? first : text_to_cstring(value);
}

/* Raises the OC error that explains why the statement matched no row. */
static void
occ_explain_miss(OccRequest *r, Datum *values, char *nulls)
{
	OccTable   *t = r->t;
	SPIPlanPtr	probe;
	bool		isnull;
	int64		current;
	char	   *etag = NULL;
	bool		visible_match;

	if (t->probe_plan == NULL)
	{
		char	   *sql = psprintf("SELECT occ_t.%s::pg_catalog.int8, occ_t.%s FROM %s AS occ_t WHERE %s",
								   quote_identifier(t->version_col),
								   quote_identifier(t->etag_col),
								   t->qualified_name, t->key_cond);

		t->probe_plan = occ_prepare(t, sql);
	}
	probe = (SPIPlanPtr) t->probe_plan;
	if (SPI_execute_plan(probe, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "occ: probe failed");
	if (SPI_processed == 0)
		occ_raise(ERRCODE_OCC_NOT_FOUND, t, r->keys, false, 0, NULL, false, 0, NULL);

	current = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	if (isnull)
		current = 0;
	etag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	/*
	 * The row is there and matches the condition, yet the statement did not
	 * touch it: a row-level security policy for UPDATE or DELETE hides it.
	 */
	switch (r->cond)
	{
		case OCC_COND_VERSION:
			visible_match = current == r->expected_version;
			break;
		case OCC_COND_ETAG:
			{
				Datum	   *tags;
				int			ntags;

				visible_match = false;
				deconstruct_array(r->etags, TEXTOID, -1, false, TYPALIGN_INT,
								  &tags, NULL, &ntags);
				for (int i = 0; i < ntags && etag && !visible_match; i++)
					visible_match = strcmp(TextDatumGetCString(tags[i]), etag) == 0;
			}
			break;
		default:
			visible_match = true;
			break;
	}
	if (visible_match)
		occ_raise(ERRCODE_OCC_NOT_FOUND, t, r->keys, false, 0, NULL, false, 0, NULL);
	if (r->cond == OCC_COND_ETAG)
		occ_raise(ERRCODE_OCC_PRECONDITION_FAILED, t, r->keys, false, 0,
				  r->expected_etag, true, current, etag);
	occ_raise(ERRCODE_OCC_CONFLICT, t, r->keys, true, r->expected_version, NULL,
			  true, current, etag);
}

/* Raises 22004 for a NULL argument. */
static void
occ_check_not_null(FunctionCallInfo fcinfo, int nargs, OccCond cond)
{
	const char *names[] = {"tbl", "id",
	cond == OCC_COND_VERSION ? "expected_version" : "if_match", "patch"};

	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be null", names[i])));
}

/* The work of all four functions. */
static Datum
occ_conditional(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	OccRequest	r;
	Oid			relid;
	int			nargs = kind == OCC_KIND_UPDATE ? 4 : 3;
	SPIPlanPtr	plan;
	Datum		values[INDEX_MAX_KEYS + 3];
	char		nulls[INDEX_MAX_KEYS + 3];
	Datum		result;
	bool		isnull;

	occ_check_not_null(fcinfo, nargs, cond);
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.cond = cond;

	relid = PG_GETARG_OID(0);
	r.rel = try_table_open(relid, RowExclusiveLock);
	if (r.rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	r.t = occ_table_for_relation(r.rel, false);
	if (r.t->key_cond == NULL)
		occ_prepare_table_sql(r.t);

	if (kind == OCC_KIND_UPDATE)
	{
		r.patch = PG_GETARG_JSONB_P(3);
		occ_patch_shape(&r);
		if (r.ncols == 0)
			r.kind = OCC_KIND_CHECK;
	}
	occ_convert_id(r.t, fcinfo, r.keys);
	if (cond == OCC_COND_VERSION)
		r.expected_version = PG_GETARG_INT64(2);
	else
		occ_parse_if_match(&r, PG_GETARG_TEXT_PP(2));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = occ_get_plan(&r);

	for (int i = 0; i < r.t->nkeys; i++)
	{
		values[i] = r.keys[i];
		nulls[i] = ' ';
	}
	values[r.t->nkeys] = Int64GetDatum(r.expected_version);
	nulls[r.t->nkeys] = ' ';
	values[r.t->nkeys + 1] = r.etags ? PointerGetDatum(r.etags) : (Datum) 0;
	nulls[r.t->nkeys + 1] = r.etags ? ' ' : 'n';
	values[r.t->nkeys + 2] = r.patch ? JsonbPGetDatum(r.patch) : (Datum) 0;
	nulls[r.t->nkeys + 2] = r.patch ? ' ' : 'n';

	if (SPI_execute_plan(plan, values, nulls, false, 0) < 0)
		elog(ERROR, "occ: statement failed");
	if (SPI_processed == 0)
		occ_explain_miss(&r, values, nulls);

	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	table_close(r.rel, NoLock);
	PG_RETURN_DATUM(result);
}

/*
 * occ_update(tbl regclass, id "any", expected_version bigint, patch jsonb)
 *		Applies the patch if the row's version is expected_version.
 */
Datum
occ_update(PG_FUNCTION_ARGS)
{
	return occ_conditional(fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/*
 * occ_update_if_match(tbl regclass, id "any", if_match text, patch jsonb)
 *		Applies the patch if the row's ETag matches if_match.
 */
Datum
occ_update_if_match(PG_FUNCTION_ARGS)
{
	return occ_conditional(fcinfo, OCC_KIND_UPDATE, OCC_COND_ETAG);
}

/*
 * occ_delete(tbl regclass, id "any", expected_version bigint)
 *		Deletes the row if its version is expected_version.
 */
Datum
occ_delete(PG_FUNCTION_ARGS)
{
	return occ_conditional(fcinfo, OCC_KIND_DELETE, OCC_COND_VERSION);
}

/*
 * occ_delete_if_match(tbl regclass, id "any", if_match text)
 *		Deletes the row if its ETag matches if_match.
 */
Datum
occ_delete_if_match(PG_FUNCTION_ARGS)
{
	return occ_conditional(fcinfo, OCC_KIND_DELETE, OCC_COND_ETAG);
}
