/*
 * jsondiff.c
 *		Differences between JSON documents: the RFC 7396 merge patch that
 *		turns one document into another, and the paths (RFC 6901 JSON
 *		Pointers) where a three-way merge of base, theirs and ours conflicts.
 *
 * Objects are compared member by member; arrays and scalars are atomic, as
 * in RFC 7396.  A NULL JsonbValue pointer is an absent member, which is not
 * the same as a member holding JSON null.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"

#include "occ.h"

/* Is v a JSON object? */
static bool
occ_is_object(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsObject(v->val.binary.data);
}

/* A Jsonb document as a value (its root container). */
JsonbValue *
occ_jsonb_value(Jsonb *j)
{
	JsonbValue *v;

	if (j == NULL)
		return NULL;
	v = palloc(sizeof(JsonbValue));
	if (JB_ROOT_IS_SCALAR(j))
		JsonbExtractScalar(&j->root, v);
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = &j->root;
		v->val.binary.len = VARSIZE(j) - VARHDRSZ;
	}
	return v;
}

static void occ_diff_object(JsonbParseState **st, JsonbContainer *a, JsonbContainer *b);

/* Pushes the patch from a to b as a value: nested for two objects, else b (or null). */
void
occ_diff_push_value(JsonbParseState **st, JsonbValue *a, JsonbValue *b)
{
	JsonbValue	null = {0};

	if (occ_is_object(a) && occ_is_object(b))
	{
		pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
		occ_diff_object(st, a->val.binary.data, b->val.binary.data);
		pushJsonbValue(st, WJB_END_OBJECT, NULL);
		return;
	}
	if (b == NULL)
	{
		null.type = jbvNull;
		b = &null;
	}
	pushJsonbValue(st, WJB_VALUE, b);
}

/* Pushes the members of the merge patch from object a to object b. */
static void
occ_diff_object(JsonbParseState **st, JsonbContainer *a, JsonbContainer *b)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;
	JsonbValue	null = {0};

	check_stack_depth();
	null.type = jbvNull;
	/* members of a that b lacks: removed */
	it = JsonbIteratorInit(a);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		if (occ_json_member(b, k.val.string.val, k.val.string.len) == NULL)
		{
			pushJsonbValue(st, WJB_KEY, &k);
			pushJsonbValue(st, WJB_VALUE, &null);
		}
	}
	/* members of b that a lacks or holds otherwise: set */
	it = JsonbIteratorInit(b);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		JsonbValue *av;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &v, true);
		av = occ_json_member(a, k.val.string.val, k.val.string.len);
		if (av != NULL && occ_jsonb_values_equal(av, &v))
			continue;
		pushJsonbValue(st, WJB_KEY, &k);
		occ_diff_push_value(st, av, &v);
	}
}

/*
 * The RFC 7396 merge patch that turns document a into document b: applied
 * to a with occ_merge_patch() it gives b (as far as a merge patch can say
 * it: a member set to JSON null cannot be).  Two objects give an object of
 * the members that differ ({} when none); otherwise b itself.
 */
Jsonb *
occ_json_diff(Jsonb *a, Jsonb *b)
{
	JsonbParseState *st = NULL;
	JsonbValue *av = occ_jsonb_value(a);
	JsonbValue *bv = occ_jsonb_value(b);
	JsonbValue	null = {0};

	if (occ_is_object(av) && occ_is_object(bv))
	{
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		occ_diff_object(&st, av->val.binary.data, bv->val.binary.data);
		return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	}
	if (bv == NULL)
	{
		null.type = jbvNull;
		bv = &null;
	}
	return JsonbValueToJsonb(bv);
}

/* Appends "/" and one object key, escaped as RFC 6901 says (~ as ~0, / as ~1). */
void
occ_pointer_append(StringInfo path, const char *key, int len)
{
	appendStringInfoChar(path, '/');
	for (int i = 0; i < len; i++)
	{
		if (key[i] == '~')
			appendStringInfoString(path, "~0");
		else if (key[i] == '/')
			appendStringInfoString(path, "~1");
		else
			appendStringInfoChar(path, key[i]);
	}
}

/* Recurses into member k (of ours, or of base when ours lacks it). */
static void
occ_merge3_member(JsonbValue *base, JsonbValue *theirs, JsonbValue *ours,
				  JsonbValue *k, StringInfo path, List **conflicts)
{
	int			len = path->len;

	occ_pointer_append(path, k->val.string.val, k->val.string.len);
	occ_merge3_conflicts(occ_json_member(base->val.binary.data, k->val.string.val,
										 k->val.string.len),
						 occ_json_member(theirs->val.binary.data, k->val.string.val,
										 k->val.string.len),
						 occ_json_member(ours->val.binary.data, k->val.string.val,
										 k->val.string.len),
						 true, path, conflicts);
	path->len = len;
	path->data[len] = '\0';
}

/*
 * Three-way merge of one value: base is what the client read, theirs what
 * is there now, ours base with the client's patch.  A value only one side
 * changed takes that side's; both changed alike converges; both changed
 * otherwise conflicts, and the value's path (path, a JSON Pointer) is added
 * to *conflicts.  With deep, three objects are merged member by member.
 */
void
occ_merge3_conflicts(JsonbValue *base, JsonbValue *theirs, JsonbValue *ours,
					 bool deep, StringInfo path, List **conflicts)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (occ_jsonb_values_equal(ours, base) || occ_jsonb_values_equal(theirs, base) ||
		occ_jsonb_values_equal(theirs, ours))
		return;
	if (!deep || !occ_is_object(base) || !occ_is_object(theirs) || !occ_is_object(ours))
	{
		*conflicts = lappend(*conflicts, pstrdup(path->data));
		return;
	}
	/* members ours has, then members ours removed */
	it = JsonbIteratorInit(ours->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			JsonbIteratorNext(&it, &v, true);
			occ_merge3_member(base, theirs, ours, &k, path, conflicts);
		}
	it = JsonbIteratorInit(base->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			JsonbIteratorNext(&it, &v, true);
			if (occ_json_member(ours->val.binary.data, k.val.string.val,
								k.val.string.len) == NULL)
				occ_merge3_member(base, theirs, ours, &k, path, conflicts);
		}
}
