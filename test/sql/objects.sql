-- The extension's objects: the functions of the contract with their signatures and
-- defaults, all SECURITY INVOKER, with declared volatility and a comment; the
-- occ_tables view's columns; the secret table closed to PUBLIC.

SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns,
       p.provolatile AS volatility, p.prosecdef AS security_definer,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname IN ('occ_enable', 'occ_disable', 'occ_update', 'occ_update_if_match',
                     'occ_delete', 'occ_delete_if_match', 'occ_merge_patch')
 ORDER BY p.proname;

-- occ_enable's argument names and defaults
SELECT pg_get_function_arguments('occ_enable(regclass, name, name, text, text)'::regprocedure)
       AS occ_enable_arguments;

-- every object of the extension runs as the caller
SELECT count(*) AS security_definer_functions
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'occ')
   AND p.prosecdef;

-- the view and its columns
SELECT attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute
 WHERE attrelid = 'occ_tables'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT obj_description('occ_tables'::regclass, 'pg_class') IS NOT NULL AS has_comment;

-- the secret table: PUBLIC can do nothing with it
SELECT has_table_privilege('public', 'occ_secret', 'SELECT') AS public_select,
       has_table_privilege('public', 'occ_secret', 'UPDATE') AS public_update,
       has_table_privilege('public', 'occ_secret', 'INSERT') AS public_insert,
       has_table_privilege('public', 'occ_secret', 'DELETE') AS public_delete;
