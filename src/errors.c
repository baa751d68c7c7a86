/*
 * errors.c
 *		The OC-class errors: a translatable MESSAGE naming table and key, a
 *		DETAIL of compact JSON for programs, a HINT, and the schema, table
 *		and column (the version column) diagnostic fields.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "occ.h"

/* Appends one key value as JSON: numbers and booleans bare, the rest strings. */
static void
occ_value_json(StringInfo buf, OccKeyColumn *k, Datum value)
{
	char	   *s = OidOutputFunctionCall(k->typoutput, value);

	switch (k->typid)
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

/*
 * Raises an OC-class error for the row of t with the given key.  What is
 * not known (or must not be revealed, for OC404) is left out of the DETAIL.
 */
void
occ_raise(int sqlstate, OccTable *t, Datum *keys,
		  bool has_expected_version, int64 expected_version,
		  const char *expected_etag,
		  bool has_current, int64 current_version, const char *current_etag)
{
	StringInfoData key;
	StringInfoData detail;

	initStringInfo(&key);
	occ_key_json(&key, t, keys);

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"table\":");
	escape_json(&detail, t->display_name);
	appendStringInfo(&detail, ",\"key\":%s", key.data);
	if (sqlstate != ERRCODE_OCC_NOT_FOUND)
	{
		if (has_expected_version)
			appendStringInfo(&detail, ",\"expected_version\":" INT64_FORMAT,
							 expected_version);
		if (expected_etag)
		{
			appendStringInfoString(&detail, ",\"expected_etag\":");
			escape_json(&detail, expected_etag);
		}
		if (has_current)
		{
			appendStringInfo(&detail, ",\"current_version\":" INT64_FORMAT,
							 current_version);
			if (current_etag)
			{
				appendStringInfoString(&detail, ",\"current_etag\":");
				escape_json(&detail, current_etag);
			}
		}
	}
	appendStringInfoChar(&detail, '}');

	switch (sqlstate)
	{
		case ERRCODE_OCC_CONFLICT:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("version conflict on table \"%s\" for key %s",
							t->plain_name, key.data),
					 errdetail_internal("%s", detail.data),
					 errhint("Re-read the row and retry with its current version."),
					 err_generic_string(PG_DIAG_SCHEMA_NAME, t->nspname),
					 err_generic_string(PG_DIAG_TABLE_NAME, t->relname),
					 err_generic_string(PG_DIAG_COLUMN_NAME, t->version_col)));
			break;
		case ERRCODE_OCC_PRECONDITION_FAILED:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("ETag mismatch on table \"%s\" for key %s",
							t->plain_name, key.data),
					 errdetail_internal("%s", detail.data),
					 errhint("Re-read the row and retry with its current ETag."),
					 err_generic_string(PG_DIAG_SCHEMA_NAME, t->nspname),
					 err_generic_string(PG_DIAG_TABLE_NAME, t->relname),
					 err_generic_string(PG_DIAG_COLUMN_NAME, t->version_col)));
			break;
		case ERRCODE_OCC_NOT_FOUND:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("row not found in table \"%s\" for key %s",
							t->plain_name, key.data),
					 errdetail_internal("%s", detail.data),
					 errhint("The row does not exist, or row-level security hides it."),
					 err_generic_string(PG_DIAG_SCHEMA_NAME, t->nspname),
					 err_generic_string(PG_DIAG_TABLE_NAME, t->relname),
					 err_generic_string(PG_DIAG_COLUMN_NAME, t->version_col)));
			break;
		case ERRCODE_OCC_PRECONDITION_REQUIRED:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("version required for update of table \"%s\" for key %s",
							t->plain_name, key.data),
					 errdetail_internal("%s", detail.data),
					 errhint(t->version_input == OCC_INPUT_NEXT ?
							 "Assign the version column the version that was read plus one." :
							 "Assign the version column the version that was read."),
					 err_generic_string(PG_DIAG_SCHEMA_NAME, t->nspname),
					 err_generic_string(PG_DIAG_TABLE_NAME, t->relname),
					 err_generic_string(PG_DIAG_COLUMN_NAME, t->version_col)));
			break;
	}
	elog(ERROR, "unexpected occ error code");
}
