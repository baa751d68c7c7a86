/*
 * compat.h
 *		Every PG_VERSION_NUM shim occ needs, in one place.
 *
 * occ is tested on PostgreSQL 15; these shims keep 13 to 17 building.
 */
#ifndef OCC_COMPAT_H
#define OCC_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "occ requires PostgreSQL 13 or later"
#endif

#include "utils/acl.h"

/* Ownership checks were unified into object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define occ_table_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define occ_table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/* The shared-memory request hook appeared in 15. */
#if PG_VERSION_NUM >= 150000
#define OCC_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM >= 150000
#define occ_reserve_guc_prefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define occ_reserve_guc_prefix(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* int64_to_numeric() is exported from 14. */
#if PG_VERSION_NUM >= 140000
#include "utils/numeric.h"
#define occ_int64_to_numeric(v) int64_to_numeric(v)
#else
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#define occ_int64_to_numeric(v) DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v)))
#endif

/* InitMaterializedSRF() appeared in 15. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
#define MAT_SRF_USE_EXPECTED_DESC 0x01
static inline void
occ_init_materialized_srf(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (flags & MAT_SRF_USE_EXPECTED_DESC)
		tupdesc = rsinfo->expectedDesc;
	else if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}
#define InitMaterializedSRF(fcinfo, flags) occ_init_materialized_srf(fcinfo, flags)
#endif

#endif							/* OCC_COMPAT_H */
