/*
 * conditional.c
 *		occ_update(), occ_update_if_match(), occ_delete() and
 *		occ_delete_if_match(): one UPDATE or DELETE, conditioned on the
 *		version or the ETag, and a typed OC error when it matches nothing.
 *
 * Each operation and patch shape (the set of patched columns) gets one SQL
 * statement, prepared once and kept in the table's description (meta.c).
 * Values are converted exactly as jsonb_populate_record() would convert
 * them: scalars here, through the column type's input function, and passed
 * as typed parameters; an array or object for a column that is not json or
 * jsonb by jsonb_to_record() in the statement.  json/jsonb columns are merged
 * with occ_merge_patch().  Everything runs as the caller, so privileges and
 * row-level security apply as to a plain UPDATE or DELETE.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rel.h"
#include "access/htup_details.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"
#include "funcapi.h"
#include "utils/json.h"
#include "utils/tuplestore.h"

#include "occ.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(occ_update);
PG_FUNCTION_INFO_V1(occ_update_if_match);
PG_FUNCTION_INFO_V1(occ_delete);
PG_FUNCTION_INFO_V1(occ_delete_if_match);
PG_FUNCTION_INFO_V1(occ_try_update);
PG_FUNCTION_INFO_V1(occ_update_many);

/* What the statement does ... */
typedef enum OccKind
{
	OCC_KIND_UPDATE,
	OCC_KIND_DELETE,
	OCC_KIND_CHECK,				/* an empty patch: lock and return the row */
	OCC_KIND_CONVERT			/* the patch's values converted to column types */
} OccKind;

/* ... and what it is conditioned on. */
typedef enum OccCond
{
	OCC_COND_VERSION,
	OCC_COND_ETAG,
	OCC_COND_ANY				/* If-Match: * */
} OccCond;

#define OCC_OP(kind, cond)	((kind) * 3 + (cond))

/* How a request ended. */
typedef enum OccOutcome
{
	OCC_OUT_UPDATED,
	OCC_OUT_MERGED,
	OCC_OUT_UNCHANGED,
	OCC_OUT_DELETED,
	OCC_OUT_CONFLICT,
	OCC_OUT_ETAG_MISMATCH,
	OCC_OUT_NOT_FOUND
} OccOutcome;

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
	bool		typed;			/* patch values converted here, passed as parameters */
	Datum	   *colvals;
	char	   *colnulls;
} OccRequest;

/* What a request did; row is the new, deleted or (on a conflict) current row. */
typedef struct OccResult
{
	OccOutcome	outcome;
	Jsonb	   *row;
	OccErrorInfo info;
} OccResult;

static Datum occ_try_update_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond);
static Datum occ_update_many_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond);

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

/*
 * How a patch value becomes a value of one column: json/jsonb columns (or
 * domains over them) take the JSON itself, the others the type's input
 * function on the value's text.  Kept per table, indexed by attribute
 * number, so that no call looks up a type (the table's description is
 * rebuilt whenever the table is altered).
 */
typedef struct OccColumnInput
{
	bool		known;			/* filled in */
	bool		is_json;
	Oid			typioparam;
	FmgrInfo	input;
} OccColumnInput;

/* The conversion of column attnum of r's table, looked up on first use. */
static OccColumnInput *
occ_column_input(OccRequest *r, AttrNumber attnum)
{
	OccTable   *t = r->t;
	TupleDesc	desc = RelationGetDescr(r->rel);
	OccColumnInput *ci;

	if (t->col_input == NULL)
		t->col_input = MemoryContextAllocZero(t->mcxt, desc->natts * sizeof(OccColumnInput));
	ci = &t->col_input[attnum - 1];
	if (!ci->known)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		Oid			typinput;

		ci->is_json = occ_is_json_type(att->atttypid);
		getTypeInputInfo(att->atttypid, &typinput, &ci->typioparam);
		fmgr_info_cxt(typinput, &ci->input, t->mcxt);
		ci->known = true;
	}
	return ci;
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

/* The kept statement for the request's operation and shape, made on first use. */
static SPIPlanPtr
occ_get_plan(OccRequest *r)
{
	OccTable   *t = r->t;
	int			op = OCC_OP(r->kind, r->cond) + (r->typed && r->kind == OCC_KIND_UPDATE ? 100 : 0);
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
			return p->plan;
		}
	}

	old = MemoryContextSwitchTo(t->mcxt);
	p = palloc(sizeof(OccPlan));
	p->op = op;
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

/* Converts one text value to key column k's type (the input function's errors). */
static Datum
occ_key_from_text(OccKeyColumn *k, char *s)
{
	return OidInputFunctionCall(k->typinput, s, k->typioparam, k->typmod);
}

/* The text of one key value given as JSON (a scalar that is not null). */
static char *
occ_key_json_text(OccTable *t, JsonbValue *v, const char *what)
{
	char	   *str = occ_json_scalar_text(v);

	if (v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key column \"%s\" of table \"%s\" cannot be null",
						what, t->plain_name)));
	if (str == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value for key column \"%s\" of table \"%s\" must be a JSON scalar",
						what, t->plain_name)));
	return str;
}

