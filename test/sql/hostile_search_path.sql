-- Hostile search_path: objects planted in public (occ's schema here) and in another
-- schema the caller puts first, named like everything occ's generated SQL uses
-- (occ_merge_patch, jsonb_to_record, to_jsonb, the operators =, = ANY, +, ||, <=,
-- types named int8, int4, jsonb, json, text, name, regclass, the trigger function
-- occ_trigger and the secret table occ_secret), change nothing: the same scenario
-- run through every occ entry point gives the same results without them and with
-- them first on the search_path, and none of them is ever called.
-- Casts are looked up by the pair of type OIDs, not by name; occ only casts to
-- pg_catalog types, so the planted types named like them are its cast targets' only
-- impostors.

CREATE SCHEMA hostile;
CREATE TABLE hostile.hijack_log (what pg_catalog.text);
CREATE TABLE hostile.results (run pg_catalog.text, step pg_catalog.int4, res pg_catalog.text);

-- Runs one statement; its result or its error as text, ETags masked, schema renamed.
-- Everything in here is schema-qualified, so that the planted objects cannot reach
-- the harness itself.
CREATE FUNCTION hostile.run(stmt pg_catalog.text, s pg_catalog.text)
RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
DECLARE
    res pg_catalog.text;
    st pg_catalog.text;
    msg pg_catalog.text;
BEGIN
    IF stmt OPERATOR(pg_catalog.~) '^SELECT|RETURNING' THEN
        EXECUTE pg_catalog.replace(stmt, '@S@', s) INTO res;
    ELSE
        EXECUTE pg_catalog.replace(stmt, '@S@', s);
        res := 'done';
    END IF;
    IF res IS NULL THEN
        res := 'NULL';
    ELSIF res OPERATOR(pg_catalog.=) '' THEN
        res := 'void';
    END IF;
    RETURN pg_catalog.replace(pg_catalog.regexp_replace(res, '"[A-Za-z0-9_-]{24}"', '"<etag>"', 'g'),
                              s, '@S@');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN pg_catalog.replace(pg_catalog.concat('ERROR ', st, ': ', msg), s, '@S@');
END
$$;

-- The scenario: tables with keys of several types, every occ entry point, plain SQL
-- and ORM-style writes, conflicts and errors.  @S@ is the run's own schema.
CREATE FUNCTION hostile.scenario(s pg_catalog.text)
RETURNS SETOF pg_catalog.text LANGUAGE plpgsql AS $$
DECLARE
    stmt pg_catalog.text;
BEGIN
    EXECUTE pg_catalog.format('CREATE SCHEMA %I', s);
    FOREACH stmt IN ARRAY ARRAY[
        -- int key, a pre-existing integer version, json and jsonb columns, a varchar(n)
        $q$CREATE TABLE @S@.docs (id pg_catalog.int4 PRIMARY KEY, title pg_catalog.text,
               n pg_catalog.int4, code pg_catalog.varchar(5), doc pg_catalog.jsonb,
               js pg_catalog.json, version pg_catalog.int4 NOT NULL DEFAULT 7)$q$,
        $q$INSERT INTO @S@.docs VALUES (1, 'one', 1, 'a', '{"a": 1, "b": {"c": 2}}', '{"j": 1}', 7),
                                      (2, 'two', 2, 'b', NULL, NULL, 7)$q$,
        $q$SELECT public.occ_enable('@S@.docs')::pg_catalog.text$q$,
        $q$SELECT pg_catalog.string_agg(pg_catalog.to_jsonb(d)::pg_catalog.text, ' ' ORDER BY d.id)
             FROM @S@.docs d$q$,
        $q$SELECT public.occ_update('@S@.docs', 1, 7,
               '{"title": "uno", "n": 10, "code": "xy", "doc": {"b": {"c": null, "d": 3}}, "js": {"k": true}}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.docs', 1, 7, '{"title": "stale"}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.docs', '1', 8::pg_catalog.int8, '{}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.docs', 1::pg_catalog.int8, 8, '{"code": "toolong"}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.docs', '{"id": 2}'::pg_catalog.jsonb, 7, '{"nope": 1}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.docs', 3, 1, '{"title": "x"}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update_if_match('@S@.docs', 2, '*', '{"n": 20}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update_if_match('@S@.docs', 2,
               '"' OPERATOR(pg_catalog.||) (SELECT d.etag FROM @S@.docs d WHERE d.id OPERATOR(pg_catalog.=) 2)
               OPERATOR(pg_catalog.||) '"', '{"n": 21}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update_if_match('@S@.docs', 2, 'W/"x", "y"', '{"n": 22}')::pg_catalog.text$q$,
        $q$SELECT public.occ_try_update('@S@.docs', 2, 1, '{"n": 23}')::pg_catalog.text$q$,
        $q$SELECT public.occ_try_update('@S@.docs', 2, 9, '{"n": 24}')::pg_catalog.text$q$,
        $q$SELECT pg_catalog.string_agg(r::pg_catalog.text, ' ')
             FROM public.occ_update_many('@S@.docs',
                  '[{"id": 2, "version": 10, "patch": {"title": "deux"}},
                    {"id": 1, "version": 8, "patch": {"doc": {"a": null}}}]') r$q$,
        $q$SELECT pg_catalog.string_agg(r::pg_catalog.text, ' ')
             FROM public.occ_update_many('@S@.docs',
                  '[{"id": 2, "version": 1, "patch": {"title": "x"}}]') r$q$,
        -- plain SQL and ORM-style optimistic locking
        $q$UPDATE @S@.docs SET title = 'plain' WHERE id OPERATOR(pg_catalog.=) 1
             RETURNING pg_catalog.to_jsonb(docs)::pg_catalog.text$q$,
        $q$UPDATE @S@.docs SET n = 99, version = 11 WHERE id OPERATOR(pg_catalog.=) 2
             AND version OPERATOR(pg_catalog.=) 11 RETURNING pg_catalog.to_jsonb(docs)::pg_catalog.text$q$,
        $q$INSERT INTO @S@.docs (id, title, version, etag) VALUES (3, 'three', 50, 'forged')
             RETURNING pg_catalog.to_jsonb(docs)::pg_catalog.text$q$,
        $q$SELECT public.occ_delete('@S@.docs', 3, 2)::pg_catalog.text$q$,
        $q$SELECT public.occ_delete('@S@.docs', 3, 7)::pg_catalog.text$q$,
        $q$SELECT public.occ_delete_if_match('@S@.docs', 3, '*')::pg_catalog.text$q$,
        $q$SELECT public.occ_delete_if_match('@S@.docs', 2, 'nope')::pg_catalog.text$q$,
        $q$SELECT pg_catalog.string_agg(pg_catalog.to_jsonb(d)::pg_catalog.text, ' ' ORDER BY d.id)
             FROM @S@.docs d$q$,
        -- text, uuid and composite keys; version_input next and expected
        $q$CREATE TABLE @S@.tk (id pg_catalog.text PRIMARY KEY, v pg_catalog.text)$q$,
        $q$INSERT INTO @S@.tk VALUES ('a', 'x'), ('b', 'y')$q$,
        $q$SELECT public.occ_enable('@S@.tk', version_input => 'next')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.tk', 'a', 1, '{"v": "z"}')::pg_catalog.text$q$,
        $q$UPDATE @S@.tk SET v = 'w', version = 2 WHERE id OPERATOR(pg_catalog.=) 'b'
             RETURNING pg_catalog.to_jsonb(tk)::pg_catalog.text$q$,
        $q$UPDATE @S@.tk SET v = 'w', version = 9 WHERE id OPERATOR(pg_catalog.=) 'a'
             RETURNING pg_catalog.to_jsonb(tk)::pg_catalog.text$q$,
        $q$CREATE TABLE @S@.uk (id pg_catalog.uuid PRIMARY KEY, v pg_catalog.text)$q$,
        $q$INSERT INTO @S@.uk VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x')$q$,
        $q$SELECT public.occ_enable('@S@.uk', version_input => 'expected')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.uk', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1, '{"v": "y"}')::pg_catalog.text$q$,
        $q$UPDATE @S@.uk SET v = 'q' RETURNING pg_catalog.to_jsonb(uk)::pg_catalog.text$q$,
        $q$CREATE TABLE @S@.ck (a pg_catalog.int8, b pg_catalog.text, d pg_catalog.date, v pg_catalog.text,
               PRIMARY KEY (a, b, d))$q$,
        $q$INSERT INTO @S@.ck VALUES (1, 'x', '2020-01-01', 'v')$q$,
        $q$SELECT public.occ_enable('@S@.ck')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.ck', '{"a": 1, "b": "x", "d": "2020-01-01"}', 1, '{"v": "w"}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.ck', '{"a": 1, "b": "x", "d": "2020-01-01"}', 1, '{"v": "w"}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.ck', '{"a": 1, "b": "x"}'::pg_catalog.jsonb, 1, '{"v": "w"}')::pg_catalog.text$q$,
        -- field granularity: a merge of a field nobody else changed
        $q$CREATE TABLE @S@.fg (id pg_catalog.int4 PRIMARY KEY, t pg_catalog.text, u pg_catalog.text,
               doc pg_catalog.jsonb)$q$,
        $q$INSERT INTO @S@.fg VALUES (1, 't', 'u', '{"a": 1, "b": 1}')$q$,
        $q$SELECT public.occ_enable('@S@.fg', granularity => 'field')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.fg', 1, 1, '{"t": "t2", "doc": {"a": 2}}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.fg', 1, 1, '{"u": "u2", "doc": {"b": 2}}')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.fg', 1, 1, '{"t": "t3"}')::pg_catalog.text$q$,
        -- a partitioned table, and a row that moves between partitions
        $q$CREATE TABLE @S@.pt (id pg_catalog.int4, r pg_catalog.text, v pg_catalog.text,
               PRIMARY KEY (id, r)) PARTITION BY LIST (r)$q$,
        $q$CREATE TABLE @S@.pt_a PARTITION OF @S@.pt FOR VALUES IN ('a')$q$,
        $q$CREATE TABLE @S@.pt_b PARTITION OF @S@.pt FOR VALUES IN ('b')$q$,
        $q$INSERT INTO @S@.pt VALUES (1, 'a', 'x')$q$,
        $q$SELECT public.occ_enable('@S@.pt')::pg_catalog.text$q$,
        $q$SELECT public.occ_update('@S@.pt', '{"id": 1, "r": "a"}', 1, '{"v": "y"}')::pg_catalog.text$q$,
        $q$UPDATE @S@.pt SET r = 'b' RETURNING pg_catalog.to_jsonb(pt)::pg_catalog.text$q$,
        -- the standalone merge patch, the catalog view, and opting out
        $q$SELECT public.occ_merge_patch('{"a": [1], "b": {"c": 1, "d": 2}}'::pg_catalog.jsonb,
               '{"a": null, "b": {"c": null, "e": 3}}'::pg_catalog.jsonb)::pg_catalog.text$q$,
        $q$SELECT public.occ_merge_patch(NULL::pg_catalog.jsonb, '{"x": {"y": null}}'::pg_catalog.jsonb)::pg_catalog.text$q$,
        $q$SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', o.table_name, o.key_columns, o.version_column,
               o.etag_column, o.granularity, o.version_input), '; ' ORDER BY o.table_name::pg_catalog.text)
             FROM public.occ_tables o
            WHERE o.table_name::pg_catalog.text OPERATOR(pg_catalog.~~) '@S@.%'$q$,
        $q$SELECT public.occ_disable('@S@.docs')::pg_catalog.text$q$,
        $q$SELECT public.occ_enable('@S@.docs')::pg_catalog.text$q$,
        $q$SELECT pg_catalog.string_agg(pg_catalog.concat(d.id, ':', d.version), ' ' ORDER BY d.id)
             FROM @S@.docs d$q$
    ] LOOP
        RETURN NEXT hostile.run(stmt, s);
    END LOOP;
