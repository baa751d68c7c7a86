/*
 * occ.h
 *		Declarations shared by occ's source files.
 *
 * describe.c describes an enabled table, meta.c caches it per relation,
 * etag.c makes ETags, errors.c raises the OC-class errors, trigger.c and
 * conditional.c (with conditional.h's files) use them all.
 */
#ifndef OCC_H
#define OCC_H

#include "postgres.h"

#include "compat.h"

#include "access/attnum.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/reltrigger.h"

#define OCC_TRIGGER_NAME	"zz_occ_version"
#define OCC_EXTENSION_NAME	"occ"
#define OCC_SECRET_TABLE	"occ_secret"
#define OCC_ETAG_LEN		24		/* base64url characters in an ETag */
#define OCC_MAX_PLANS		64		/* cached statements per table */
#define OCC_HISTORY_NPLANS	4		/* history.c's statements per table */
#define OCC_HISTORY_MAX		10000	/* the most versions history => N keeps */
#define OCC_HISTORY_TRIGGER_NAME "zz_occ_history"
#define OCC_HISTORY_TRUNCATE_TRIGGER_NAME "zz_occ_history_truncate"

/* SQLSTATE class OC: the last three characters are the HTTP status. */
#define ERRCODE_OCC_CONFLICT				MAKE_SQLSTATE('O','C','4','0','9')
#define ERRCODE_OCC_PRECONDITION_FAILED		MAKE_SQLSTATE('O','C','4','1','2')
#define ERRCODE_OCC_NOT_FOUND				MAKE_SQLSTATE('O','C','4','0','4')
#define ERRCODE_OCC_PRECONDITION_REQUIRED	MAKE_SQLSTATE('O','C','4','2','8')
#define ERRCODE_OCC_GONE					MAKE_SQLSTATE('O','C','4','1','0')

typedef enum OccGranularity
{
	OCC_GRANULARITY_ROW,
	OCC_GRANULARITY_FIELD
} OccGranularity;

typedef enum OccVersionInput
{
	OCC_INPUT_IGNORE,
	OCC_INPUT_EXPECTED,
	OCC_INPUT_NEXT
} OccVersionInput;

/* One primary-key column. */
typedef struct OccKeyColumn
{
	AttrNumber	attnum;
	char	   *name;
	Oid			typid;
	Oid			basetypid;		/* typid, or the base type of a domain */
	int32		typmod;
	int16		typlen;
	bool		typbyval;
	Oid			typinput;
	Oid			typioparam;
	Oid			typoutput;
	char	   *eqop;			/* "OPERATOR(schema.=)" for the key type */
	char	   *sqltype;		/* qualified type name with typmod */
} OccKeyColumn;

/*
 * What occ knows about one enabled relation.  Built from the relcache and
 * the trigger's arguments, dropped when the relcache entry is invalidated.
 */
