/*
 * errors.c
 *		The OC-class errors: a translatable MESSAGE naming table and key, a
 *		DETAIL of compact JSON for programs, a HINT, and the schema, table
 *		and column (the version column) diagnostic fields.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "occ.h"

/*
 * Appends one key value as JSON: numbers and booleans bare, the rest strings;
 * a domain as its base type, as to_jsonb() renders it.
 */
static void
occ_value_json(StringInfo buf, OccKeyColumn *k, Datum value)
{
	char	   *s = OidOutputFunctionCall(k->typoutput, value);

	switch (k->basetypid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
			appendStringInfoString(buf, s);
			return;
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			/* NaN and infinities are not JSON numbers */
			if (strspn(s, "0123456789.-+eE") == strlen(s))
			{
				appendStringInfoString(buf, s);
				return;
			}
			break;
		case BOOLOID:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			return;
		default:
			break;
	}
	escape_json(buf, s);
}

/* Appends the key as JSON: the value alone, or an object for a composite key. */
void
occ_key_json(StringInfo buf, OccTable *t, Datum *keys)
{
	if (t->nkeys == 1)
	{
		occ_value_json(buf, &t->keys[0], keys[0]);
		return;
	}
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < t->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, t->keys[i].name);
		appendStringInfoChar(buf, ':');
		occ_value_json(buf, &t->keys[i], keys[i]);
	}
	appendStringInfoChar(buf, '}');
}

/* A hash of a row's key (its JSON form), to recognise the same row again. */
uint32
occ_key_hash(OccTable *t, Datum *keys)
{
	StringInfoData buf;
	uint32		h;

	initStringInfo(&buf);
	occ_key_json(&buf, t, keys);
	h = hash_bytes((unsigned char *) buf.data, buf.len);
	pfree(buf.data);
	return h;
}