/* Reads the key from a JSON object that names every key column. */
static void
occ_keys_from_object(OccTable *t, JsonbContainer *obj, Datum *keys)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < t->nkeys; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", t->keys[i].name);

	if (!JsonContainerIsObject(obj) || JsonContainerSize(obj) != t->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id for table \"%s\" must be a JSON object naming exactly its key columns",
						t->plain_name),
				 errdetail("The key columns are: %s.", names.data)));
	for (int i = 0; i < t->nkeys; i++)
	{
		OccKeyColumn *k = &t->keys[i];
		JsonbValue *v = getKeyJsonValueFromContainer(obj, k->name,
													 strlen(k->name), NULL);

		if (v == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("id for table \"%s\" must be a JSON object naming exactly its key columns",
							t->plain_name),
					 errdetail("The key columns are: %s.", names.data)));
		keys[i] = occ_key_from_text(k, occ_key_json_text(t, v, k->name));
	}
}

/* Converts an id given as a JSON value (a scalar, or an object naming the key columns). */
static void
occ_keys_from_json(OccTable *t, JsonbValue *v, Datum *keys)
{
	JsonbContainer *obj = NULL;

	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
		obj = v->val.binary.data;
	if (obj || t->nkeys > 1)
	{
		if (obj == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("id for table \"%s\" must be a JSON object naming its key columns",
							t->plain_name),
					 errhint("The table has a composite primary key.")));
		occ_keys_from_object(t, obj, keys);
		return;
	}
	if (v->type == jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id for table \"%s\" must be a key value or a JSON object naming the key column",
						t->plain_name)));
	keys[0] = occ_key_from_text(&t->keys[0], occ_key_json_text(t, v, t->keys[0].name));
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
		JsonbValue	v;

		if (argtype == JSONBOID)
			jb = DatumGetJsonbP(arg);
		else
		{
			char	   *s = argtype == UNKNOWNOID ? DatumGetCString(arg) :
			TextDatumGetCString(arg);

			jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
		}
		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, &v);
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &jb->root;
			v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
		occ_keys_from_json(t, &v, keys);
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

/*
 * Converts the patch's values to their columns' types here, exactly as
 * jsonb_populate_record() does for scalars (the type's input function on
 * the value's text; JSON null is NULL, checked by a domain's constraints),
 * so that the UPDATE takes them as parameters.  A JSON array or object for a
 * column that is not json/jsonb needs jsonb_populate_record()'s own
 * conversion: then the statement calls jsonb_to_record() instead.
 */
static void
occ_convert_patch(OccRequest *r)
{
	TupleDesc	desc = RelationGetDescr(r->rel);
	JsonbValue **vals = palloc(Max(r->ncols, 1) * sizeof(JsonbValue *));

	r->typed = true;
	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);

		vals[i] = occ_json_member(&r->patch->root, NameStr(att->attname),
								  strlen(NameStr(att->attname)));
		if (vals[i]->type == jbvBinary && !occ_column_input(r, r->cols[i])->is_json)
			r->typed = false;
	}
	if (!r->typed)
		return;

	r->colvals = palloc(Max(r->ncols, 1) * sizeof(Datum));
	r->colnulls = palloc(Max(r->ncols, 1) * sizeof(char));
	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);
		OccColumnInput *ci = occ_column_input(r, r->cols[i]);
		JsonbValue *v = vals[i];

		r->colnulls[i] = v->type == jbvNull ? 'n' : ' ';
		if (ci->is_json)
			r->colvals[i] = v->type == jbvNull ? (Datum) 0 :
				JsonbPGetDatum(JsonbValueToJsonb(v));
		else					/* NULL text for JSON null: domains check it */
			r->colvals[i] = InputFunctionCall(&ci->input, occ_json_scalar_text(v),
											  ci->typioparam, att->atttypmod);
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

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		attnum = occ_find_column(desc, name);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, t->plain_name)));
		att = TupleDescAttr(desc, attnum - 1);
		if (attnum == t->version_attnum)
			why = "It is the version column, which occ maintains.";
		else if (attnum == t->etag_attnum)
			why = "It is the ETag column, which occ maintains.";
		else if (attnum == t->fields_attnum)
			why = "It is the field versions column, which occ maintains.";
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
	occ_convert_patch(r);
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

		CHECK_FOR_INTERRUPTS();
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

/* Fills the statement parameters of a request (arrays of occ_nparams()). */
static void
occ_fill_params(OccRequest *r, Datum *values, char *nulls)
{
	int			n = r->t->nkeys;

	if (r->typed && r->kind == OCC_KIND_UPDATE)
		for (int i = 0; i < r->ncols; i++)
		{
			values[n + 3 + i] = r->colvals[i];
			nulls[n + 3 + i] = r->colnulls[i];
		}

	for (int i = 0; i < n; i++)
	{
		values[i] = r->keys[i];
		nulls[i] = ' ';
	}
	values[n] = Int64GetDatum(r->expected_version);
	nulls[n] = ' ';
	values[n + 1] = r->etags ? PointerGetDatum(r->etags) : (Datum) 0;
	nulls[n + 1] = r->etags ? ' ' : 'n';
	values[n + 2] = r->patch ? JsonbPGetDatum(r->patch) : (Datum) 0;
	nulls[n + 2] = r->patch ? ' ' : 'n';
}

/*
 * How each column of a returned row becomes JSON: the common types, and
 * one-dimensional arrays of them, directly; every other one through
 * to_jsonb() itself, so that the result is exactly to_jsonb(row) without its
 * per-call type lookups.
 */
typedef enum OccJsonKind
{
	OCC_J_INT,
	OCC_J_BOOL,
	OCC_J_TEXT,
	OCC_J_JSONB,
	OCC_J_OTHER
} OccJsonKind;

typedef struct OccJsonColumn
{
	Oid			typid;
	char	   *name;
	int			namelen;
	OccJsonKind kind;
	/* arrays of a type of kind elem_kind other than OCC_J_OTHER */
	bool		is_array;
	OccJsonKind elem_kind;
	Oid			elem_typid;
	int16		elem_len;
	bool		elem_byval;
	char		elem_align;
	FmgrInfo	to_jsonb;		/* OCC_J_OTHER, and arrays of more dimensions */
} OccJsonColumn;

