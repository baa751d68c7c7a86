/*
 * fields.c
 *		Field granularity: the version at which each column, and each
 *		top-level member of a json/jsonb column, last changed.  The trigger
 *		keeps it per row in an ordinary jsonb column (field_versions), so it
 *		survives dump/restore and replication like any other data:
 *
 *		{"b": base, "c": {column: v}, "w": {column: v}, "m": {column: {member: v}},
 *		 "d": {column: v}}
 *
 * "b" is the version at which tracking began (anything not listed last
 * changed at or before it), "c" the last change of each column, "w" the
 * last time a json column was replaced as a whole (not member by member),
 * "m" the last change of each member since then, "d" the last change of a
 * member that is gone from the document: its name is forgotten, so that
 * the field versions never outgrow the row, and every member without a
 * record of its own counts as changed then.
 *
 * Both sides of a jsonb object are sorted (by length, then bytes), so
 * documents are compared and records merged in one pass over each.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "occ.h"
#include "compat.h"

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

		CHECK_FOR_INTERRUPTS();
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
	v = Max(occ_version_of(occ_json_member(occ_object(occ_json_member(&fv->root, "w", 1)), col, collen)),
			occ_version_of(occ_json_member(occ_object(occ_json_member(&fv->root, "d", 1)), col, collen)));
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
	v.val.numeric = int64_to_numeric(version);
	pushJsonbValue(st, WJB_KEY, &k);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* Orders two object keys as jsonb stores them: by length, then bytes. */
static int
occ_key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* A member or column name. */
typedef struct OccName
{
	const char *s;
	int			len;
} OccName;

/* qsort comparator of OccName, in key order. */
static int
occ_name_cmp(const void *a, const void *b)
{
	const OccName *x = a;
	const OccName *y = b;

	return occ_key_cmp(x->s, x->len, y->s, y->len);
}

/* The names of a list of C strings, in key order. */
static OccName *
occ_sorted_names(List *names, int *n)
{
	OccName    *out = palloc(Max(list_length(names), 1) * sizeof(OccName));
	ListCell   *lc;

	*n = 0;
	foreach(lc, names)
	{
		out[*n].s = lfirst(lc);
		out[*n].len = strlen(lfirst(lc));
		(*n)++;
	}
	qsort(out, *n, sizeof(OccName), occ_name_cmp);
	return out;
}

/* A walk over the pairs of an object container, in key order. */
typedef struct OccPairs
{
	JsonbIterator *it;
	bool		more;			/* k and v hold a pair */
	JsonbValue	k;
	JsonbValue	v;
} OccPairs;

/* Moves to the next pair. */
static void
occ_pairs_next(OccPairs *p)
{
	CHECK_FOR_INTERRUPTS();
	while (p->more)
	{
		JsonbIteratorToken tok = JsonbIteratorNext(&p->it, &p->k, true);

		if (tok == WJB_DONE)
			p->more = false;
		else if (tok == WJB_KEY)
		{
			JsonbIteratorNext(&p->it, &p->v, true);
			return;
		}
	}
}

/* Starts a walk over c (NULL: no pairs). */
static void
occ_pairs_init(OccPairs *p, JsonbContainer *c)
{
	p->more = c != NULL;
	p->it = c ? JsonbIteratorInit(c) : NULL;
	occ_pairs_next(p);
}

/* Compares the walk's current key with a name (the walk must have a pair). */
static int
occ_pairs_cmp(OccPairs *p, const char *s, int len)
{
	return occ_key_cmp(p->k.val.string.val, p->k.val.string.len, s, len);
}

/* Moves on to name, given in key order; is it a key of the container? */
static bool
occ_pairs_seek(OccPairs *p, const char *s, int len)
{
	while (p->more && occ_pairs_cmp(p, s, len) < 0)
		occ_pairs_next(p);
	return p->more && occ_pairs_cmp(p, s, len) == 0;
}

/*
 * Pushes "key": {the pairs of old (may be NULL), with each of names (in key
 * order) set to version}.  With keep given, only names that are keys of
 * keep stay, and *dropped becomes the latest version of those left out.
 */
