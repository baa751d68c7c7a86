-- The HMAC-SHA256 behind every ETag (src/hmac.c) against the test vectors of
-- RFC 4231, section 4: short and long keys (cases 6 and 7 use a 131-byte key,
-- longer than the 64-byte block, which must be hashed first), data across block
-- boundaries, and case 5's output truncated to 128 bits.  The C function is
-- exported by the library for this test only; no extension script declares it.
CREATE FUNCTION pg_temp.hmac(key bytea, msg bytea) RETURNS bytea
    AS '$libdir/occ', 'occ_hmac_sha256_test' LANGUAGE c STRICT IMMUTABLE;

SELECT rfc_case, encode(pg_temp.hmac(key, msg), 'hex') LIKE expected || '%' AS matches
  FROM (VALUES
    (1, decode(repeat('0b', 20), 'hex'), convert_to('Hi There', 'UTF8'),
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'),
    (2, convert_to('Jefe', 'UTF8'), convert_to('what do ya want for nothing?', 'UTF8'),
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
    (3, decode(repeat('aa', 20), 'hex'), decode(repeat('dd', 50), 'hex'),
        '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'),
    (4, decode('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'),
        decode(repeat('cd', 50), 'hex'),
        '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'),
    (5, decode(repeat('0c', 20), 'hex'), convert_to('Test With Truncation', 'UTF8'),
        'a3b6167473100ee06e0c796c2955552b'),
    (6, decode(repeat('aa', 131), 'hex'),
        convert_to('Test Using Larger Than Block-Size Key - Hash Key First', 'UTF8'),
        '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'),
    (7, decode(repeat('aa', 131), 'hex'),
        convert_to('This is a test using a larger than block-size key and a larger '
                   'than block-size data. The key needs to be hashed before being '
                   'used by the HMAC algorithm.', 'UTF8'),
        '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2')
  ) AS v(rfc_case, key, msg, expected)
 ORDER BY rfc_case;

-- Messages of every length from 0 to 130 bytes (across the padding limits at
-- 55/56 and 63/64 bytes and two blocks) agree with the same HMAC computed from
-- its definition with PostgreSQL's own sha256(), for a key of exactly one block
-- and for the empty key.
CREATE FUNCTION pg_temp.xor_pad(k bytea, p int) RETURNS bytea LANGUAGE sql AS $$
    SELECT decode(string_agg(lpad(to_hex(get_byte(k, i) # p), 2, '0'), '' ORDER BY i), 'hex')
      FROM generate_series(0, length(k) - 1) AS i $$;
SELECT count(*) FILTER (WHERE ok) AS agree, count(*) AS cases
  FROM (SELECT pg_temp.hmac(k0, m) =
               sha256(pg_temp.xor_pad(k, 92) || sha256(pg_temp.xor_pad(k, 54) || m)) AS ok
          FROM (VALUES (decode(repeat('5a', 64), 'hex')), (''::bytea)) AS keys(k0),
               LATERAL (SELECT k0 || decode(repeat('00', 64 - length(k0)), 'hex') AS k) AS padded,
               generate_series(0, 130) AS n,
               LATERAL (SELECT decode(repeat('61', n), 'hex') AS m) AS msgs) AS t;
