/*
 * conditional.h
 *		Declarations shared by the files behind the conditional functions:
 *		request.c reads a call's arguments, plans.c prepares and keeps its
 *		statements, conditional.c runs it, merge.c decides a field-level
 *		merge, batch.c runs occ_update_many().
 */
#ifndef OCC_CONDITIONAL_H
#define OCC_CONDITIONAL_H

#include "occ.h"

/* What the statement does ... */
typedef enum OccKind
{
	OCC_KIND_UPDATE,
	OCC_KIND_DELETE,
	OCC_KIND_CHECK,				/* an empty patch: lock and return the row */
	OCC_KIND_CONVERT			/* the patch's values converted to column types */
} OccKind;

/* ... and what it is conditioned on. */
typedef enum OccCond
{
	OCC_COND_VERSION,
	OCC_COND_ETAG,
	OCC_COND_ANY				/* If-Match: * */
} OccCond;


/* How a request ended. */
typedef enum OccOutcome
{
	OCC_OUT_UPDATED,
	OCC_OUT_MERGED,
	OCC_OUT_UNCHANGED,
	OCC_OUT_DELETED,
	OCC_OUT_CONFLICT,
	OCC_OUT_ETAG_MISMATCH,
	OCC_OUT_NOT_FOUND
} OccOutcome;

/* One call's request, once its arguments are checked and converted. */
typedef struct OccRequest
{
	OccTable   *t;
	Relation	rel;
	OccKind		kind;
	OccCond		cond;
	Datum		keys[INDEX_MAX_KEYS];
	int64		expected_version;
	const char *expected_etag;	/* for the DETAIL */
	ArrayType  *etags;			/* the If-Match list */
	Jsonb	   *patch;
	int			ncols;
	AttrNumber *cols;
	bool		typed;			/* patch values converted here, passed as parameters */
	Datum	   *colvals;
	char	   *colnulls;
} OccRequest;

/* What a request did; row is the new, deleted or (on a conflict) current row. */
typedef struct OccResult
{
	OccOutcome	outcome;
	Jsonb	   *row;
	OccErrorInfo info;
} OccResult;

/*
 * How a patch value becomes a value of one column: json/jsonb columns (or
 * domains over them) take the JSON itself, the others the type's input
 * function on the value's text.  Kept per table, indexed by attribute
 * number, so that no call looks up a type (the table's description is
 * rebuilt whenever the table is altered).
 */
typedef struct OccColumnInput
{
	bool		known;			/* filled in */
	bool		is_json;
	Oid			typioparam;
	FmgrInfo	input;
} OccColumnInput;

/* A cached statement: what it does, on what condition, for which patch shape. */
typedef struct OccPlan
{
	OccKind		kind;
	OccCond		cond;
	bool		typed;			/* an UPDATE taking typed values as parameters */
	int			ncols;			/* patch columns, in jsonb key order */
	AttrNumber *cols;
	SPIPlanPtr	plan;			/* kept */
} OccPlan;

/* request.c */
extern OccColumnInput *occ_column_input(OccRequest *r, AttrNumber attnum);
extern void occ_keys_from_json(OccTable *t, JsonbValue *v, Datum *keys);
extern void occ_patch_shape(OccRequest *r);
extern void occ_fill_params(OccRequest *r, Datum *values, char *nulls);
extern void occ_open_request(OccRequest *r, Oid relid, LOCKMODE lockmode);
extern void occ_read_id(FunctionCallInfo fcinfo, OccRequest *r);
extern void occ_read_request(FunctionCallInfo fcinfo, OccRequest *r, OccKind kind,
							 OccCond cond);

/* plans.c */
extern void occ_prepare_table_sql(OccTable *t);
extern SPIPlanPtr occ_get_plan(OccRequest *r);
extern SPIPlanPtr occ_probe_plan(OccTable *t, bool lock);

/* merge.c */
extern void occ_merge_check(OccRequest *r, Jsonb *current, Jsonb *fv,
							int64 current_version, OccErrorInfo *info);
extern bool occ_history_merge(OccRequest *r, OccResult *res, Jsonb *current_row,
							  int64 current);

/* conditional.c */
extern Jsonb *occ_execute(OccRequest *r);
extern void occ_run(OccRequest *r, OccResult *res);
extern bool occ_moves_possible(OccRequest *r);
extern bool occ_unchanged(OccTable *t, Jsonb *row, int64 version, uint64 noops);
extern void occ_catch_moved(MemoryContext mcxt, ResourceOwner owner);
extern void occ_count(OccRequest *r, OccResult *res);
extern Datum occ_guarded(Datum (*fn) (FunctionCallInfo, OccKind, OccCond),
						 FunctionCallInfo fcinfo, OccKind kind, OccCond cond);

#endif							/* OCC_CONDITIONAL_H */
