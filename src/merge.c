/*
 * merge.c
 *		Field granularity in the conditional functions: whether a patch
 *		written against an older version can still be applied, because no
 *		field it sets changed since (and which fields conflict if not).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

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
void
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
