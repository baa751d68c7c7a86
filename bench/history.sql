-- bench/history.sql: the tables of the row history benchmark (history.sh,
-- issue 16).  Run with psql variables narrow_rows, wide_rows, wide_bytes,
-- history (N) and prefill (whole-table UPDATE passes); occ must be installed
-- and its schema on search_path.
--
-- hist_narrow and hist_wide hold the same three tables, so that the pgbench
-- scripts name a table without a schema (search_path picks the shape):
--   t_plain    no occ                                  plain UPDATE (the floor)
--   t_trigger  occ_enable()d, no history               plain UPDATE + trigger
--   t_history  occ_enable(..., history => N)           plain UPDATE + trigger + history
-- hist_narrow.t_merge (history => N) carries a document three levels deep in
-- attrs for fresh and stale occ_update calls.  t_history and t_merge are
-- updated prefill times before the run, so the run measures history kept at
-- its steady state (N versions per row), not history filling up.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP SCHEMA IF EXISTS bench, hist_narrow, hist_wide CASCADE;
CREATE SCHEMA bench;
CREATE SCHEMA hist_narrow;
CREATE SCHEMA hist_wide;

\ir tables.sql

-- The three tables of one shape, history prefilled.
CREATE FUNCTION bench.make_history_shape(s name, nrows bigint, payload_bytes integer,
                                         history integer, prefill integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM bench.make_plain(s, nrows, payload_bytes);
    PERFORM bench.copy_plain(s, 't_trigger');
    PERFORM occ_enable(format('%I.t_trigger', s)::regclass);
    PERFORM bench.copy_plain(s, 't_history');
    PERFORM occ_enable(format('%I.t_history', s)::regclass, history => history);
    FOR i IN 1 .. prefill LOOP
        EXECUTE format('UPDATE %I.t_history SET score = score + 1', s);
    END LOOP;
END
$fn$;

SELECT bench.make_history_shape('hist_narrow', :narrow_rows, 0, :history, :prefill);
SELECT bench.make_history_shape('hist_wide', :wide_rows, :wide_bytes, :history, :prefill);

-- The merge table: attrs gains {"a": {"b": {"c": 0, "d": 0}}}.  A client patches
-- /attrs/a/b/c when the version it read is even, /attrs/a/b/d when odd, so a
-- client one version behind (merge_stale.sql) always patches the path the last
-- version did not change: a disjoint path, three levels into the document.
-- The prefill keeps to that rule (version v -> v + 1 changes the path of v).
SELECT bench.copy_plain('hist_narrow', 't_merge');
UPDATE hist_narrow.t_merge SET attrs = attrs || '{"a": {"b": {"c": 0, "d": 0}}}';
SELECT occ_enable('hist_narrow.t_merge', history => :history);
CREATE FUNCTION bench.prefill_merge(passes integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 1 .. passes LOOP
        UPDATE hist_narrow.t_merge
           SET attrs = jsonb_set(attrs, ARRAY['a', 'b', CASE WHEN version % 2 = 0 THEN 'c' ELSE 'd' END],
                                 to_jsonb(i));
    END LOOP;
END
$fn$;
SELECT bench.prefill_merge(GREATEST(:prefill, 1));

VACUUM FULL hist_narrow.t_plain, hist_narrow.t_trigger, hist_narrow.t_history,
    hist_narrow.t_history_occ_history, hist_narrow.t_merge, hist_narrow.t_merge_occ_history,
    hist_wide.t_plain, hist_wide.t_trigger, hist_wide.t_history, hist_wide.t_history_occ_history;
ANALYZE;
