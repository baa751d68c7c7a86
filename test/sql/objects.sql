-- The extension's objects: the functions of the contract with their signatures and
-- defaults, all SECURITY INVOKER, with declared volatility and a comment; the views
-- (occ_tables, occ_stats, occ_recent_conflicts) and their columns; what PUBLIC may
-- not touch (the secret table, occ_stats_reset).

SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns,
       p.provolatile AS volatility, p.prosecdef AS security_definer,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname IN ('occ_enable', 'occ_disable', 'occ_update', 'occ_update_if_match',
                     'occ_delete', 'occ_delete_if_match', 'occ_merge_patch',
                     'occ_try_update', 'occ_update_many', 'occ_stats_internal',
                     'occ_recent_conflicts_internal', 'occ_stats_reset',
                     'occ_history', 'occ_row_at', 'occ_diff')
 ORDER BY p.proname, p.oid::regprocedure::text;

-- every function that belongs to the extension, so that none slips in unlisted
SELECT p.oid::regprocedure AS extension_function, p.proretset AS returns_set,
       p.proparallel AS parallel
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'occ')
 ORDER BY p.proname, p.oid::regprocedure::text;

-- occ_enable's argument names and defaults; the argument names of the 1.1 functions
SELECT pg_get_function_arguments('occ_enable(regclass, name, name, text, text, int)'::regprocedure)
       AS occ_enable_arguments;
SELECT pg_get_function_arguments('occ_history(regclass, "any")'::regprocedure)
       AS occ_history_arguments;
SELECT pg_get_function_arguments('occ_row_at(regclass, "any", bigint)'::regprocedure)
       AS occ_row_at_arguments;
SELECT pg_get_function_arguments('occ_diff(regclass, "any", bigint, bigint)'::regprocedure)
       AS occ_diff_arguments;
SELECT pg_get_function_arguments('occ_try_update(regclass, "any", bigint, jsonb)'::regprocedure)
       AS occ_try_update_arguments;
SELECT pg_get_function_arguments('occ_update_many(regclass, jsonb)'::regprocedure)
       AS occ_update_many_arguments;

-- every object of the extension runs as the caller
SELECT count(*) AS security_definer_functions
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'occ')
   AND p.prosecdef;

-- the views, their columns and comments; PUBLIC may read them
SELECT c.relname AS view, a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.oid IN ('occ_tables'::regclass, 'occ_stats'::regclass,
                 'occ_recent_conflicts'::regclass)
   AND a.attnum > 0
 ORDER BY c.relname, a.attnum;
SELECT c.relname AS view, c.relkind,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS has_comment,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select
  FROM pg_class c
 WHERE c.oid IN ('occ_tables'::regclass, 'occ_stats'::regclass,
                 'occ_recent_conflicts'::regclass)
 ORDER BY c.relname;

-- the secret table: PUBLIC can do nothing with it
SELECT has_table_privilege('public', 'occ_secret', 'SELECT') AS public_select,
       has_table_privilege('public', 'occ_secret', 'UPDATE') AS public_update,
       has_table_privilege('public', 'occ_secret', 'INSERT') AS public_insert,
       has_table_privilege('public', 'occ_secret', 'DELETE') AS public_delete;

-- only the owner and superusers may reset the statistics; the functions of the
-- contract stay open to PUBLIC
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname IN ('occ_stats_reset', 'occ_try_update', 'occ_update_many',
                     'occ_stats_internal', 'occ_recent_conflicts_internal',
                     'occ_history', 'occ_row_at', 'occ_diff')
 ORDER BY p.proname;