static void
occ_push_versions(JsonbParseState **st, const char *key, int len, JsonbContainer *old,
				  OccName *names, int n, int64 version,
				  JsonbContainer *keep, int64 *dropped)
{
	OccPairs	o;
	OccPairs	kp;
	JsonbValue	newv;
	int			i = 0;

	newv.type = jbvNumeric;
	newv.val.numeric = int64_to_numeric(version);
	occ_push_key(st, key, len);
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	occ_pairs_init(&o, old);
	if (keep)
		occ_pairs_init(&kp, keep);
	while (o.more || i < n)
	{
		int			c = !o.more ? 1 : i == n ? -1 :
			occ_pairs_cmp(&o, names[i].s, names[i].len);
		JsonbValue	k;
		JsonbValue	v;

		if (c <= 0)
		{
			k = o.k;
			v = o.v;
		}
		else
		{
			k.type = jbvString;
			k.val.string.val = (char *) names[i].s;
			k.val.string.len = names[i].len;
		}
		if (c >= 0)
		{
			v = newv;
			i++;
		}
		if (keep == NULL || occ_pairs_seek(&kp, k.val.string.val, k.val.string.len))
		{
			pushJsonbValue(st, WJB_KEY, &k);
			pushJsonbValue(st, WJB_VALUE, &v);
		}
		else
			*dropped = Max(*dropped, c >= 0 ? version : occ_version_of(&v));
		if (c <= 0)
			occ_pairs_next(&o);
	}
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

/* A json column changed member by member in one update. */
typedef struct OccMemberChange
{
	const char *col;
	OccName    *names;			/* members that differ, in key order */
	int			n;
	JsonbContainer *doc;		/* the new document */
	int64		dropped;		/* latest change of a member gone from doc, or -1 */
} OccMemberChange;

/*
 * The top-level members that differ between two objects (added, removed or
 * changed), in key order: one pass over both, as both are sorted.
 */
static OccMemberChange *
occ_member_diff(const char *col, Jsonb *o, Jsonb *n)
{
	OccMemberChange *mc = palloc0(sizeof(OccMemberChange));
	OccPairs	a;
	OccPairs	b;

	mc->col = col;
	mc->doc = &n->root;
	mc->dropped = -1;
	mc->names = palloc(Max(JB_ROOT_COUNT(o) + JB_ROOT_COUNT(n), 1) * sizeof(OccName));
	occ_pairs_init(&a, &o->root);
	occ_pairs_init(&b, &n->root);
	while (a.more || b.more)
	{
		int			c = !a.more ? 1 : !b.more ? -1 :
			occ_pairs_cmp(&a, b.k.val.string.val, b.k.val.string.len);
		OccPairs   *from = c <= 0 ? &a : &b;

		if (c != 0 || !occ_jsonb_values_equal(&a.v, &b.v))
		{
			mc->names[mc->n].s = from->k.val.string.val;
			mc->names[mc->n].len = from->k.val.string.len;
			mc->n++;
		}
		if (c <= 0)
			occ_pairs_next(&a);
		if (c >= 0)
			occ_pairs_next(&b);
	}
	return mc;
}

/* The member change of column col (given as a key), or NULL. */
static OccMemberChange *
occ_find_member_change(List *changes, const char *col, int len)
{
	ListCell   *lc;

	foreach(lc, changes)
	{
		OccMemberChange *mc = lfirst(lc);

		if (strlen(mc->col) == len && memcmp(mc->col, col, len) == 0)
			return mc;
	}
	return NULL;
}

/* Is the key one of the column names in list? */
static bool
occ_key_in_list(List *list, const char *key, int len)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strlen(lfirst(lc)) == len && memcmp(lfirst(lc), key, len) == 0)
			return true;
	return false;
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
	List	   *member_changes = NIL;
	JsonbContainer *root = NULL;
	JsonbContainer *oc;
	JsonbContainer *ow;
	JsonbContainer *om;
	JsonbContainer *od;
	OccName    *names;
	int			n;
	bool		any_dropped = false;
	ListCell   *lc;

	if (oldfv && JB_ROOT_IS_OBJECT(oldfv))
	{
		root = &oldfv->root;
		base = occ_fields_base(oldfv);
	}
	oc = occ_object(occ_json_member(root, "c", 1));
	ow = occ_object(occ_json_member(root, "w", 1));
	om = occ_object(occ_json_member(root, "m", 1));
	od = occ_object(occ_json_member(root, "d", 1));

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
				member_changes = lappend(member_changes, occ_member_diff(name, oj, nj));
			else
				wholesale = lappend(wholesale, name);
		}
	}

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	occ_push_version(&st, "b", 1, base);

	names = occ_sorted_names(changed_cols, &n);
	occ_push_versions(&st, "c", 1, oc, names, n, newver, NULL, NULL);
	if (ow || wholesale)
	{
		names = occ_sorted_names(wholesale, &n);
		occ_push_versions(&st, "w", 1, ow, names, n, newver, NULL, NULL);
	}

	if (om || member_changes)
	{
		OccPairs	p;

		occ_push_key(&st, "m", 1);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		/* columns already tracked member by member: a wholesale change resets */
		for (occ_pairs_init(&p, om); p.more; occ_pairs_next(&p))
		{
			OccMemberChange *mc;

			if (occ_key_in_list(wholesale, p.k.val.string.val, p.k.val.string.len))
				continue;
			mc = occ_find_member_change(member_changes, p.k.val.string.val,
										p.k.val.string.len);
			if (mc == NULL)
			{
				pushJsonbValue(&st, WJB_KEY, &p.k);
				pushJsonbValue(&st, WJB_VALUE, &p.v);
				continue;
			}
			occ_push_versions(&st, p.k.val.string.val, p.k.val.string.len,
							  occ_object(&p.v), mc->names, mc->n, newver,
							  mc->doc, &mc->dropped);
		}
		/* columns changed member by member for the first time */
		foreach(lc, member_changes)
		{
			OccMemberChange *mc = lfirst(lc);

			if (occ_json_member(om, mc->col, strlen(mc->col)) != NULL || mc->n == 0)
				continue;
			occ_push_versions(&st, mc->col, strlen(mc->col), NULL, mc->names, mc->n,
							  newver, mc->doc, &mc->dropped);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}

	/* forgotten members: the latest change of one, per column */
	foreach(lc, member_changes)
		any_dropped |= ((OccMemberChange *) lfirst(lc))->dropped >= 0;
	if (od || any_dropped)
	{
		OccPairs	p;

		occ_push_key(&st, "d", 1);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		for (occ_pairs_init(&p, od); p.more; occ_pairs_next(&p))
		{
			OccMemberChange *mc;

			if (occ_key_in_list(wholesale, p.k.val.string.val, p.k.val.string.len))
				continue;
			mc = occ_find_member_change(member_changes, p.k.val.string.val,
										p.k.val.string.len);
			if (mc && mc->dropped >= 0)
			{
				mc->dropped = Max(mc->dropped, occ_version_of(&p.v));
				continue;		/* pushed below */
			}
			pushJsonbValue(&st, WJB_KEY, &p.k);
			pushJsonbValue(&st, WJB_VALUE, &p.v);
		}
		foreach(lc, member_changes)
		{
			OccMemberChange *mc = lfirst(lc);

			if (mc->dropped >= 0)
				occ_push_version(&st, mc->col, strlen(mc->col), mc->dropped);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}
