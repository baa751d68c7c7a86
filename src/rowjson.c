/*
 * rowjson.c
 *		Rows and values as JSON: a returned row as jsonb, exactly as
 *		to_jsonb(row) makes it but without its per-call type lookups, and the
 *		small jsonb helpers the other files share.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "access/htup_details.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"

#include "occ.h"
#include "compat.h"

/* Is the type (or its domain's base type) json or jsonb? */
bool
occ_is_json_type(Oid typid)
{
	Oid			base = getBaseType(typid);

	return base == JSONOID || base == JSONBOID;
}

/* A json or jsonb value as jsonb. */
Jsonb *
occ_datum_as_jsonb(Oid typid, Datum d)
{
	if (getBaseType(typid) == JSONBOID)
		return DatumGetJsonbP(d);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(TextDatumGetCString(d))));
}

/* Are two JSON values (scalars or containers) equal? NULL pointers mean absent. */
bool
occ_jsonb_values_equal(JsonbValue *a, JsonbValue *b)
{
	Jsonb	   *ja;
	Jsonb	   *jb;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->type == jbvBinary && b->type == jbvBinary)
		return compareJsonbContainers(a->val.binary.data, b->val.binary.data) == 0;
	ja = JsonbValueToJsonb(a);
	jb = JsonbValueToJsonb(b);
	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/* Member key of an object container, or NULL (also when c is no object). */
JsonbValue *
occ_json_member(JsonbContainer *c, const char *key, int len)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, len, NULL);
}

/*
 * The text of a JSON scalar, as jsonb_populate_record() hands it to a type's
 * input function; NULL for JSON null, an array or an object.
 */
char *
occ_json_scalar_text(JsonbValue *v)
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
		default:
			return NULL;
	}
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
			v->val.numeric = int64_to_numeric(typid == INT2OID ? DatumGetInt16(d) :
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

/* Pushes an object member's key. */
void
occ_push_key(JsonbParseState **st, const char *key, int len)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = len;
	pushJsonbValue(st, WJB_KEY, &k);
}

/* Pushes a list of names as a JSON array (an element or a member's value). */
void
occ_push_names(JsonbParseState **st, List *names)
{
	ListCell   *lc;

	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, names)
	{
		JsonbValue	v;

		CHECK_FOR_INTERRUPTS();	/* names of members: as many as a patch has */
		v.type = jbvString;
		v.val.string.val = (char *) lfirst(lc);
		v.val.string.len = strlen(v.val.string.val);
		pushJsonbValue(st, WJB_ELEM, &v);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* The row as jsonb, exactly as to_jsonb(row) makes it. */
Jsonb *
occ_row_to_jsonb(OccTable *t, HeapTuple tup, TupleDesc desc)
{
	return occ_columns_to_jsonb(t, tup, desc, NULL);
}

/*
 * Some columns of a row (those flagged in only, indexed like desc; all when
 * only is NULL) as jsonb, each as to_jsonb(row) renders it.
 */
Jsonb *
occ_columns_to_jsonb(OccTable *t, HeapTuple tup, TupleDesc desc, const bool *only)
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
		JsonbValue	v;
		bool		isnull;
		Datum		d;

		if (TupleDescAttr(desc, i)->attisdropped || (only && !only[i]))
			continue;
		occ_push_key(&st, c->name, c->namelen);

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
