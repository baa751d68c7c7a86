/*
 * patch.c
 *		RFC 7396 JSON Merge Patch over jsonb: occ_merge_patch() for SQL, and
 *		the merge of a json/jsonb column's current document with the value a
 *		patch gives it.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"

#include "occ.h"

PG_FUNCTION_INFO_V1(occ_merge_patch);


/* Is v (as returned by the iterator or a lookup) a JSON object? */
static bool
occ_value_is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/*
 * Pushes the merge of target (an object container, or NULL for anything
 * that is not an object) with the object container patch.
 */
static JsonbValue *
occ_merge_push(JsonbParseState **state, JsonbContainer *target,
			   JsonbContainer *patch)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k = {0};
	JsonbValue	v = {0};

	check_stack_depth();
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);

	/* members of target that the patch does not name are kept */
	if (target)
	{
		it = JsonbIteratorInit(target);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			Assert(tok == WJB_VALUE);
			if (getKeyJsonValueFromContainer(patch, k.val.string.val,
											 k.val.string.len, NULL) != NULL)
				continue;
			pushJsonbValue(state, WJB_KEY, &k);
			pushJsonbValue(state, WJB_VALUE, &v);
		}
	}

	/* members of the patch: null removes, objects merge, the rest replace */
	it = JsonbIteratorInit(patch);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type == jbvNull)
			continue;
		pushJsonbValue(state, WJB_KEY, &k);
		if (occ_value_is_object(&v))
		{
			JsonbValue *old = NULL;

			if (target)
				old = getKeyJsonValueFromContainer(target, k.val.string.val,
												   k.val.string.len, NULL);
			occ_merge_push(state,
						   old && occ_value_is_object(old) ? old->val.binary.data : NULL,
						   v.val.binary.data);
		}
		else
			pushJsonbValue(state, WJB_VALUE, &v);
	}
	return pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * RFC 7396: the result of applying patch to target.  A NULL target counts
 * as JSON null.
 */
Jsonb *
occ_merge_jsonb(Jsonb *target, Jsonb *patch)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	if (!JB_ROOT_IS_OBJECT(patch))
		return patch;
	res = occ_merge_push(&state,
						 target && JB_ROOT_IS_OBJECT(target) ? &target->root : NULL,
						 &patch->root);
	return JsonbValueToJsonb(res);
}

/*
 * occ_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
 *		RFC 7396 JSON Merge Patch; a NULL target counts as JSON null, a NULL
 *		patch gives NULL.
 */
Datum
occ_merge_patch(PG_FUNCTION_ARGS)
{
	Jsonb	   *target = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(occ_merge_jsonb(target, PG_GETARG_JSONB_P(1)));
}