typedef struct OccJsonRow
{
	int			natts;
	OccJsonColumn cols[FLEXIBLE_ARRAY_MEMBER];
} OccJsonRow;

/* The kind of a type whose values occ turns into JSON itself. */
static OccJsonKind
occ_json_kind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return OCC_J_INT;
		case BOOLOID:
			return OCC_J_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return OCC_J_TEXT;
		case JSONBOID:
			return OCC_J_JSONB;
		default:
			return OCC_J_OTHER;
	}
}

/* Describes how to turn rows of desc into JSON (kept in t's memory). */
static OccJsonRow *
occ_json_row_describe(OccTable *t, TupleDesc desc)
{
	MemoryContext old = MemoryContextSwitchTo(t->mcxt);
	OccJsonRow *jr = palloc0(offsetof(OccJsonRow, cols) + desc->natts * sizeof(OccJsonColumn));

	jr->natts = desc->natts;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		OccJsonColumn *c = &jr->cols[i];
		Oid			elem = get_element_type(att->atttypid);

		c->typid = att->atttypid;
		c->name = pstrdup(NameStr(att->attname));
		c->namelen = strlen(c->name);
		c->kind = occ_json_kind(att->atttypid);
		if (OidIsValid(elem) && occ_json_kind(elem) != OCC_J_OTHER)
		{
			c->is_array = true;
			c->elem_typid = elem;
			c->elem_kind = occ_json_kind(elem);
			get_typlenbyvalalign(elem, &c->elem_len, &c->elem_byval, &c->elem_align);
		}
		if (c->kind == OCC_J_OTHER)
		{
			Const	   *arg = makeConst(att->atttypid, att->atttypmod,
										att->attcollation, att->attlen,
										(Datum) 0, true, att->attbyval);

			fmgr_info_cxt(F_TO_JSONB, &c->to_jsonb, t->mcxt);
			c->to_jsonb.fn_expr = (Node *)
				makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(arg),
							 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		}
	}
	MemoryContextSwitchTo(old);
	return jr;
}

/* Sets v to the JSON of d, a value of a type of kind (not OCC_J_OTHER). */
static void
occ_scalar_to_json(OccJsonKind kind, Oid typid, Datum d, JsonbValue *v)
{
	switch (kind)
	{
		case OCC_J_INT:
			v->type = jbvNumeric;
			v->val.numeric = occ_int64_to_numeric(typid == INT2OID ? DatumGetInt16(d) :
												  typid == INT4OID ? DatumGetInt32(d) :
												  DatumGetInt64(d));
			break;
		case OCC_J_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(d);
			break;
		case OCC_J_TEXT:
			{
				text	   *txt = DatumGetTextPP(d);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(txt);
				v->val.string.len = VARSIZE_ANY_EXHDR(txt);
			}
			break;
		case OCC_J_JSONB:
		case OCC_J_OTHER:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				v->type = jbvBinary;
				v->val.binary.data = &jb->root;
				v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
			}
			break;
	}
}

/*
 * Pushes the JSON array of a one-dimensional (or empty) array of column c's
 * element type, as to_jsonb() makes it; false for more dimensions.
 */
static bool
occ_push_array(JsonbParseState **st, OccJsonColumn *c, Datum d)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		return false;
	deconstruct_array(arr, c->elem_typid, c->elem_len, c->elem_byval, c->elem_align,
					  &elems, &nulls, &n);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		JsonbValue	v;

		if (nulls[i])
			v.type = jbvNull;
		else
			occ_scalar_to_json(c->elem_kind, c->elem_typid, elems[i], &v);
		pushJsonbValue(st, WJB_ELEM, &v);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	return true;
}

/* The row as jsonb, exactly as to_jsonb(row) makes it. */
static Jsonb *
occ_row_to_jsonb(OccTable *t, HeapTuple tup, TupleDesc desc)
{
	OccJsonRow *jr = t->json_row;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	bool		same = jr && jr->natts == desc->natts;

	/* t is rebuilt when the table changes; the types guard against the rest */
	for (int i = 0; same && i < desc->natts; i++)
		same = jr->cols[i].typid == TupleDescAttr(desc, i)->atttypid;
	if (!same)
		t->json_row = jr = occ_json_row_describe(t, desc);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < desc->natts; i++)
	{
		OccJsonColumn *c = &jr->cols[i];
		JsonbValue	k;
		JsonbValue	v;
		bool		isnull;
		Datum		d;

		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		k.type = jbvString;
		k.val.string.val = c->name;
		k.val.string.len = c->namelen;
		pushJsonbValue(&st, WJB_KEY, &k);

		d = heap_getattr(tup, i + 1, desc, &isnull);
		if (isnull)
			v.type = jbvNull;
		else if (c->is_array && occ_push_array(&st, c, d))
			continue;
		else if (c->kind == OCC_J_OTHER)
			occ_scalar_to_json(OCC_J_OTHER, c->typid, FunctionCall1(&c->to_jsonb, d), &v);
		else
			occ_scalar_to_json(c->kind, c->typid, d, &v);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Runs the request's statement; the row it returned (copied out of SPI), or NULL. */
static Jsonb *
occ_execute(OccRequest *r)
{
	Datum	   *values = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	SPIPlanPtr	plan = occ_get_plan(r);
	bool		isnull;
	Datum		d;

	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(plan, values, nulls, false, 0) < 0)
		elog(ERROR, "occ: statement failed");
	if (SPI_processed == 0)
		return NULL;
	if (r->kind != OCC_KIND_CONVERT)
		d = JsonbPGetDatum(occ_row_to_jsonb(r->t, SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc));
	else
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
}