typedef struct OccTable
{
	Oid			relid;
	MemoryContext mcxt;
	bool		valid;

	/* configuration, from the trigger's arguments */
	char	   *version_col;
	char	   *etag_col;
	OccGranularity granularity;
	OccVersionInput version_input;

	AttrNumber	version_attnum;
	Oid			version_typid;	/* INT4OID or INT8OID */
	int64		start_version;	/* what INSERT stores: the column's DEFAULT, or 1 */
	AttrNumber	etag_attnum;
	char	   *fields_col;		/* field granularity: the per-field versions */
	AttrNumber	fields_attnum;	/* InvalidAttrNumber with row granularity */

	int			nkeys;
	OccKeyColumn keys[INDEX_MAX_KEYS];

	char	   *nspname;
	char	   *relname;
	char	   *qualified_name; /* schema.table, quoted where SQL needs it: SQL text */
	char	   *display_name;	/* the same, but on a Citus shard the distributed
								 * table's: the DETAIL's "table" */
	char	   *plain_name;		/* display_name unquoted, for messages */
	bool		is_partition;

	/* for the conditional functions (plans.c owns the statements) */
	char	   *ext_schema;		/* quoted schema of the extension */
	char	   *key_cond;		/* WHERE fragment over $1..$nkeys */
	SPIPlanPtr	probe_plan;		/* SELECT version, etag, row by key */
	SPIPlanPtr	probe_lock_plan;	/* the same, FOR UPDATE */
	List	   *plans;			/* struct OccPlan *, most recent first */
	struct OccJsonRow *json_row;	/* how returned rows become JSON (rowjson.c) */
	struct OccColumnInput *col_input;	/* how patch values become column values (request.c) */

	/* stats.c: counters go to the partitioned table of a partition */
	Oid			stats_relid;
	char	   *stats_nspname;
	char	   *stats_relname;
	/* this table's shared counters, while stats_generation holds */
	struct OccStatsEntry *stats_entry;
	uint64		stats_generation;

	/* citus.c: a table Citus manages, or one of its shards */
	bool		citus;
	uint64		citus_shardid;	/* this relation is that shard; 0 if not a shard */
	uint64		citus_xact;		/* rebuild after this transaction; 0: keep */

	/* history.c: history => N (0: off), the table that keeps it, its statements */
	int32		history;
	char	   *history_nspname;
	char	   *history_relname;
	char	   *history_qname;	/* quoted and qualified */
	Oid			history_relid;
	SPIPlanPtr	history_plans[OCC_HISTORY_NPLANS];
} OccTable;

/* Is the column one of occ's own (version, ETag, field versions)? */
static inline bool
occ_own_column(OccTable *t, AttrNumber attnum)
{
	return attnum == t->version_attnum || attnum == t->etag_attnum ||
		attnum == t->fields_attnum;
}

/* meta.c */
extern OccTable *occ_table_for_relation(Relation rel, bool missing_ok);
extern void occ_meta_init(void);
extern bool occ_call_nested(void);
extern void occ_call_enter(void);
extern void occ_call_exit(void);

/* describe.c */
typedef struct OccColumnTypes
{
	Oid			version;		/* InvalidOid: the column is missing */
	Oid			etag;
	Oid			fields;
} OccColumnTypes;
extern OccTable *occ_build_table(Relation rel, char **args, int nargs);
extern Oid	occ_column_type(Relation rel, const char *name);
extern Oid	occ_check_columns(Relation rel, const char *relname,
							  const char *version_col, const char *etag_col,
							  const char *fields_col, OccColumnTypes *types);
extern AttrNumber occ_find_column(TupleDesc desc, const char *name);
extern Oid	occ_primary_key_index(Relation rel, const char *name);
extern Trigger *occ_find_trigger(Relation rel);
extern bool occ_relation_enabled(Relation rel, OccGranularity *g,
								 char **version_col, char **etag_col);
extern bool occ_parse_granularity(const char *s, OccGranularity *g);
extern bool occ_parse_version_input(const char *s, OccVersionInput *v);
extern const char *occ_granularity_name(OccGranularity g);
extern const char *occ_version_input_name(OccVersionInput v);
extern char *occ_extension_schema(bool missing_ok);
extern Oid	occ_extension_namespace(void);

/* hmac.c */
#define OCC_SHA256_BLOCK 64
#define OCC_SHA256_LEN 32
typedef struct OccSha256
{
	uint32		h[8];
	uint64		len;			/* bytes hashed so far */
	uint8		buf[OCC_SHA256_BLOCK];
	int			used;
} OccSha256;
typedef struct OccHmac
{
	OccSha256	inner;			/* states after the padded key */
	OccSha256	outer;
} OccHmac;
extern void occ_hmac_init(OccHmac *h, const uint8 *key, size_t keylen);
extern void occ_hmac(const OccHmac *h, const uint8 *msg, size_t len, uint8 *out);

/* etag.c */
extern text *occ_etag_compute(OccTable *t, Datum *keys, int64 version,
							  const char *prev, int prevlen);
extern void occ_etag_init(void);

/*
 * What an OC error reports.  Fields that are unknown (or, for OC404, must
 * not be revealed) are left out of the DETAIL.
 */
