/*
 * hmac.c
 *		HMAC-SHA256 (RFC 2104 over FIPS 180-4), small and allocation-free, for
 *		the ETags of etag.c: the key's inner and outer states are computed once
 *		(OccHmac), so that an ETag costs a few compressions (two or three for a
 *		short key) and no library call.
 *
 * occ_hmac_sha256_test() exposes it to SQL for the known-answer test of
 * test/sql/hmac.sql (RFC 4231); no extension script declares it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "occ.h"

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

/* Starts a hash. */
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

/* Hashes n more bytes. */
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

/* Ends the hash and writes its 32 bytes to out. */
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

/* Keys h with key (RFC 2104): a key longer than a block is hashed first. */
void
occ_hmac_init(OccHmac *h, const uint8 *key, size_t keylen)
{
	uint8		pad[OCC_SHA256_BLOCK];
	uint8		digest[OCC_SHA256_LEN];

	if (keylen > OCC_SHA256_BLOCK)
	{
		OccSha256	ctx;

		occ_sha256_init(&ctx);
		occ_sha256_update(&ctx, key, keylen);
		occ_sha256_final(&ctx, digest);
		key = digest;
		keylen = sizeof(digest);
	}
	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	occ_sha256_init(&h->inner);
	occ_sha256_update(&h->inner, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	occ_sha256_init(&h->outer);
	occ_sha256_update(&h->outer, pad, sizeof(pad));
}

/* Writes the 32-byte HMAC of msg under h's key to out. */
void
occ_hmac(const OccHmac *h, const uint8 *msg, size_t len, uint8 *out)
{
	OccSha256	ctx = h->inner;
	uint8		inner[OCC_SHA256_LEN];

	occ_sha256_update(&ctx, msg, len);
	occ_sha256_final(&ctx, inner);
	ctx = h->outer;
	occ_sha256_update(&ctx, inner, sizeof(inner));
	occ_sha256_final(&ctx, out);
}

PG_FUNCTION_INFO_V1(occ_hmac_sha256_test);

/* occ_hmac_sha256_test(key bytea, msg bytea) returns bytea: for the known-answer test. */
Datum
occ_hmac_sha256_test(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + OCC_SHA256_LEN);
	OccHmac		h;

	occ_hmac_init(&h, (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	occ_hmac(&h, (uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg),
			 (uint8 *) VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + OCC_SHA256_LEN);
	PG_RETURN_BYTEA_P(result);
}
