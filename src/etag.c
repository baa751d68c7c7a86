/*
 * etag.c
 *		ETags: an HMAC-SHA256, keyed with the database's secret (table
 *		occ_secret), over the table, the key, the version, the previous ETag
 *		and a value no other write ever uses, in base64url.
 *
 * The HMAC key is not the stored secret itself but one derived from it, the
 * cluster's system identifier and the database's OID: databases copied from
 * one template (same secret, same table OIDs, same rows) part ways at their
 * first write.  A standby shares both, and ETags already stored never change,
 * so dumps, standbys and subscribers keep every ETag a client holds.
 *
 * Every backend caches the key; a new secret (INSERT INTO occ_secret, which
 * replaces the old row) invalidates the secret table's relcache entry in
 * every backend (occ.c), and with it the cached key.
 *
 * The ETag never reads the row's other columns, so its cost does not grow
 * with wide or TOASTed rows, and it reveals nothing about their contents.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "occ.h"
#include "compat.h"

#define OCC_SECRET_MAX	64		/* one SHA-256 block */
#define OCC_MAC_BYTES	18		/* 18 bytes give 24 base64url characters */

static bool occ_secret_valid = false;
static Oid	occ_secret_relid = InvalidOid;
static uint8 occ_secret[OCC_SECRET_MAX];
static int	occ_secret_len = 0;

static OccHmac occ_secret_mac;		/* keyed with this database's key */

/* Forgets the cached secret when its table changes. */
static void
occ_secret_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == occ_secret_relid)
		occ_secret_valid = false;
}

/* Registers the secret's invalidation callback; called once from _PG_init. */
void
occ_etag_init(void)
{
	CacheRegisterRelcacheCallback(occ_secret_relcache_callback, (Datum) 0);
}

/*
 * Reads the secret straight from its table, without a privilege check: the
 * caller need not (and normally cannot) read the table itself.
 */
static void
occ_load_secret(void)
{
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;

	nsp = occ_extension_namespace();
	relid = OidIsValid(nsp) ? get_relname_relid(OCC_SECRET_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"occ\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION occ.")));

	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
	if (!HeapTupleIsValid(tup) || isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ETag secret of extension \"occ\" is missing"),
				 errhint("Recreate the extension.")));
	{
		bytea	   *b = DatumGetByteaPP(d);

		occ_secret_len = Min(VARSIZE_ANY_EXHDR(b), OCC_SECRET_MAX);
		memcpy(occ_secret, VARDATA_ANY(b), occ_secret_len);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* this database's key: HMAC(secret, "occ-db" || system id || database) */
	{
		StringInfoData msg;
		uint64		sysid = GetSystemIdentifier();
		uint8		key[OCC_SHA256_LEN];

		occ_hmac_init(&occ_secret_mac, occ_secret, occ_secret_len);
		initStringInfo(&msg);
		appendBinaryStringInfo(&msg, "occ-db", 6);
		appendBinaryStringInfo(&msg, (const char *) &sysid, sizeof(sysid));
		appendBinaryStringInfo(&msg, (const char *) &MyDatabaseId, sizeof(Oid));
		occ_hmac(&occ_secret_mac, (uint8 *) msg.data, msg.len, key);
		pfree(msg.data);
		occ_hmac_init(&occ_secret_mac, key, sizeof(key));
	}
	occ_secret_relid = relid;
	occ_secret_valid = true;
}

/* Appends one field, length first, so that fields cannot run together. */
static void
occ_mac_field(StringInfo msg, const void *data, int len)
{
	uint32		n = (uint32) len;

	appendBinaryStringInfo(msg, (const char *) &n, sizeof(n));
	appendBinaryStringInfo(msg, (const char *) data, len);
}

/* Appends a key value's bytes (detoasted, without header). */
static void
occ_mac_key(StringInfo msg, OccKeyColumn *k, Datum value)
{
	if (k->typbyval)
	{
		char		buf[sizeof(Datum)];

		store_att_byval(buf, value, k->typlen);
		occ_mac_field(msg, buf, k->typlen);
	}
	else if (k->typlen > 0)
		occ_mac_field(msg, DatumGetPointer(value), k->typlen);
	else if (k->typlen == -1)
	{
		struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

		occ_mac_field(msg, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	}
	else
	{
		char	   *s = DatumGetCString(value);

		occ_mac_field(msg, s, strlen(s));
	}
}

/* base64url without padding; n must be a multiple of 3. */
static void
occ_base64url(const uint8 *in, int n, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	for (int i = 0; i < n; i += 3)
	{
		uint32		v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];

		*out++ = alphabet[(v >> 18) & 63];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
}

/*
 * What makes every write's ETag unique: 16 random bytes drawn once per
 * backend and a count of the ETags it made.  A write that rolls back and a
 * later one at the same version (same key, same previous ETag) thus get
 * different ETags, and so do a deleted row and one inserted again.  The
 * value is not secret (the HMAC's key is) and is never recomputed: standbys
 * and subscribers copy the stored ETag.
 */
typedef struct OccWriteNonce
{
	uint8		random[16];
	uint64		count;
} OccWriteNonce;

static OccWriteNonce occ_write_nonce;
static bool occ_write_nonce_drawn = false;

/* The next write's nonce. */
static const OccWriteNonce *
occ_next_write_nonce(void)
{
	if (!occ_write_nonce_drawn)
	{
		if (!pg_strong_random(occ_write_nonce.random, sizeof(occ_write_nonce.random)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random ETag nonce")));
		occ_write_nonce_drawn = true;
	}
	occ_write_nonce.count++;
	return &occ_write_nonce;
}

/*
 * The ETag of a row of t with the given key and version.  prev is the ETag
 * the row had before this version; NULL for a new row.
 */
text *
occ_etag_compute(OccTable *t, Datum *keys, int64 version,
				 const char *prev, int prevlen)
{
	StringInfoData msg;
	uint8		mac[OCC_SHA256_LEN];
	text	   *result;

	if (!occ_secret_valid)
		occ_load_secret();

	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, "occ1", 4);
	appendBinaryStringInfo(&msg, (const char *) &t->relid, sizeof(Oid));
	appendBinaryStringInfo(&msg, (const char *) &version, sizeof(int64));
	for (int i = 0; i < t->nkeys; i++)
		occ_mac_key(&msg, &t->keys[i], keys[i]);
	occ_mac_field(&msg, prev ? prev : "", prev ? prevlen : 0);
	occ_mac_field(&msg, occ_next_write_nonce(), sizeof(OccWriteNonce));
	occ_hmac(&occ_secret_mac, (uint8 *) msg.data, msg.len, mac);
	pfree(msg.data);

	result = (text *) palloc(VARHDRSZ + OCC_ETAG_LEN);
	SET_VARSIZE(result, VARHDRSZ + OCC_ETAG_LEN);
	occ_base64url(mac, OCC_MAC_BYTES, VARDATA(result));
	return result;
}

PG_FUNCTION_INFO_V1(occ_etag_key_test);

/*
 * occ_etag_key_test() returns bytea: the HMAC of a fixed message under the key
 * this backend signs ETags with (loaded as for an ETag).  Every ETag draws a
 * fresh nonce, so tests of key rotation and of per-database keys compare this
 * instead; no extension script declares it.
 */
Datum
occ_etag_key_test(PG_FUNCTION_ARGS)
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + OCC_SHA256_LEN);

	if (!occ_secret_valid)
		occ_load_secret();
	occ_hmac(&occ_secret_mac, (const uint8 *) "occ-key-test", 12, (uint8 *) VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + OCC_SHA256_LEN);
	PG_RETURN_BYTEA_P(result);
}
