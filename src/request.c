/*
 * request.c
 *		Reading a conditional call's arguments: the id (a key value or a JSON
 *		object naming the key columns), the patch (its columns, its values
 *		converted to the columns' types) and an If-Match header.
 *
 * Values are converted exactly as jsonb_populate_record() would convert
 * them: scalars here, through the column type's input function, and passed
 * as typed parameters; an array or object for a column that is not json or
 * jsonb by jsonb_to_record() in the statement (plans.c).  json/jsonb columns
 * are merged with occ_merge_patch().
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

/* The conversion of column attnum of r's table, looked up on first use. */
OccColumnInput *
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
void
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
void
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
void
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
void
occ_open_request(OccRequest *r, Oid relid, LOCKMODE lockmode)
{
	r->rel = try_table_open(relid, lockmode);
	if (r->rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	r->t = occ_table_for_relation(r->rel, false);
	if (r->t->key_cond == NULL)
		occ_prepare_table_sql(r->t);
}

/* Opens the table named by argument 0 for reading and converts the id of argument 1. */
void
occ_read_id(FunctionCallInfo fcinfo, OccRequest *r)
{
	memset(r, 0, sizeof(*r));
	occ_open_request(r, PG_GETARG_OID(0), AccessShareLock);
	occ_convert_id(r->t, fcinfo, r->keys);
}

/* Checks and converts the arguments of the four single-row functions. */
void
occ_read_request(FunctionCallInfo fcinfo, OccRequest *r, OccKind kind, OccCond cond)
{
	int			nargs = kind == OCC_KIND_UPDATE ? 4 : 3;

	occ_check_not_null(fcinfo, nargs, cond);
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->cond = cond;
	occ_open_request(r, PG_GETARG_OID(0), RowExclusiveLock);
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