/*
 * Converts an untyped patch (see occ_convert_patch) by a statement of its
 * own, on this node, and makes the request typed.  Citus cannot distribute
 * the UPDATE ... FROM jsonb_to_record() form, so a Citus table takes this
 * way.  Called inside the request's SPI connection.
 */
static void
occ_convert_here(OccRequest *r)
{
	Datum	   *values = palloc0((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	OccKind		kind = r->kind;
	SPIPlanPtr	plan;
	TupleDesc	desc;

	memset(nulls, 'n', INDEX_MAX_KEYS + 3 + r->ncols);
	r->kind = OCC_KIND_CONVERT;
	plan = occ_get_plan(r);
	r->kind = kind;
	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(plan, values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "occ: patch conversion failed");
	desc = SPI_tuptable->tupdesc;
	r->colvals = palloc(Max(r->ncols, 1) * sizeof(Datum));
	r->colnulls = palloc(Max(r->ncols, 1) * sizeof(char));
	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i + 1);
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], desc, i + 2, &isnull);

		r->colnulls[i] = isnull ? 'n' : ' ';
		r->colvals[i] = isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
	}
	SPI_freetuptable(SPI_tuptable);
	r->typed = true;
}

/* The version stored in a row returned as jsonb. */
static int64
occ_row_version(OccTable *t, Jsonb *row)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&row->root, t->version_col,
												 strlen(t->version_col), NULL);

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/* Would merging patch value pv into current value cv leave cv as it is? */
static bool
occ_merge_converges(JsonbValue *cv, JsonbValue *pv)
{
	Jsonb	   *merged;
	JsonbValue	mv;

	if (pv->type == jbvNull)
		return cv == NULL;
	if (pv->type != jbvBinary || !JsonContainerIsObject(pv->val.binary.data))
		return occ_jsonb_values_equal(cv, pv);
	merged = occ_merge_jsonb(cv && cv->type != jbvNull ? JsonbValueToJsonb(cv) : NULL,
							 JsonbValueToJsonb(pv));
	mv.type = jbvBinary;
	mv.val.binary.data = &merged->root;
	mv.val.binary.len = VARSIZE(merged) - VARHDRSZ;
	return cv != NULL && occ_jsonb_values_equal(cv, &mv);
}

/*
 * Field granularity: decides whether a patch written against version v can
 * be applied to the current row.  Fills the changed and conflicting fields.
 */
static void
occ_merge_check(OccRequest *r, Jsonb *current, Jsonb *fv, int64 current_version,
				OccErrorInfo *info)
{
	OccTable   *t = r->t;
	TupleDesc	desc = RelationGetDescr(r->rel);
	int64		v = r->expected_version;
	Jsonb	   *converted = NULL;

	int64		orphan = occ_fields_orphan_version(fv, desc);

	info->has_fields = true;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		key = false;

		for (int k = 0; k < t->nkeys; k++)
			key |= att->attnum == t->keys[k].attnum;
		if (att->attisdropped || key || occ_own_column(t, att->attnum))
			continue;
		if (occ_fields_column_version(fv, NameStr(att->attname), orphan) > v)
			info->changed_fields = lappend(info->changed_fields,
										   pstrdup(NameStr(att->attname)));
	}

	for (int i = 0; i < r->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, r->cols[i] - 1);
		char	   *name = NameStr(att->attname);
		int			len = strlen(name);
		JsonbValue *pv = occ_json_member(&r->patch->root, name, len);
		JsonbValue *cv = occ_json_member(&current->root, name, len);
		bool		is_json = occ_column_input(r, r->cols[i])->is_json;

		if (v > current_version)
		{
			/* a version the row never had */
			info->conflicting_fields = lappend(info->conflicting_fields, pstrdup(name));
			continue;
		}
		if (cv && cv->type == jbvNull)
			cv = NULL;
		if (is_json && pv->type == jbvBinary &&
			JsonContainerIsObject(pv->val.binary.data) &&
			cv && cv->type == jbvBinary && JsonContainerIsObject(cv->val.binary.data))
		{
			/* a merge patch into a document: decide member by member */
			JsonbIterator *it = JsonbIteratorInit(pv->val.binary.data);
			JsonbIteratorToken tok;
			JsonbValue	k;
			JsonbValue	mv;

			while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
			{
				CHECK_FOR_INTERRUPTS();
				if (tok != WJB_KEY)
					continue;
				JsonbIteratorNext(&it, &mv, true);
				if (occ_merge_converges(occ_json_member(cv->val.binary.data,
												   k.val.string.val,
												   k.val.string.len), &mv))
					continue;
				if (occ_fields_member_version(fv, name, k.val.string.val,
											  k.val.string.len, orphan) > v)
					info->conflicting_fields =
						lappend(info->conflicting_fields,
								psprintf("%s.%.*s", name, k.val.string.len,
										 k.val.string.val));
			}
			continue;
		}

		if (is_json)
		{
			if (occ_merge_converges(cv, pv))
				continue;
		}
		else
		{
			JsonbValue *nv;

			if (converted == NULL)
			{
				OccKind kind = r->kind;

				r->kind = OCC_KIND_CONVERT;
				converted = occ_execute(r);
				r->kind = kind;
			}
			nv = occ_json_member(&converted->root, name, len);
			if (nv && nv->type == jbvNull)
				nv = NULL;
			if (occ_jsonb_values_equal(cv, nv))
				continue;
		}
		if (occ_fields_column_version(fv, name, orphan) > v)
			info->conflicting_fields = lappend(info->conflicting_fields, pstrdup(name));
	}
}

