/*
 * fields.c
 *		Field granularity: the version at which each column, and each
 *		top-level member of a json/jsonb column, last changed.  The trigger
 *		keeps it per row in an ordinary jsonb column (field_versions), so it
 *		survives dump/restore and replication like any other data:
 *
 *		{"b": base, "c": {column: v}, "w": {column: v}, "m": {column: {member: v}}}
 *
 * "b" is the version at which tracking began (anything not listed last
 * changed at or before it), "c" the last change of each column, "w" the
 * last time a json column was replaced as a whole (not member by member),
 * "m" the last change of each member since then.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

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

/* The object container a value holds, or NULL. */
static JsonbContainer *
occ_object(JsonbValue *v)
{
	if (v && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
		return v->val.binary.data;
	return NULL;
}

/* A version stored as a JSON number; -1 if v is not one. */
static int64
occ_version_of(JsonbValue *v)
{
	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/* The base version of fv; PG_INT64_MAX (changed at an unknown time) if none. */
static int64
occ_fields_base(Jsonb *fv)
{
	int64		b;

	if (fv == NULL || !JB_ROOT_IS_OBJECT(fv))
		return PG_INT64_MAX;
	b = occ_version_of(occ_json_member(&fv->root, "b", 1));
	return b < 0 ? PG_INT64_MAX : b;
}

/*
 * The latest change recorded under a name that is no longer a column of
 * desc (a column renamed or dropped since): a column occ has no record of
 * may be that one under a new name, so it may have changed then.  -1 if
 * there is none.
 */
int64
occ_fields_orphan_version(Jsonb *fv, TupleDesc desc)
{
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;
	int64		orphan = -1;

	if (fv == NULL || !JB_ROOT_IS_OBJECT(fv) ||
		(c = occ_object(occ_json_member(&fv->root, "c", 1))) == NULL)
		return -1;
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		bool		live = false;

		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		for (int i = 0; i < desc->natts && !live; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			live = !att->attisdropped &&
				strlen(NameStr(att->attname)) == k.val.string.len &&
				memcmp(NameStr(att->attname), k.val.string.val, k.val.string.len) == 0;
		}
		if (!live)
			orphan = Max(orphan, occ_version_of(&v));
	}
	return orphan;
}

/*
 * The version at which column col last changed; orphan is what
 * occ_fields_orphan_version() gave, for a column with no record of its own.
 */
int64
occ_fields_column_version(Jsonb *fv, const char *col, int64 orphan)
{
	int64		v;

	if (fv == NULL || !JB_ROOT_IS_OBJECT(fv))
		return PG_INT64_MAX;
	v = occ_version_of(occ_json_member(occ_object(occ_json_member(&fv->root, "c", 1)),
							   col, strlen(col)));
	return v >= 0 ? v : Max(occ_fields_base(fv), orphan);
}

/* The version at which member of json column col last changed. */
int64
occ_fields_member_version(Jsonb *fv, const char *col, const char *member,
						  int memberlen, int64 orphan)
{
	int64		v;
	int			collen = strlen(col);

	if (fv == NULL || !JB_ROOT_IS_OBJECT(fv))
		return PG_INT64_MAX;
	if (occ_json_member(occ_object(occ_json_member(&fv->root, "c", 1)), col, collen) == NULL)
		return Max(occ_fields_base(fv), orphan);	/* never changed under this name */
	v = occ_version_of(occ_json_member(occ_object(occ_json_member(occ_object(occ_json_member(&fv->root, "m", 1)),
												  col, collen)),
							   member, memberlen));
	if (v >= 0)
		return v;
	v = occ_version_of(occ_json_member(occ_object(occ_json_member(&fv->root, "w", 1)), col, collen));
	return v >= 0 ? v : occ_fields_base(fv);
}

/* Pushes "key": version. */
static void
occ_push_version(JsonbParseState **st, const char *key, int len, int64 version)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = len;
	v.type = jbvNumeric;
	v.val.numeric = occ_int64_to_numeric(version);
	pushJsonbValue(st, WJB_KEY, &k);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* Pushes a key. */
static void
occ_push_key(JsonbParseState **st, const char *key, int len)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = len;
	pushJsonbValue(st, WJB_KEY, &k);
}

/* Pushes every pair of an object container, unless skip names the key. */
static void
occ_push_pairs(JsonbParseState **st, JsonbContainer *c, List *skip)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;

	if (c == NULL)
		return;
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		ListCell   *lc;
		bool		skipped = false;

		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		foreach(lc, skip)
		{
			const char *s = lfirst(lc);

			if (strlen(s) == k.val.string.len &&
				memcmp(s, k.val.string.val, k.val.string.len) == 0)
				skipped = true;
		}
		if (skipped)
			continue;
		pushJsonbValue(st, WJB_KEY, &k);
		pushJsonbValue(st, WJB_VALUE, &v);
	}
}