typedef struct OccErrorInfo
{
	int			sqlstate;
	bool		has_expected_version;
	int64		expected_version;
	const char *expected_etag;
	bool		has_current;
	int64		current_version;
	const char *current_etag;
	bool		has_fields;		/* changed/conflicting fields are known */
	List	   *changed_fields; /* char * */
	List	   *conflicting_fields; /* char * */
	bool		hide_key;		/* the caller may not read the row's key */
	bool		moved;			/* OC404: a concurrent update moved the row to another partition */
	bool		has_version;	/* history: the version asked for (OC404, OC410) */
	int64		version;
	int64		oldest_kept_version;	/* OC410 */
	bool		has_history;	/* a history merge found the three lists below */
	List	   *conflicting_paths;	/* char *: JSON Pointers */
	List	   *changed_by;		/* char *: roles of the versions since */
	List	   *reasons;		/* char *: their occ.reason */
	Jsonb	   *changes_since;	/* merge patch from the client's version to now */
	const char *items_json;		/* occ_update_many: the failing items */
	int			nitems;
} OccErrorInfo;

/* errors.c */
extern void occ_key_json(StringInfo buf, OccTable *t, Datum *keys);
extern uint32 occ_key_hash(OccTable *t, Datum *keys);
extern void occ_names_json(StringInfo buf, List *names);
extern void occ_json_key(StringInfo buf, const char *key);
extern void occ_json_string(StringInfo buf, const char *key, const char *value);
extern void occ_error_members(StringInfo buf, OccTable *t, Datum *keys,
							  OccErrorInfo *info, bool with_table);
pg_noreturn extern void occ_raise(OccTable *t, Datum *keys, OccErrorInfo *info);

/* fields.c */
#define OCC_FIELDS_COLUMN	"field_versions"
extern Jsonb *occ_fields_initial(int64 base);
extern Jsonb *occ_fields_after_update(OccTable *t, TupleDesc desc, Jsonb *oldfv,
									  int64 base, int64 newver,
									  Datum *ov, bool *on, Datum *nv, bool *nn,
									  bool *changed);
extern int64 occ_fields_orphan_version(Jsonb *fv, TupleDesc desc);
extern int64 occ_fields_column_version(Jsonb *fv, const char *col, int64 orphan);
extern int64 occ_fields_member_version(Jsonb *fv, const char *col,
									   const char *member, int memberlen,
									   int64 orphan);

/* rowjson.c */
extern bool occ_jsonb_values_equal(JsonbValue *a, JsonbValue *b);
extern JsonbValue *occ_json_member(JsonbContainer *c, const char *key, int len);
extern char *occ_json_scalar_text(JsonbValue *v);
extern bool occ_is_json_type(Oid typid);
extern Jsonb *occ_datum_as_jsonb(Oid typid, Datum d);
extern Jsonb *occ_row_to_jsonb(OccTable *t, HeapTuple tup, TupleDesc desc);
extern Jsonb *occ_columns_to_jsonb(OccTable *t, HeapTuple tup, TupleDesc desc,
								   const bool *only);
extern void occ_push_key(JsonbParseState **st, const char *key, int len);
extern void occ_push_names(JsonbParseState **st, List *names);

/* plans.c */
extern void occ_free_plans(OccTable *t);
extern void occ_free_retired_plans(void);

/* inheritance.c */
extern void occ_check_no_children(Relation rel);

/* patch.c */
extern Jsonb *occ_merge_jsonb(Jsonb *target, Jsonb *patch);

/* stats.c */
typedef enum OccStatEvent
{
	OCC_STAT_UPDATE,			/* a row changed (any writer) */
	OCC_STAT_NOOP,				/* an UPDATE that changed nothing */
	OCC_STAT_MERGE,				/* a stale occ_update merged field by field */
	OCC_STAT_CONFLICT,			/* OC409 */
	OCC_STAT_ETAG_MISMATCH,		/* OC412 */
	OCC_STAT_NOT_FOUND,			/* OC404 */
	OCC_STAT_REQUIRED,			/* OC428 */
	OCC_STAT_SUCCESS			/* an occ_* call succeeded (resolves retries) */
} OccStatEvent;
extern void occ_stats_event(OccTable *t, OccStatEvent ev, Datum *keys,
							OccErrorInfo *info);
