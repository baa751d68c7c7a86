/*
 * backfill.c
 *		The first ETags (and field versions) of a table's existing rows:
 *		occ_enable() runs one UPDATE over them, and the trigger recognises
 *		that UPDATE's own rows by the random token it writes.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"

#include "occ.h"
#include "compat.h"

/*
 * Set by occ_enable() while it backfills every existing row.  Only the
 * backfill's own statement gets the backfill's treatment: a row of the table
 * being enabled (or of one of its partitions) whose new ETag column holds the
 * random token that statement writes.  Rows that other statements change
 * meanwhile (triggers of the table, say), in this table or any other, are
 * versioned as usual.
 */
#define OCC_BACKFILL_TOKEN_LEN	32	/* hex digits */

static struct
{
	OccBackfill mode;
	List	   *relids;			/* the table and its partitions */
	Oid			last_relid;		/* the last one found in relids */
	char		token[OCC_BACKFILL_TOKEN_LEN + 1];
}			occ_backfill;

/*
 * Starts a backfill of the tables in relids (a table and its partitions);
 * returns the token its UPDATE must write into the ETag column.
 */
static const char *
occ_backfill_begin(OccBackfill mode, List *relids)
{
	uint8		r[OCC_BACKFILL_TOKEN_LEN / 2];

	if (!pg_strong_random(r, sizeof(r)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random backfill token")));
	for (int i = 0; i < (int) sizeof(r); i++)
		sprintf(occ_backfill.token + 2 * i, "%02x", r[i]);
	occ_backfill.relids = relids;
	occ_backfill.last_relid = InvalidOid;
	occ_backfill.mode = mode;
	return occ_backfill.token;
}

/* Ends the backfill (also when it failed). */
static void
occ_backfill_end(void)
{
	occ_backfill.mode = OCC_BACKFILL_NONE;
	occ_backfill.relids = NIL;
	occ_backfill.last_relid = InvalidOid;
}

/* Is this UPDATE a row of the running backfill?  Which kind, then. */
OccBackfill
occ_backfill_of(OccTable *t, TupleDesc desc, HeapTuple newtup)
{
	bool		isnull;
	Datum		d;
	text	   *e;

	if (occ_backfill.mode == OCC_BACKFILL_NONE)
		return OCC_BACKFILL_NONE;
	if (t->relid != occ_backfill.last_relid)
	{
		if (!list_member_oid(occ_backfill.relids, t->relid))
			return OCC_BACKFILL_NONE;
		occ_backfill.last_relid = t->relid;
	}
	d = heap_getattr(newtup, t->etag_attnum, desc, &isnull);
	if (isnull)
		return OCC_BACKFILL_NONE;
	e = DatumGetTextPP(d);
	if (VARSIZE_ANY_EXHDR(e) != OCC_BACKFILL_TOKEN_LEN ||
		memcmp(VARDATA_ANY(e), occ_backfill.token, OCC_BACKFILL_TOKEN_LEN) != 0)
		return OCC_BACKFILL_NONE;
	return occ_backfill.mode;
}

/*
 * Every row gets its first ETag (versions stay), or, when a table switches
 * to field granularity, its first field versions.  relids: the table and its
 * partitions; the trigger knows the backfill's own rows by the token the
 * UPDATE writes into the ETag column (occ_backfill_of).  The shards of a Citus
 * table run the UPDATE in other sessions, which cannot know the token: there
 * it sets the ETag (or field_versions) column to NULL and nothing else, the
 * shape citus.c recognises.
 */
void
occ_backfill_rows(const char *qname, const char *etag_col, OccBackfill backfill,
				  List *relids, bool forced, bool citus)
{
	char	   *sql;
	Oid			argtype = TEXTOID;
	Datum		token = CStringGetTextDatum(occ_backfill_begin(backfill, relids));

	if (citus)
		sql = psprintf("UPDATE %s SET %s = NULL", qname,
					   quote_identifier(backfill == OCC_BACKFILL_ALL ?
										etag_col : OCC_FIELDS_COLUMN));
	else
		sql = psprintf("UPDATE %s SET %s = $1", qname, quote_identifier(etag_col));

	PG_TRY();
	{
		/*
		 * Row-level security forced on the owner would hide rows from the
		 * backfill; the owner (the caller) lifts it meanwhile, in this
		 * transaction, under the lock that keeps others out.
		 */
		if (forced)
			occ_exec(psprintf("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY", qname));
		if (SPI_execute_with_args(sql, 1, &argtype, &token, NULL, false, 0) < 0)
			elog(ERROR, "occ: \"%s\" failed", sql);
		if (forced)
			occ_exec(psprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", qname));
	}
	PG_FINALLY();
	{
		occ_backfill_end();
	}
	PG_END_TRY();
}
