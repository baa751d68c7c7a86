/*
 * etag.c
 *		ETags: an HMAC-SHA256, keyed with the database's secret (table
 *		occ_secret), over the table, the key, the version and the previous
 *		ETag (a random nonce for a new row), in base64url.
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

static bool secret_valid = false;
static Oid	secret_relid = InvalidOid;
static uint8 secret[OCC_SECRET_MAX];
static int	secret_len = 0;

static void occ_hmac_key(const uint8 *key, int keylen);
static void occ_mac(StringInfo msg, uint8 *out);

/* Forgets the cached secret when its table changes. */
static void
occ_secret_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == secret_relid)
		secret_valid = false;
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

		secret_len = Min(VARSIZE_ANY_EXHDR(b), OCC_SECRET_MAX);
		memcpy(secret, VARDATA_ANY(b), secret_len);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* this database's key: HMAC(secret, "occ-db" || system id || database) */
	{
		StringInfoData msg;
		uint64		sysid = GetSystemIdentifier();
		uint8		key[32];

		occ_hmac_key(secret, secret_len);
		initStringInfo(&msg);
		appendBinaryStringInfo(&msg, "occ-db", 6);
		appendBinaryStringInfo(&msg, (const char *) &sysid, sizeof(sysid));
		appendBinaryStringInfo(&msg, (const char *) &MyDatabaseId, sizeof(Oid));
		occ_mac(&msg, key);
		pfree(msg.data);
		occ_hmac_key(key, sizeof(key));
	}
	secret_relid = relid;
	secret_valid = true;
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

/*
 * SHA-256 (FIPS 180-4), small and allocation-free, so that the HMAC below
 * can start from states keyed once per backend: an ETag then costs three
 * compressions and no library calls.
 */
typedef struct OccSha256
{
	uint32		h[8];
	uint64		len;			/* bytes hashed so far */
	uint8		buf[64];
	int			used;
} OccSha256;

static const uint32 occ_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define OCC_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* Hashes one 64-byte block into the state. */
static void
occ_sha256_block(uint32 *h, const uint8 *p)
{
	uint32		w[64];
	uint32		a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = ((uint32) p[4 * i] << 24) | ((uint32) p[4 * i + 1] << 16) |
			((uint32) p[4 * i + 2] << 8) | p[4 * i + 3];
	for (int i = 16; i < 64; i++)
	{
		uint32		s0 = OCC_ROR(w[i - 15], 7) ^ OCC_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32		s1 = OCC_ROR(w[i - 2], 17) ^ OCC_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (int i = 0; i < 64; i++)
	{
		uint32		t1 = hh + (OCC_ROR(e, 6) ^ OCC_ROR(e, 11) ^ OCC_ROR(e, 25)) +
			((e & f) ^ (~e & g)) + occ_sha256_k[i] + w[i];
		uint32		t2 = (OCC_ROR(a, 2) ^ OCC_ROR(a, 13) ^ OCC_ROR(a, 22)) +
			((a & b) ^ (a & c) ^ (b & c));

		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void
occ_sha256_init(OccSha256 *ctx)
{
	static const uint32 iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(ctx->h, iv, sizeof(iv));
	ctx->len = 0;
	ctx->used = 0;
}

static void
occ_sha256_update(OccSha256 *ctx, const uint8 *p, size_t n)
{
	ctx->len += n;
	while (n > 0)
	{
		size_t		take = Min(n, (size_t) (64 - ctx->used));

		memcpy(ctx->buf + ctx->used, p, take);
		ctx->used += take;
		p += take;
		n -= take;
		if (ctx->used == 64)
		{
			occ_sha256_block(ctx->h, ctx->buf);
			ctx->used = 0;
		}
	}
}

static void
occ_sha256_final(OccSha256 *ctx, uint8 *out)
{
	uint64		bits = ctx->len * 8;

	ctx->buf[ctx->used++] = 0x80;
	if (ctx->used > 56)
	{
		memset(ctx->buf + ctx->used, 0, 64 - ctx->used);
		occ_sha256_block(ctx->h, ctx->buf);
		ctx->used = 0;
	}
	memset(ctx->buf + ctx->used, 0, 56 - ctx->used);
	for (int i = 0; i < 8; i++)
		ctx->buf[56 + i] = (uint8) (bits >> (56 - 8 * i));
	occ_sha256_block(ctx->h, ctx->buf);
	for (int i = 0; i < 8; i++)
	{
		out[4 * i] = (uint8) (ctx->h[i] >> 24);
		out[4 * i + 1] = (uint8) (ctx->h[i] >> 16);
		out[4 * i + 2] = (uint8) (ctx->h[i] >> 8);
		out[4 * i + 3] = (uint8) ctx->h[i];
	}
}

/* The HMAC states after the padded key: computed once per secret. */
static OccSha256 hmac_inner;
static OccSha256 hmac_outer;

/* Keys the HMAC states with the secret (RFC 2104). */
static void
occ_hmac_key(const uint8 *key, int keylen)
{
	uint8		pad[64];

	memset(pad, 0x36, sizeof(pad));
	for (int i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	occ_sha256_init(&hmac_inner);
	occ_sha256_update(&hmac_inner, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (int i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	occ_sha256_init(&hmac_outer);
	occ_sha256_update(&hmac_outer, pad, sizeof(pad));
}

/* HMAC-SHA256 of msg with the database's secret. */
static void
occ_mac(StringInfo msg, uint8 *out)
{
	OccSha256	ctx = hmac_inner;
	uint8		inner[32];

	occ_sha256_update(&ctx, (uint8 *) msg->data, msg->len);
	occ_sha256_final(&ctx, inner);
	ctx = hmac_outer;
	occ_sha256_update(&ctx, inner, sizeof(inner));
	occ_sha256_final(&ctx, out);
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
 * The ETag of a row of t with the given key and version.  prev is the ETag
 * the row had before this version; NULL for a new row, which draws a random
 * nonce instead, so that a deleted and re-inserted row never gets an old
 * ETag back.
 */
text *
occ_etag_compute(OccTable *t, Datum *keys, int64 version,
				 const char *prev, int prevlen)
{
	StringInfoData msg;
	uint8		mac[32];
	uint8		nonce[16];
	text	   *result;

	if (!secret_valid)
		occ_load_secret();

	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, "occ1", 4);
	appendBinaryStringInfo(&msg, (const char *) &t->relid, sizeof(Oid));
	appendBinaryStringInfo(&msg, (const char *) &version, sizeof(int64));
	for (int i = 0; i < t->nkeys; i++)
		occ_mac_key(&msg, &t->keys[i], keys[i]);
	if (prev == NULL)
	{
		if (!pg_strong_random(nonce, sizeof(nonce)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random ETag nonce")));
		prev = (const char *) nonce;
		prevlen = sizeof(nonce);
	}
	occ_mac_field(&msg, prev, prevlen);
	occ_mac(&msg, mac);
	pfree(msg.data);

	result = (text *) palloc(VARHDRSZ + OCC_ETAG_LEN);
	SET_VARSIZE(result, VARHDRSZ + OCC_ETAG_LEN);
	occ_base64url(mac, OCC_MAC_BYTES, VARDATA(result));
	return result;
}