/* Appends a list of names as a JSON array. */
void
occ_names_json(StringInfo buf, List *names)
{
	ListCell   *lc;

	appendStringInfoChar(buf, '[');
	foreach(lc, names)
	{
		CHECK_FOR_INTERRUPTS();	/* names of members: as many as a patch has */
		if (lc != list_head(names))
			appendStringInfoChar(buf, ',');
		escape_json(buf, (char *) lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Appends "key": to a JSON object being written, after a comma unless it is
 * the object's first member.  The caller writes the braces.
 */
void
occ_json_key(StringInfo buf, const char *key)
{
	if (buf->len > 0 && buf->data[buf->len - 1] != '{')
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/* Appends "key": "value" (a JSON string) to an object being written. */
void
occ_json_string(StringInfo buf, const char *key, const char *value)
{
	occ_json_key(buf, key);
	escape_json(buf, value);
}

/* Appends "key": value (a JSON number) to an object being written. */
static void
occ_json_int(StringInfo buf, const char *key, int64 value)
{
	occ_json_key(buf, key);
	appendStringInfo(buf, INT64_FORMAT, value);
}

/*
 * Appends the members of the DETAIL object of an OC error (without "table"
 * when an enclosing object already names it); the caller writes the braces.
 * Never holds row data.
 */
void
occ_error_members(StringInfo buf, OccTable *t, Datum *keys, OccErrorInfo *info,
				  bool with_table)
{
	if (with_table)
		occ_json_string(buf, "table", t->display_name);
	if (!info->hide_key)
	{
		occ_json_key(buf, "key");
		occ_key_json(buf, t, keys);
	}
	if (info->sqlstate == ERRCODE_OCC_NOT_FOUND && info->moved)
	{
		occ_json_key(buf, "moved");
		appendStringInfoString(buf, "true");
	}
	if (info->has_version)
		occ_json_int(buf, "version", info->version);
	if (info->sqlstate == ERRCODE_OCC_GONE)
		occ_json_int(buf, "oldest_kept_version", info->oldest_kept_version);
	if (info->sqlstate == ERRCODE_OCC_NOT_FOUND && info->has_version && info->has_current)
		occ_json_int(buf, "current_version", info->current_version);
	if (info->sqlstate == ERRCODE_OCC_NOT_FOUND || info->sqlstate == ERRCODE_OCC_GONE)
		return;
	if (info->has_expected_version)
		occ_json_int(buf, "expected_version", info->expected_version);
	if (info->expected_etag)
		occ_json_string(buf, "expected_etag", info->expected_etag);
	if (info->has_current)
		occ_json_int(buf, "current_version", info->current_version);
	if (info->has_current && info->current_etag)
		occ_json_string(buf, "current_etag", info->current_etag);
	if (info->has_fields)
	{
		occ_json_key(buf, "changed_fields");
		occ_names_json(buf, info->changed_fields);
		occ_json_key(buf, "conflicting_fields");
		occ_names_json(buf, info->conflicting_fields);
	}
	if (info->has_history)
	{
		occ_json_key(buf, "conflicting_paths");
		occ_names_json(buf, info->conflicting_paths);
		occ_json_key(buf, "changed_by");
		occ_names_json(buf, info->changed_by);
		occ_json_key(buf, "reasons");
		occ_names_json(buf, info->reasons);
	}
}

/* Raises the OC-class error info describes, for the row of t with the given key. */
void
occ_raise(OccTable *t, Datum *keys, OccErrorInfo *info)
{
	StringInfoData key;
	StringInfoData detail;
	const char *hint = NULL;

	initStringInfo(&key);
	if (info->hide_key)
		;
	else if (info->items_json)
		appendStringInfo(&key, "%d %s of a batch", info->nitems,
						 info->nitems == 1 ? "item" : "items");
	else
		occ_key_json(&key, t, keys);

	initStringInfo(&detail);
	appendStringInfoChar(&detail, '{');
	if (info->items_json)
	{
		occ_json_string(&detail, "table", t->display_name);
		occ_json_key(&detail, "items");
		appendStringInfoString(&detail, info->items_json);
	}
	else
		occ_error_members(&detail, t, keys, info, true);
	appendStringInfoChar(&detail, '}');

	switch (info->sqlstate)
	{
		case ERRCODE_OCC_CONFLICT:
			hint = "Re-read the row and retry with its current version.";
			break;
		case ERRCODE_OCC_PRECONDITION_FAILED:
			hint = "Re-read the row and retry with its current ETag.";
			break;
		case ERRCODE_OCC_NOT_FOUND:
			hint = info->moved ?
				"A concurrent update moved the row to another partition, changing its key." :
				info->has_version ? "The row has not reached that version." :
				"The row does not exist, or row-level security hides it.";
			break;
		case ERRCODE_OCC_GONE:
			hint = "Keep more versions with occ_enable(..., history => N).";
			break;
		case ERRCODE_OCC_PRECONDITION_REQUIRED:
			hint = t->version_input == OCC_INPUT_NEXT ?
				"Assign the version column the version that was read plus one." :
				"Assign the version column the version that was read.";
			break;
		default:
			elog(ERROR, "unexpected occ error code");
	}

#define OCC_ERROR_FIELDS \
	errcode(info->sqlstate), \
	errdetail_internal("%s", detail.data), \
	errhint("%s", hint), \
	err_generic_string(PG_DIAG_SCHEMA_NAME, t->nspname), \
	err_generic_string(PG_DIAG_TABLE_NAME, t->relname), \
	err_generic_string(PG_DIAG_COLUMN_NAME, t->version_col)

	if (info->items_json)
		ereport(ERROR,
				(info->sqlstate == ERRCODE_OCC_CONFLICT ?
				 errmsg("version conflict on table \"%s\" for %s",
						t->plain_name, key.data) :
				 errmsg("rows not found in table \"%s\" for %s",
						t->plain_name, key.data),
				 OCC_ERROR_FIELDS));

	if (info->hide_key)
		ereport(ERROR,
				(info->sqlstate == ERRCODE_OCC_CONFLICT ?
				 errmsg("version conflict on table \"%s\"", t->plain_name) :
				 errmsg("version required for update of table \"%s\"", t->plain_name),
				 OCC_ERROR_FIELDS));

	switch (info->sqlstate)
	{
		case ERRCODE_OCC_CONFLICT:
			ereport(ERROR,
					(errmsg("version conflict on table \"%s\" for key %s",
							t->plain_name, key.data),
					 OCC_ERROR_FIELDS));
			break;
		case ERRCODE_OCC_PRECONDITION_FAILED:
			ereport(ERROR,
					(errmsg("ETag mismatch on table \"%s\" for key %s",
							t->plain_name, key.data),
					 OCC_ERROR_FIELDS));
			break;
		case ERRCODE_OCC_NOT_FOUND:
			if (info->has_version)
				ereport(ERROR,
						(errmsg("row of table \"%s\" for key %s has no version " INT64_FORMAT,
								t->plain_name, key.data, info->version),
						 OCC_ERROR_FIELDS));
			ereport(ERROR,
					(errmsg("row not found in table \"%s\" for key %s",
							t->plain_name, key.data),
					 OCC_ERROR_FIELDS));
			break;
		case ERRCODE_OCC_GONE:
			ereport(ERROR,
					(errmsg("version " INT64_FORMAT " of the row of table \"%s\" for key %s is no longer kept",
							info->version, t->plain_name, key.data),
					 OCC_ERROR_FIELDS));
			break;
		default:
			ereport(ERROR,
					(errmsg("version required for update of table \"%s\" for key %s",
							t->plain_name, key.data),
					 OCC_ERROR_FIELDS));
			break;
	}
	pg_unreachable();
}