/* Makes the probe statements of t: the row by key, without and with a lock. */
static SPIPlanPtr
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
}

/*
 * Did the UPDATE that returned row leave it as it was?  Only if occ's
 * trigger saw it and said so (occ_noop_updates moved past noops): a row
 * written with the trigger disabled or in replica role keeps its version
 * too, yet was changed.
 */
static bool
occ_unchanged(OccTable *t, Jsonb *row, int64 version, uint64 noops)
{
	return occ_row_version(t, row) == version && occ_noop_updates != noops;
}

/*
 * Runs a request to the end without raising for a conflict or a missing
 * row: res says what happened.  Called inside an SPI connection.
 */
static void
occ_run(OccRequest *r, OccResult *res)
{
	OccTable   *t = r->t;
	Datum	   *values = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(Datum));
	char	   *nulls = palloc((INDEX_MAX_KEYS + 3 + r->ncols) * sizeof(char));
	bool		merging;
	bool		lock;
	bool		retried = false;
	bool		isnull;
	int64		current;
	char	   *etag;
	Jsonb	   *current_row;
	Datum		d;
	bool		visible_match;
	uint64		noops;

	memset(res, 0, sizeof(*res));
	if (r->kind == OCC_KIND_UPDATE && !r->typed && t->citus)
		occ_convert_here(r);
	noops = occ_noop_updates;
	res->row = occ_execute(r);
retry:
	if (res->row)
	{
		if (r->kind == OCC_KIND_DELETE)
			res->outcome = OCC_OUT_DELETED;
		else if (r->kind == OCC_KIND_CHECK ||
				 (r->cond == OCC_COND_VERSION &&
				  occ_unchanged(t, res->row, r->expected_version, noops)))
			res->outcome = OCC_OUT_UNCHANGED;
		else
			res->outcome = OCC_OUT_UPDATED;
		return;
	}

	/*
	 * Nothing matched: find out why.  An update locks the row as it reads
	 * it, so that the UPDATE policies of row-level security apply, the
	 * newest version is seen, and a field-level merge can follow.
	 */
	lock = r->kind == OCC_KIND_UPDATE || r->kind == OCC_KIND_CHECK;
	merging = lock && t->granularity == OCC_GRANULARITY_FIELD &&
		r->cond == OCC_COND_VERSION;
	occ_fill_params(r, values, nulls);
	if (SPI_execute_plan(occ_probe_plan(t, lock), values, nulls, false, 1) < 0)
		elog(ERROR, "occ: probe failed");
	if (SPI_processed == 0)
	{
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		return;
	}
	current = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	if (isnull)
		current = 0;
	etag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	current_row = DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
	res->info.has_current = true;
	res->info.current_version = current;
	res->info.current_etag = etag ? strcpy(SPI_palloc(strlen(etag) + 1), etag) : NULL;

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
	if (visible_match && !retried)
	{
		/*
		 * The row matches now but did not when the statement began (it was
		 * deleted and inserted again, say): run the statement once more,
		 * with a new snapshot.
		 */
		retried = true;
		memset(&res->info, 0, sizeof(res->info));
		res->row = occ_execute(r);
		goto retry;
	}
	if (visible_match)
	{
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		res->info.has_current = false;
		return;
	}

	res->row = current_row;
	if (r->cond == OCC_COND_ETAG)
	{
		res->outcome = OCC_OUT_ETAG_MISMATCH;
		res->info.sqlstate = ERRCODE_OCC_PRECONDITION_FAILED;
		res->info.expected_etag = r->expected_etag;
		return;
	}

	res->outcome = OCC_OUT_CONFLICT;
	res->info.sqlstate = ERRCODE_OCC_CONFLICT;
	res->info.has_expected_version = true;
	res->info.expected_version = r->expected_version;
	if (!merging)
		return;

	/* field granularity: apply it anyway if no patched field changed since */
	{
		Jsonb	   *fv = NULL;
		int64		stale = r->expected_version;
		Jsonb	   *row;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		if (!isnull)
			fv = DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
		if (r->kind == OCC_KIND_UPDATE)
			occ_merge_check(r, current_row, fv, current, &res->info);
		else
			res->info.has_fields = true;
		if (res->info.conflicting_fields != NIL || stale > current)
			return;
		r->expected_version = current;
		noops = occ_noop_updates;
		row = occ_execute(r);
		r->expected_version = stale;
		if (row == NULL)
			return;				/* cannot happen: the row is locked */
		res->row = row;
		res->outcome = occ_unchanged(t, row, current, noops) ?
			OCC_OUT_UNCHANGED : OCC_OUT_MERGED;
	}
}

/*
 * Can a row that this call waits for be moved to another partition by a
 * concurrent UPDATE, with PostgreSQL raising 40001 ("... was already moved
 * to another partition due to concurrent update")?  Under READ COMMITTED on
 * a partitioned table or a partition.  The row's key changed with its
 * partition, so the key is gone as after a concurrent delete: occ answers
 * OC404, marked as moved.  Catching the error takes a subtransaction, so
 * only these tables pay for it.
 */
static bool
occ_moves_possible(OccRequest *r)
{
	return (r->rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
			r->rel->rd_rel->relispartition) &&
		!IsolationUsesXactSnapshot();
}

/*
 * In the PG_CATCH of a subtransaction the caller began: rolls it back, and
 * raises the error again unless it is PostgreSQL's "already moved to
 * another partition" (checked by the untranslated message).
 */