extern void occ_stats_init(void);

/* backfill.c */
typedef enum OccBackfill
{
	OCC_BACKFILL_NONE,
	OCC_BACKFILL_ALL,			/* first ETag (and field versions) for every row */
	OCC_BACKFILL_FIELDS			/* field versions only: switching to 'field' */
} OccBackfill;
extern void occ_backfill_rows(const char *qname, const char *etag_col, OccBackfill backfill,
							  List *relids, bool forced, bool citus);
extern OccBackfill occ_backfill_of(OccTable *t, TupleDesc desc, HeapTuple newtup);

/* enable.c */
extern void occ_exec(const char *sql);

/* trigger.c */
extern uint64 occ_noop_updates;
extern bool occ_row_changes(OccTable *t, TupleDesc desc, HeapTuple oldtup,
							HeapTuple newtup, bool *changed);

/* jsondiff.c */
extern JsonbValue *occ_jsonb_value(Jsonb *j);
extern Jsonb *occ_json_diff(Jsonb *a, Jsonb *b);
extern void occ_diff_push_value(JsonbParseState **st, JsonbValue *a, JsonbValue *b);
extern void occ_pointer_append(StringInfo path, const char *key, int len);
extern void occ_merge3_conflicts(JsonbValue *base, JsonbValue *theirs, JsonbValue *ours,
								 bool deep, StringInfo path, List **conflicts);

/* history.c */
typedef struct OccVersionRecord
{
	int64		version;
	char	   *etag;
	bool		has_changed_at;
	TimestampTz changed_at;
	char	   *changed_by;
	char	   *reason;
	Jsonb	   *row;			/* as stored: the values the next version replaced;
								 * from occ_history_records(): the image, or NULL */
} OccVersionRecord;
extern char *occ_reason;
extern void occ_history_init(void);
extern void occ_history_describe(OccTable *t, Relation rel, char **args, int nargs);
extern void occ_history_free_plans(OccTable *t);
extern void occ_history_record_update(OccTable *t, TupleDesc desc, HeapTuple oldtup,
									  Datum *newkeys, int64 oldver, int64 newver,
									  Datum newetag, const bool *changed);
extern List *occ_history_records(OccTable *t, Datum *keys, int64 from_version,
								 Jsonb *current_row, int64 current);
extern void occ_history_rekey(OccTable *t, Datum *oldkeys, Datum *newkeys);
extern bool occ_caller_may_select_row(OccTable *t);

/* historywrite.c */
extern void occ_history_check(OccTable *t);
extern void occ_history_inserted(OccTable *t, TupleDesc desc, HeapTuple tup);
extern void occ_history_deleted(OccTable *t, TupleDesc desc, HeapTuple tup);

/* historytable.c */
extern int32 occ_relation_history(Relation rel, char **nspname, char **relname);
extern char *occ_history_table_name(Relation rel);
extern void occ_history_create(Relation rel, Oid pkoid, const char *nspname,
							   const char *relname);
extern void occ_history_drop(const char *nspname, const char *relname);
extern void occ_history_link(Oid relid, const char *nspname, const char *relname);
extern void occ_history_rekeep(OccTable *t);

/* citus.c */
struct TriggerData;
extern Trigger *occ_citus_shard_trigger(Relation rel);
extern void occ_citus_describe(OccTable *t, Relation rel);
extern bool occ_citus_current(OccTable *t);
extern bool occ_citus_check_enable(Relation rel, bool enabling);
extern int	occ_citus_allow_triggers(void);
extern void occ_citus_restore_triggers(int level);
extern bool occ_citus_keeps_insert(OccTable *t, Relation rel, TupleDesc desc,
								   HeapTuple tup);
extern OccBackfill occ_citus_backfill(OccTable *t, struct TriggerData *td);

#endif							/* OCC_H */