END
$$;

SELECT secret AS secret FROM public.occ_secret \gset

-- the clean run
INSERT INTO hostile.results SELECT 'clean', n, res FROM hostile.scenario('clean') WITH ORDINALITY AS x(res, n);
SELECT step, res FROM hostile.results ORDER BY step;

-- ---------------------------------------------------------------- the plants
-- hostile.log(what) records a call of a planted object and returns what it is given
CREATE FUNCTION hostile.log(what pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hostile.hijack_log VALUES (what);
    RETURN true;
END
$$;

CREATE SCHEMA attacker;
-- the same objects in attacker and in public
DO $plant$
DECLARE
    s pg_catalog.text;
    op record;
BEGIN
    FOREACH s IN ARRAY ARRAY['attacker', 'public'] LOOP
        -- functions occ's statements call; occ_merge_patch only where occ is not
        IF s OPERATOR(pg_catalog.<>) 'public' THEN
            EXECUTE pg_catalog.format($f$
                CREATE FUNCTION %1$I.occ_merge_patch(a pg_catalog.jsonb, b pg_catalog.jsonb)
                RETURNS pg_catalog.jsonb LANGUAGE sql
                AS 'SELECT ''{"hijacked": "occ_merge_patch"}''::pg_catalog.jsonb WHERE hostile.log(''%1$s.occ_merge_patch'')'$f$, s);
            EXECUTE pg_catalog.format($f$
                CREATE FUNCTION %1$I.occ_trigger() RETURNS trigger LANGUAGE plpgsql
                AS 'BEGIN PERFORM hostile.log(''%1$s.occ_trigger''); RETURN NEW; END'$f$, s);
            EXECUTE pg_catalog.format($f$
                CREATE TABLE %1$I.occ_secret (secret pg_catalog.bytea)$f$, s);
            EXECUTE pg_catalog.format($f$
                INSERT INTO %1$I.occ_secret VALUES ('\x00')$f$, s);
        END IF;
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.occ_merge_patch(a pg_catalog.json, b pg_catalog.jsonb)
            RETURNS pg_catalog.jsonb LANGUAGE sql
            AS 'SELECT ''{"hijacked": 1}''::pg_catalog.jsonb WHERE hostile.log(''%1$s.occ_merge_patch(json)'')'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.occ_merge_patch(a anyelement, b anyelement)
            RETURNS pg_catalog.jsonb LANGUAGE sql
            AS 'SELECT ''{"hijacked": 1}''::pg_catalog.jsonb WHERE hostile.log(''%1$s.occ_merge_patch(any)'')'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.zz_occ_version() RETURNS trigger LANGUAGE plpgsql
            AS 'BEGIN PERFORM hostile.log(''%1$s.zz_occ_version''); RETURN NEW; END'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.jsonb_to_record(pg_catalog.jsonb) RETURNS record LANGUAGE plpgsql
            AS 'BEGIN PERFORM hostile.log(''%1$s.jsonb_to_record''); RETURN NULL; END'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.to_jsonb(anyelement) RETURNS pg_catalog.jsonb LANGUAGE sql
            AS 'SELECT ''{"hijacked": "to_jsonb"}''::pg_catalog.jsonb WHERE hostile.log(''%1$s.to_jsonb'')'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.to_jsonb(record) RETURNS pg_catalog.jsonb LANGUAGE plpgsql
            AS 'BEGIN PERFORM hostile.log(''%1$s.to_jsonb(record)''); RETURN ''{"hijacked": 1}''; END'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.int8(pg_catalog.int4) RETURNS pg_catalog.int8 LANGUAGE sql
            AS 'SELECT 666::pg_catalog.int8 WHERE hostile.log(''%1$s.int8()'')'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.jsonb(pg_catalog.json) RETURNS pg_catalog.jsonb LANGUAGE sql
            AS 'SELECT ''{"hijacked": "jsonb()"}''::pg_catalog.jsonb WHERE hostile.log(''%1$s.jsonb()'')'$f$, s);
        EXECUTE pg_catalog.format($f$
            CREATE FUNCTION %1$I.text(pg_catalog.jsonb) RETURNS pg_catalog.text LANGUAGE sql
            AS 'SELECT ''hijacked'' WHERE hostile.log(''%1$s.text()'')'$f$, s);
        -- types and domains named like the types occ casts to and declares
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.int8 AS pg_catalog.int4
            CHECK (hostile.log('%1$s.int8 domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.int4 AS pg_catalog.int2
            CHECK (hostile.log('%1$s.int4 domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.jsonb AS pg_catalog.text
            CHECK (hostile.log('%1$s.jsonb domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.json AS pg_catalog.text
            CHECK (hostile.log('%1$s.json domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.text AS pg_catalog.varchar(1)
            CHECK (hostile.log('%1$s.text domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE DOMAIN %1$I.name AS pg_catalog.text
            CHECK (hostile.log('%1$s.name domain') AND false)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE TYPE %1$I.regclass AS (x pg_catalog.int4)$f$, s);
        EXECUTE pg_catalog.format($f$CREATE TYPE %1$I.varchar AS ENUM ('hijacked')$f$, s);
        -- operators with exactly the argument types of the ones occ uses, each
        -- logging its call and giving a wrong answer
        FOR op IN SELECT * FROM (VALUES
                ('=', 'int4', 'int4', 'bool', 'true'), ('=', 'int4', 'int8', 'bool', 'true'),
                ('=', 'int8', 'int8', 'bool', 'true'), ('=', 'int8', 'int4', 'bool', 'true'),
                ('=', 'text', 'text', 'bool', 'true'), ('=', 'uuid', 'uuid', 'bool', 'true'),
                ('=', 'date', 'date', 'bool', 'true'), ('=', 'jsonb', 'jsonb', 'bool', 'true'),
                ('=', 'oid', 'oid', 'bool', 'true'), ('=', 'name', 'name', 'bool', 'true'),
                ('<=', 'int8', 'int8', 'bool', 'true'), ('<=', 'int2', 'int4', 'bool', 'true'),
                ('+', 'int8', 'int4', 'int8', '666'), ('+', 'int4', 'int4', 'int4', '666'),
                ('+', 'int8', 'int8', 'int8', '666'),
                ('||', 'text', 'text', 'text', '''hijacked'''),
                ('||', 'jsonb', 'jsonb', 'jsonb', '''{"hijacked": "||"}''')) AS o(op, l, r, res, val)
        LOOP
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION %1$I.%2$I(pg_catalog.%3$s, pg_catalog.%4$s) RETURNS pg_catalog.%5$s '
                'LANGUAGE sql AS %6$L',
                s, pg_catalog.concat('op_', pg_catalog.md5(pg_catalog.concat(op.op, op.l, op.r))),
                op.l, op.r, op.res,
                pg_catalog.format('SELECT %s::pg_catalog.%s WHERE hostile.log(%L)', op.val, op.res,
                                  pg_catalog.concat(s, '.', op.op, '(', op.l, ',', op.r, ')')));
            EXECUTE pg_catalog.format(
                'CREATE OPERATOR %1$I.%2$s (LEFTARG = pg_catalog.%3$s, RIGHTARG = pg_catalog.%4$s, '
                'FUNCTION = %1$I.%5$I)',
                s, op.op, op.l, op.r,
                pg_catalog.concat('op_', pg_catalog.md5(pg_catalog.concat(op.op, op.l, op.r))));
        END LOOP;
    END LOOP;
END
$plant$;

-- the plants work: an unqualified = and a cast to int8 now reach them
SET search_path = attacker, public, pg_catalog;
SELECT 1 = 2 AS "1 = 2 says", 1 + 1 AS "1 + 1 says", 'a' || 'b' AS "'a' || 'b' says";
SELECT what AS planted_object_called FROM hostile.hijack_log ORDER BY what;
TRUNCATE hostile.hijack_log;

-- the same scenario with the plants first on the search_path, attacker's first ...
INSERT INTO hostile.results SELECT 'attacker first', n, res
    FROM hostile.scenario('attacker_first') WITH ORDINALITY AS x(res, n);
-- ... and public's first
SET search_path = public, attacker, pg_catalog;
INSERT INTO hostile.results SELECT 'public first', n, res
    FROM hostile.scenario('public_first') WITH ORDINALITY AS x(res, n);
RESET search_path;

-- nothing planted was called, and every step gave the same result
SELECT what AS planted_object_called FROM hostile.hijack_log;
SELECT h.run, h.step, c.res AS clean, h.res AS hostile
  FROM hostile.results c JOIN hostile.results h USING (step)
 WHERE c.run = 'clean' AND h.run <> 'clean' AND c.res IS DISTINCT FROM h.res
 ORDER BY h.run, h.step;
SELECT run, count(*) AS steps FROM hostile.results GROUP BY run ORDER BY run;
-- and the ETag secret is still the one CREATE EXTENSION made, not the planted one
SELECT count(*) AS secrets, bool_and(secret = :'secret') AS secret_unchanged FROM public.occ_secret;

SET client_min_messages = warning;
DROP SCHEMA clean, attacker_first, public_first, attacker, hostile CASCADE;
DO $$
DECLARE f record;
BEGIN
    -- the plants in public
    FOR f IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace
                AND (p.proname IN ('jsonb_to_record', 'to_jsonb', 'int8', 'jsonb', 'text', 'zz_occ_version')
                     OR p.proname LIKE 'op\_%'
                     OR (p.proname = 'occ_merge_patch'
                         AND p.oid <> 'public.occ_merge_patch(jsonb, jsonb)'::regprocedure))
    LOOP
        EXECUTE format('DROP FUNCTION %s CASCADE', f.fn);
    END LOOP;
    DROP DOMAIN public.int8, public.int4, public.jsonb, public.json, public.text, public.name;
    DROP TYPE public.regclass, public.varchar;
END
$$;
RESET client_min_messages;