static void
occ_catch_moved(MemoryContext mcxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(mcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(mcxt);
	CurrentResourceOwner = owner;
	if (edata->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE ||
		edata->message_id == NULL ||
		strstr(edata->message_id, "moved to another partition") == NULL)
		ReThrowError(edata);
	FreeErrorData(edata);
}

/* occ_run(), answering OC404 "moved" for a row moved under it (see above). */
static void
occ_run_guarded(OccRequest *r, OccResult *res)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (!occ_moves_possible(r))
	{
		occ_run(r, res);
		return;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		occ_run(r, res);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		occ_catch_moved(mcxt, owner);
		memset(res, 0, sizeof(*res));
		res->outcome = OCC_OUT_NOT_FOUND;
		res->info.sqlstate = ERRCODE_OCC_NOT_FOUND;
		res->info.moved = true;
	}
	PG_END_TRY();
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

/* Opens the table of a request and finds its description. */
static void
occ_open_request(OccRequest *r, Oid relid)
{
	r->rel = try_table_open(relid, RowExclusiveLock);
	if (r->rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	r->t = occ_table_for_relation(r->rel, false);
	if (r->t->key_cond == NULL)
		occ_prepare_table_sql(r->t);
}

/* Checks and converts the arguments of the four single-row functions. */
static void
occ_read_request(FunctionCallInfo fcinfo, OccRequest *r, OccKind kind, OccCond cond)
{
	int			nargs = kind == OCC_KIND_UPDATE ? 4 : 3;

	occ_check_not_null(fcinfo, nargs, cond);
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->cond = cond;
	occ_open_request(r, PG_GETARG_OID(0));
	if (kind == OCC_KIND_UPDATE)
	{
		r->patch = PG_GETARG_JSONB_P(3);
		occ_patch_shape(r);
		if (r->ncols == 0)
			r->kind = OCC_KIND_CHECK;
	}
	occ_convert_id(r->t, fcinfo, r->keys);
	if (cond == OCC_COND_VERSION)
		r->expected_version = PG_GETARG_INT64(2);
	else
		occ_parse_if_match(r, PG_GETARG_TEXT_PP(2));
}

/* Counts what a request did (stats.c). */
static void
occ_count(OccRequest *r, OccResult *res)
{
	static const OccStatEvent events[] = {
		[OCC_OUT_UPDATED] = OCC_STAT_SUCCESS,
		[OCC_OUT_MERGED] = OCC_STAT_MERGE,
		[OCC_OUT_UNCHANGED] = OCC_STAT_SUCCESS,
		[OCC_OUT_DELETED] = OCC_STAT_SUCCESS,
		[OCC_OUT_CONFLICT] = OCC_STAT_CONFLICT,
		[OCC_OUT_ETAG_MISMATCH] = OCC_STAT_ETAG_MISMATCH,
		[OCC_OUT_NOT_FOUND] = OCC_STAT_NOT_FOUND,
	};

	if (res->outcome == OCC_OUT_UNCHANGED)
		return;					/* nothing written: no retry resolved either */
	occ_stats_event(r->t, events[res->outcome], r->keys, &res->info);
}

/*
 * Runs fn(fcinfo, kind, cond) as one call of a conditional function (see
 * occ_call_enter() in meta.c).
 */
static Datum
occ_guarded(Datum (*fn) (FunctionCallInfo, OccKind, OccCond),
			FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	volatile Datum result = (Datum) 0;

	occ_call_enter();
	PG_TRY();
	{
		result = fn(fcinfo, kind, cond);
	}
	PG_FINALLY();
	{
		occ_call_exit();
	}
	PG_END_TRY();
	return result;
}

/* The work of the four raising functions. */
static Datum
occ_conditional(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	OccRequest	r;
	OccResult	res;

	occ_read_request(fcinfo, &r, kind, cond);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_run_guarded(&r, &res);
	occ_count(&r, &res);
	if (res.outcome >= OCC_OUT_CONFLICT)
		occ_raise(r.t, r.keys, &res.info);
	SPI_finish();
	table_close(r.rel, NoLock);
	PG_RETURN_JSONB_P(res.row);
}

/*
 * occ_update(tbl regclass, id "any", expected_version bigint, patch jsonb)
 *		Applies the patch if the row's version is expected_version.
 */
Datum
occ_update(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/*
 * occ_update_if_match(tbl regclass, id "any", if_match text, patch jsonb)
 *		Applies the patch if the row's ETag matches if_match.
 */
Datum
occ_update_if_match(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_UPDATE, OCC_COND_ETAG);
}

/*
 * occ_delete(tbl regclass, id "any", expected_version bigint)
 *		Deletes the row if its version is expected_version.
 */
Datum
occ_delete(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_DELETE, OCC_COND_VERSION);
}

/*
 * occ_delete_if_match(tbl regclass, id "any", if_match text)
 *		Deletes the row if its ETag matches if_match.
 */
Datum
occ_delete_if_match(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_conditional, fcinfo, OCC_KIND_DELETE, OCC_COND_ETAG);
}

/*
 * occ_try_update(tbl regclass, id "any", expected_version bigint, patch jsonb)
 *		occ_update that reports a conflict or a missing row in its result
 *		instead of raising: {"status", "row", "current_version",
 *		"conflicting_fields"}.
 */