/*
 * Pushes "key": {every pair of old (may be NULL) whose key is not in names,
 * then each of names with version}.
 */
static void
occ_push_versions(JsonbParseState **st, const char *key, int len, JsonbContainer *old,
				  List *names, int64 version)
{
	ListCell   *lc;

	occ_push_key(st, key, len);
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	occ_push_pairs(st, old, names);
	foreach(lc, names)
		occ_push_version(st, lfirst(lc), strlen(lfirst(lc)), version);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* The field versions of a new row: tracking begins at base. */
Jsonb *
occ_fields_initial(int64 base)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	occ_push_version(&st, "b", 1, base);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Adds to *members the top-level members that differ between two objects. */
static List *
occ_member_diff(Jsonb *o, Jsonb *n)
{
	List	   *members = NIL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;

	it = JsonbIteratorInit(&o->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		if (!occ_jsonb_values_equal(&v, occ_json_member(&n->root, k.val.string.val,
												k.val.string.len)))
			members = lappend(members, pnstrdup(k.val.string.val, k.val.string.len));
	}
	it = JsonbIteratorInit(&n->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		if (occ_json_member(&o->root, k.val.string.val, k.val.string.len) == NULL)
			members = lappend(members, pnstrdup(k.val.string.val, k.val.string.len));
	}
	return members;
}

/*
 * The field versions after an update to newver that changed the columns
 * flagged in changed[] (indexed like desc).  oldfv may be NULL (tracking
 * begins at base).
 */
Jsonb *
occ_fields_after_update(OccTable *t, TupleDesc desc, Jsonb *oldfv,
						int64 base, int64 newver,
						Datum *ov, bool *on, Datum *nv, bool *nn, bool *changed)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	List	   *changed_cols = NIL;
	List	   *wholesale = NIL;
	List	   *member_cols = NIL;
	List	   *member_lists = NIL;
	JsonbContainer *root = NULL;
	JsonbContainer *oc;
	JsonbContainer *ow;
	JsonbContainer *om;
	ListCell   *lc;
	ListCell   *lc2;

	if (oldfv && JB_ROOT_IS_OBJECT(oldfv))
	{
		root = &oldfv->root;
		base = occ_fields_base(oldfv);
	}
	oc = occ_object(occ_json_member(root, "c", 1));
	ow = occ_object(occ_json_member(root, "w", 1));
	om = occ_object(occ_json_member(root, "m", 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *name = NameStr(att->attname);

		if (!changed[i])
			continue;
		changed_cols = lappend(changed_cols, name);
		if (!occ_is_json_type(att->atttypid))
			continue;
		{
			Jsonb	   *oj = on[i] ? NULL : occ_datum_as_jsonb(att->atttypid, ov[i]);
			Jsonb	   *nj = nn[i] ? NULL : occ_datum_as_jsonb(att->atttypid, nv[i]);

			if (oj && nj && JB_ROOT_IS_OBJECT(oj) && JB_ROOT_IS_OBJECT(nj))
			{
				member_cols = lappend(member_cols, name);
				member_lists = lappend(member_lists, occ_member_diff(oj, nj));
			}
			else
				wholesale = lappend(wholesale, name);
		}
	}

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	occ_push_version(&st, "b", 1, base);

	occ_push_versions(&st, "c", 1, oc, changed_cols, newver);
	if (ow || wholesale)
		occ_push_versions(&st, "w", 1, ow, wholesale, newver);

	if (om || member_cols)
	{
		JsonbIterator *it;
		JsonbIteratorToken tok;
		JsonbValue	k;
		JsonbValue	v;

		occ_push_key(&st, "m", 1);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		/* columns already tracked member by member */
		if (om)
		{
			it = JsonbIteratorInit(om);
			while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
			{
				char	   *col;
				List	   *members = NIL;
				bool		reset = false;

				if (tok != WJB_KEY)
					continue;
				JsonbIteratorNext(&it, &v, true);
				col = pnstrdup(k.val.string.val, k.val.string.len);
				foreach(lc, wholesale)
					if (strcmp(lfirst(lc), col) == 0)
						reset = true;
				if (reset)
					continue;
				forboth(lc, member_cols, lc2, member_lists)
					if (strcmp(lfirst(lc), col) == 0)
						members = lfirst(lc2);
				occ_push_versions(&st, k.val.string.val, k.val.string.len,
								  occ_object(&v), members, newver);
			}
		}
		/* columns changed member by member for the first time */
		forboth(lc, member_cols, lc2, member_lists)
		{
			const char *col = lfirst(lc);

			if (occ_json_member(om, col, strlen(col)) != NULL || lfirst(lc2) == NIL)
				continue;
			occ_push_versions(&st, col, strlen(col), NULL, lfirst(lc2), newver);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}
