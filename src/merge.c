/*
 * merge.c
 *		Stale updates in the conditional functions.  With field granularity:
 *		whether a patch written against an older version can still be
 *		applied, because no field it sets changed since (and which fields
 *		conflict if not).  With history: the three-way merge against the
 *		version the client read (jsondiff.c finds the conflicts).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"
#include "conditional.h"

/*
 * The patch's values converted to their columns' types, as JSON: what the
 * columns would hold (json/jsonb columns: the patch value itself).
 */
static Jsonb *
occ_converted_patch(OccRequest *r)
{
	OccKind		kind = r->kind;
	Jsonb	   *converted;

	r->kind = OCC_KIND_CONVERT;
	converted = occ_execute(r);
	r->kind = kind;
	return converted;
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
				converted = occ_converted_patch(r);
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

/* A member of a row as jsonb, JSON null for SQL NULL, or NULL when absent. */
static Jsonb *
occ_member_jsonb(JsonbValue *v)
{
	return v == NULL || v->type == jbvNull ? NULL : JsonbValueToJsonb(v);
}

/* Appends s to names unless it is NULL or there already. */
static List *
occ_add_distinct(List *names, const char *s)
{
	ListCell   *lc;

	if (s == NULL)
		return names;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return names;
	return lappend(names, pstrdup(s));
}

/* Sorts JSON Pointers (list_sort comparator). */
static int
occ_path_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
}

/*
 * Fills a conflict's history in info for a caller who may read every column:
 * the conflicting paths and their columns, the columns changed since the
 * client's version, who changed the row since and why, and (for
 * occ_try_update) the merge patch from the client's version to now.
 */
static void
occ_history_conflict(OccRequest *r, OccErrorInfo *info, List *conflicts,
					 List *records, Jsonb *base, Jsonb *current_row)
{
	TupleDesc	desc = RelationGetDescr(r->rel);
	ListCell   *lc;

	if (!occ_caller_may_select_row(r->t))
		return;
	info->has_history = true;
	info->has_fields = true;
	list_sort(conflicts, occ_path_cmp);
	info->conflicting_paths = conflicts;
	foreach(lc, records)
	{
		OccVersionRecord *rec = (OccVersionRecord *) lfirst(lc);

		if (rec->version <= r->expected_version)
			continue;
		info->changed_by = occ_add_distinct(info->changed_by, rec->changed_by);
		info->reasons = occ_add_distinct(info->reasons, rec->reason);
	}
	foreach(lc, conflicts)
	{
		const char *p = (char *) lfirst(lc);
		const char *end = strchr(p + 1, '/');
		StringInfoData col;

		/* the column: the pointer's first segment, unescaped */
		initStringInfo(&col);
		for (const char *c = p + 1; end ? c < end : *c; c++)
		{
			if (c[0] == '~' && (c[1] == '0' || c[1] == '1'))
				appendStringInfoChar(&col, *++c == '0' ? '~' : '/');
			else
				appendStringInfoChar(&col, *c);
		}
		info->conflicting_fields = occ_add_distinct(info->conflicting_fields, col.data);
	}
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped || occ_own_column(r->t, att->attnum))
			continue;
		if (!occ_jsonb_values_equal(occ_json_member(&base->root, name, strlen(name)),
									occ_json_member(&current_row->root, name, strlen(name))))
			info->changed_fields = lappend(info->changed_fields, pstrdup(name));
	}
	info->changes_since = occ_json_diff(base, current_row);
}

/*
 * History: a stale update whose version v is still kept is merged three
 * ways: base (the row at v), theirs (the current row, locked) and ours
 * (base with the patch).  Without conflicts, the part of the patch that
 * changes base is applied to the current row; with them, nothing is written
 * and res says where.  False when v's image is not kept: the caller goes on
 * as without history.  Called inside the request's SPI connection.
 */
bool
occ_history_merge(OccRequest *r, OccResult *res, Jsonb *current_row, int64 current)
{
	OccTable   *t = r->t;
	List	   *records = occ_history_records(t, r->keys, r->expected_version,
												 current_row, current);
	Jsonb	   *base = NULL;
	Jsonb	   *converted = NULL;
	List	   *conflicts = NIL;
	JsonbParseState *st = NULL;
	StringInfoData path;
	TupleDesc	desc = RelationGetDescr(r->rel);
	ListCell   *lc;
	int64		stale = r->expected_version;
	uint64		noops;
	Jsonb	   *row;

	foreach(lc, records)
	{
		OccVersionRecord *rec = (OccVersionRecord *) lfirst(lc);

		if (rec->version == stale && rec->row != NULL)
			base = rec->row;
	}
	if (base == NULL)
		return false;

	initStringInfo(&path);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < r->ncols; i++)
	{
		const char *name = NameStr(TupleDescAttr(desc, r->cols[i] - 1)->attname);
		int			len = strlen(name);
		bool		is_json = occ_column_input(r, r->cols[i])->is_json;
		JsonbValue *bv = occ_json_member(&base->root, name, len);
		JsonbValue *tv = occ_json_member(&current_row->root, name, len);
		JsonbValue *pv = occ_json_member(&r->patch->root, name, len);
		JsonbValue *ov;

		if (is_json)
			ov = occ_jsonb_value(occ_merge_jsonb(occ_member_jsonb(bv),
												 JsonbValueToJsonb(pv)));
		else
		{
			if (converted == NULL)
				converted = occ_converted_patch(r);
			ov = occ_json_member(&converted->root, name, len);
		}
		resetStringInfo(&path);
		occ_pointer_append(&path, name, len);
		occ_merge3_conflicts(bv, tv, ov, is_json, &path, &conflicts);
		if (occ_jsonb_values_equal(ov, bv) || occ_jsonb_values_equal(ov, tv))
			continue;			/* as the client read it, or as it already is */
		occ_push_key(&st, name, len);
		if (is_json)
			occ_diff_push_value(&st, bv, ov);
		else
			pushJsonbValue(&st, WJB_VALUE, pv);
	}
	if (conflicts != NIL)
	{
		occ_history_conflict(r, &res->info, conflicts, records, base, current_row);
		return true;
	}

	/* apply what the patch changes to the current row */
	r->patch = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	occ_patch_shape(r);
	if (r->ncols == 0)
		r->kind = OCC_KIND_CHECK;
	r->expected_version = current;
	noops = occ_noop_updates;
	row = occ_execute(r);
	r->expected_version = stale;
	if (row == NULL)
		return false;			/* cannot happen: the row is locked */
	memset(&res->info, 0, sizeof(res->info));
	res->row = row;
	res->outcome = r->kind == OCC_KIND_CHECK || occ_unchanged(t, row, current, noops) ?
		OCC_OUT_UNCHANGED : OCC_OUT_MERGED;
	return true;
}