Datum
occ_try_update(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_try_update_work, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/* The work of occ_try_update(). */
static Datum
occ_try_update_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	static const char *const status[] = {
		[OCC_OUT_UPDATED] = "updated",
		[OCC_OUT_MERGED] = "merged",
		[OCC_OUT_UNCHANGED] = "unchanged",
		[OCC_OUT_DELETED] = "deleted",
		[OCC_OUT_CONFLICT] = "conflict",
		[OCC_OUT_ETAG_MISMATCH] = "conflict",
		[OCC_OUT_NOT_FOUND] = "not_found",
	};
	OccRequest	r;
	OccResult	res;
	StringInfoData out;
	Datum		result;

	occ_read_request(fcinfo, &r, OCC_KIND_UPDATE, OCC_COND_VERSION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	occ_run_guarded(&r, &res);
	occ_count(&r, &res);

	/* the field lists live in SPI's memory: build the result before leaving it */
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"status\":");
	escape_json(&out, status[res.outcome]);
	appendStringInfoString(&out, ",\"row\":");
	if (res.row)
		appendStringInfoString(&out, JsonbToCString(NULL, &res.row->root,
													VARSIZE(res.row)));
	else
		appendStringInfoString(&out, "null");
	appendStringInfoString(&out, ",\"current_version\":");
	if (res.row)
		appendStringInfo(&out, INT64_FORMAT, occ_row_version(r.t, res.row));
	else
		appendStringInfoString(&out, "null");
	appendStringInfoString(&out, ",\"conflicting_fields\":");
	if (res.outcome == OCC_OUT_CONFLICT && !res.info.has_fields)
		appendStringInfoString(&out, "null");	/* row granularity: not known */
	else
		occ_names_json(&out, res.info.conflicting_fields);
	if (res.info.moved)
		appendStringInfoString(&out, ",\"moved\":true");
	if (res.info.has_fields)
	{
		appendStringInfoString(&out, ",\"changed_fields\":");
		occ_names_json(&out, res.info.changed_fields);
	}
	appendStringInfoChar(&out, '}');
	result = SPI_datumTransfer(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)),
							   false, -1);
	SPI_finish();
	table_close(r.rel, NoLock);
	PG_RETURN_DATUM(result);
}

/* One item of an occ_update_many batch. */
typedef struct OccBatchItem
{
	int			index;			/* position in the input array */
	Datum		keys[INDEX_MAX_KEYS];
	int64		version;
	Jsonb	   *patch;
	Jsonb	   *result;
	bool		moved;			/* moved to another partition while we waited */
} OccBatchItem;

static FmgrInfo *occ_sort_procs;
static Oid *occ_sort_collations;
static int	occ_sort_nkeys;

/* Orders batch items by key, as the primary key's index does. */
static int
occ_batch_cmp(const void *a, const void *b)
{
	const OccBatchItem *x = *(OccBatchItem * const *) a;
	const OccBatchItem *y = *(OccBatchItem * const *) b;

	for (int i = 0; i < occ_sort_nkeys; i++)
	{
		int32		c = DatumGetInt32(FunctionCall2Coll(&occ_sort_procs[i],
														occ_sort_collations[i],
														x->keys[i], y->keys[i]));

		if (c != 0)
			return c;
	}
	return 0;
}

/* Sorts batch items into key order (the order rows are locked in). */
static void
occ_sort_batch(OccRequest *r, OccBatchItem **items, int n)
{
	Relation	idx = index_open(r->rel->rd_pkindex, AccessShareLock);
	OccTable   *t = r->t;

	occ_sort_nkeys = t->nkeys;
	occ_sort_procs = palloc(t->nkeys * sizeof(FmgrInfo));
	occ_sort_collations = palloc(t->nkeys * sizeof(Oid));
	for (int i = 0; i < t->nkeys; i++)
	{
		fmgr_info(index_getprocid(idx, i + 1, BTORDER_PROC), &occ_sort_procs[i]);
		occ_sort_collations[i] = idx->rd_indcollation[i];
	}
	index_close(idx, AccessShareLock);
	qsort(items, n, sizeof(OccBatchItem *), occ_batch_cmp);
	for (int i = 1; i < n; i++)
		if (occ_batch_cmp(&items[i - 1], &items[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("changes name the same row more than once"),
					 errdetail("Items %d and %d have the same key.",
							   Min(items[i - 1]->index, items[i]->index),
							   Max(items[i - 1]->index, items[i]->index))));
}

/* Reads one item of the changes array. */
static OccBatchItem *
occ_read_batch_item(OccRequest *r, JsonbValue *v, int index)
{
	OccBatchItem *item = palloc0(sizeof(OccBatchItem));
	JsonbContainer *c;
	JsonbValue *id;
	JsonbValue *ver;
	JsonbValue *patch;

	item->index = index;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %d of changes must be a JSON object", index),
				 errhint("Each item is {\"id\": ..., \"version\": ..., \"patch\": {...}}.")));
	c = v->val.binary.data;
	id = occ_json_member(c, "id", 2);
	ver = occ_json_member(c, "version", 7);
	patch = occ_json_member(c, "patch", 5);
	if (id == NULL || ver == NULL || patch == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %d of changes must have \"id\", \"version\" and \"patch\"", index)));
	if (id->type == jbvNull || ver->type == jbvNull || patch->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item %d of changes has a null \"id\", \"version\" or \"patch\"", index)));
	if (ver->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"version\" of item %d of changes must be a number", index)));
	item->version = DatumGetInt64(DirectFunctionCall1(numeric_int8,
													  NumericGetDatum(ver->val.numeric)));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(ver->val.numeric),
										  NumericGetDatum(occ_int64_to_numeric(item->version)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"version\" of item %d of changes must be an integer", index)));
	occ_keys_from_json(r->t, id, item->keys);
	item->patch = JsonbValueToJsonb(patch);
	return item;
}

