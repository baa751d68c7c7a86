-- bench/plpgsql_occ.sql: occ's contract written by hand in PL/pgSQL, the way a
-- competent user would write it without the extension.  It is variant 5 of the
-- benchmark: what the C extension has to beat.  (Loaded by setup.sql.)
--
-- Conventions a hand-written version can afford: the key column is "id", the
-- version and ETag columns are "version" (bigint) and "etag" (text), and the
-- table has no generated columns (NEW holds them as NULL in a BEFORE trigger,
-- so every UPDATE would count as a change).
--
--   bench.plpgsql_occ_trigger()   BEFORE INSERT OR UPDATE row trigger: version 1 on
--                                 INSERT, version + 1 on an UPDATE that changes
--                                 anything, and an md5 ETag over the table and row
--                                 (which includes the previous ETag)
--   bench.plpgsql_occ_enable(t)   adds the columns, backfills, installs the trigger
--   bench.bench_occ_update(tbl, id, expected_version, patch)
--                                 one dynamic UPDATE … FROM jsonb_populate_record(),
--                                 conditioned on the version; OC409 / OC404 on a miss
--   bench.jsonb_merge_patch(a, b) RFC 7396, for json/jsonb columns

CREATE FUNCTION bench.plpgsql_occ_trigger()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
    ELSE
        -- clients cannot forge version or ETag
        NEW.version := OLD.version;
        NEW.etag := OLD.etag;
        IF NEW IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;             -- nothing changed: keep version and ETag
        END IF;
        NEW.version := OLD.version + 1;
    END IF;
    NEW.etag := md5(TG_RELID::text || ':' || NEW::text);
    RETURN NEW;
END
$fn$;

CREATE FUNCTION bench.plpgsql_occ_enable(tbl regclass)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN version bigint NOT NULL DEFAULT 1, ADD COLUMN etag text', tbl);
    EXECUTE format('UPDATE %1$s AS t SET etag = md5(%2$s || '':'' || t::text)', tbl, tbl::oid);
    EXECUTE format('CREATE TRIGGER zz_plpgsql_occ BEFORE INSERT OR UPDATE ON %s
                    FOR EACH ROW EXECUTE FUNCTION bench.plpgsql_occ_trigger()', tbl);
END
$fn$;

-- RFC 7396 JSON Merge Patch.
CREATE FUNCTION bench.jsonb_merge_patch(target jsonb, patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    result jsonb;
    k      text;
    v      jsonb;
BEGIN
    IF jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN
        RETURN patch;
    END IF;
    result := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}' END;
    FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP
        IF v = 'null' THEN
            result := result - k;
        ELSE
            result := jsonb_set(result, ARRAY[k], bench.jsonb_merge_patch(result -> k, v));
        END IF;
    END LOOP;
    RETURN result;
END
$fn$;

-- Applies patch to row id of tbl if its version is expected_version; returns the
-- new row.  OC409 if the version moved on, OC404 if there is no such row.
CREATE FUNCTION bench.bench_occ_update(tbl regclass, id bigint, expected_version bigint, patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    set_list  text;
    unknown   text;
    forbidden text;
    result    jsonb;
    n         bigint;
    current   bigint;
BEGIN
    IF tbl IS NULL OR id IS NULL OR expected_version IS NULL OR patch IS NULL THEN
        RAISE EXCEPTION 'arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(patch) <> 'object' THEN
        RAISE EXCEPTION 'patch must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- one catalog query: the SET list, and any key that is not a column or may not be set
    SELECT string_agg(CASE WHEN a.atttypid IN ('json'::regtype, 'jsonb'::regtype)
                           THEN format('%1$I = NULLIF(bench.jsonb_merge_patch(t.%1$I::jsonb, $3 -> %2$L), ''null'')::%3$s',
                                       a.attname, k.key, a.atttypid::regtype)
                           ELSE format('%1$I = p.%1$I', a.attname) END, ', ')
               FILTER (WHERE a.attname IS NOT NULL),
           min(k.key) FILTER (WHERE a.attname IS NULL),
           min(k.key) FILTER (WHERE k.key IN ('id', 'version', 'etag') OR a.attgenerated <> '')
      INTO set_list, unknown, forbidden
      FROM jsonb_object_keys(patch) AS k(key)
      LEFT JOIN pg_attribute AS a
             ON a.attrelid = tbl AND a.attname = k.key AND a.attnum > 0 AND NOT a.attisdropped;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', unknown, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    IF forbidden IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" cannot be patched', forbidden
            USING ERRCODE = 'generated_always';
    END IF;

    IF set_list IS NULL THEN        -- empty patch: check the version, change nothing
        EXECUTE format('SELECT to_jsonb(t) FROM %s AS t WHERE t.id = $1 AND t.version = $2 FOR UPDATE', tbl)
           INTO result USING id, expected_version;
    ELSE
        EXECUTE format('UPDATE %1$s AS t SET %2$s FROM jsonb_populate_record(NULL::%1$s, $3) AS p
                         WHERE t.id = $1 AND t.version = $2 RETURNING to_jsonb(t)', tbl, set_list)
           INTO result USING id, expected_version, patch;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;

    IF n = 0 THEN
        EXECUTE format('SELECT version FROM %s WHERE id = $1', tbl) INTO current USING id;
        IF current IS NULL THEN
            RAISE EXCEPTION 'row not found in table % for key %', tbl, id
                USING ERRCODE = 'OC404',
                      DETAIL = jsonb_build_object('table', tbl::text, 'key', id)::text,
                      HINT = 'The row does not exist, or row-level security hides it.';
        END IF;
        RAISE EXCEPTION 'version conflict on table % for key %', tbl, id
            USING ERRCODE = 'OC409',
                  DETAIL = jsonb_build_object('table', tbl::text, 'key', id,
                                              'expected_version', expected_version,
                                              'current_version', current)::text,
                  HINT = 'Re-read the row and retry with its current version.';
    END IF;
    RETURN result;
END
$fn$;