/* Locks the rows of a batch in key order; *at: the item being locked. */
static void
occ_lock_rows(OccRequest *r, OccBatchItem **sorted, int n, int *at)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[INDEX_MAX_KEYS + 3];
		char		nulls[INDEX_MAX_KEYS + 3];

		*at = i;
		memcpy(r->keys, sorted[i]->keys, sizeof(r->keys));
		r->patch = NULL;
		r->typed = false;
		occ_fill_params(r, values, nulls);
		if (SPI_execute_plan(occ_probe_plan(r->t, true), values, nulls, false, 1) < 0)
			elog(ERROR, "occ: lock failed");
	}
}

/*
 * Locks every row of a batch in key order, so that batches never deadlock
 * each other.  Where rows can move to another partition under it (see
 * occ_moves_possible()), in one subtransaction: if a row moved, the item is
 * marked as moved and the rows are locked again; its key now finds nothing.
 */
static void
occ_lock_batch(OccRequest *r, OccBatchItem **sorted, int n)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int at = -1;

	if (!occ_moves_possible(r))
	{
		occ_lock_rows(r, sorted, n, (int *) &at);
		return;
	}
	for (;;)
	{
		bool		moved = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(mcxt);
		PG_TRY();
		{
			occ_lock_rows(r, sorted, n, (int *) &at);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(mcxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			occ_catch_moved(mcxt, owner);
			moved = true;
		}
		PG_END_TRY();
		if (!moved)
			return;
		if (sorted[at]->moved)
			elog(ERROR, "occ: the row of batch item %d moved twice", sorted[at]->index);
		sorted[at]->moved = true;
	}
}

/*
 * occ_update_many(tbl regclass, changes jsonb) RETURNS SETOF jsonb
 *		Applies every change or none: rows are locked in key order, every
 *		failing item is reported in one error, and the new rows are returned
 *		in the order of the input.
 */
Datum
occ_update_many(PG_FUNCTION_ARGS)
{
	return occ_guarded(occ_update_many_work, fcinfo, OCC_KIND_UPDATE, OCC_COND_VERSION);
}

/* The work of occ_update_many(). */
static Datum
occ_update_many_work(FunctionCallInfo fcinfo, OccKind kind, OccCond cond)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OccRequest	r;
	Jsonb	   *changes;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	OccBatchItem **items;
	OccBatchItem **sorted;
	int			n = 0;
	char	  **failed;
	int			nfailed = 0;
	bool		any_conflict = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null",
						PG_ARGISNULL(0) ? "tbl" : "changes")));
	changes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(changes) || JB_ROOT_IS_SCALAR(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changes must be a JSON array"),
				 errhint("Each item is {\"id\": ..., \"version\": ..., \"patch\": {...}}.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	memset(&r, 0, sizeof(r));
	occ_open_request(&r, PG_GETARG_OID(0));

	items = palloc(Max(JB_ROOT_COUNT(changes), 1) * sizeof(OccBatchItem *));
	it = JsonbIteratorInit(&changes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
		{
			CHECK_FOR_INTERRUPTS();
			items[n] = occ_read_batch_item(&r, &v, n);
			r.patch = items[n]->patch;
			occ_patch_shape(&r);	/* checks the columns now, before any write */
			n++;
		}
	sorted = palloc(Max(n, 1) * sizeof(OccBatchItem *));
	memcpy(sorted, items, n * sizeof(OccBatchItem *));
	if (n > 1)
		occ_sort_batch(&r, sorted, n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	occ_lock_batch(&r, sorted, n);

	failed = palloc0(Max(n, 1) * sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		OccBatchItem *item = sorted[i];
		OccResult	res;
		StringInfoData f;

		CHECK_FOR_INTERRUPTS();
		memcpy(r.keys, item->keys, sizeof(r.keys));
		r.kind = OCC_KIND_UPDATE;
		r.cond = OCC_COND_VERSION;
		r.expected_version = item->version;
		r.patch = item->patch;
		occ_patch_shape(&r);
		if (r.ncols == 0)
			r.kind = OCC_KIND_CHECK;
		occ_run(&r, &res);
		if (res.outcome == OCC_OUT_NOT_FOUND && item->moved)
			res.info.moved = true;
		occ_count(&r, &res);
		if (res.outcome < OCC_OUT_CONFLICT)
		{
			item->result = res.row;
			continue;
		}
		any_conflict |= res.outcome == OCC_OUT_CONFLICT;
		nfailed++;
		initStringInfo(&f);
		occ_error_detail(&f, r.t, r.keys, &res.info, false);
		failed[item->index] = psprintf("{\"index\":%d,\"status\":\"%s\",%s",
									   item->index,
									   res.outcome == OCC_OUT_CONFLICT ? "conflict" : "not_found",
									   f.data + 1);
	}
	if (nfailed > 0)
	{
		OccErrorInfo info = {0};
		StringInfoData failures;

		/* every failing item, in the order of the input */
		initStringInfo(&failures);
		for (int i = 0; i < n; i++)
			if (failed[i])
				appendStringInfo(&failures, "%s%s", failures.len ? "," : "[", failed[i]);
		appendStringInfoChar(&failures, ']');
		info.sqlstate = any_conflict ? ERRCODE_OCC_CONFLICT : ERRCODE_OCC_NOT_FOUND;
		info.items_json = failures.data;
		info.nitems = nfailed;
		occ_raise(r.t, NULL, &info);
	}
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		Datum		value = JsonbPGetDatum(items[i]->result);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	table_close(r.rel, NoLock);
	return (Datum) 0;
}
