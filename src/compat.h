/*
 * compat.h
 *		Every PG_VERSION_NUM shim occ needs, in one place.
 *
 * occ is built and tested on PostgreSQL 15, 17 and 18; 16 goes through the same
 * shims but is not tested.  Each shim names the release that made it necessary.
 */
#ifndef OCC_COMPAT_H
#define OCC_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "occ requires PostgreSQL 15 or later"
#endif

#include "storage/proc.h"
#include "utils/acl.h"

/* Ownership checks were unified into object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define occ_table_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define occ_table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/*
 * 18 replaced the suffix pg_attribute_noreturn() by the prefix pg_noreturn;
 * before 18, GCC-style attributes are accepted as a prefix too.
 */
#if PG_VERSION_NUM < 180000
#define pg_noreturn pg_attribute_noreturn()
#endif

/* 17 moved the backend's local transaction id into MyProc->vxid. */
#if PG_VERSION_NUM >= 170000
#define occ_my_lxid() (MyProc->vxid.lxid)
#else
#define occ_my_lxid() (MyProc->lxid)
#endif

/*
 * 18 lets a library name itself and its version (pg_get_loaded_modules());
 * OCC_VERSION comes from occ.control through the Makefile.
 */
#if PG_VERSION_NUM >= 180000
#define OCC_MODULE_MAGIC PG_MODULE_MAGIC_EXT(.name = "occ", .version = OCC_VERSION)
#else
#define OCC_MODULE_MAGIC PG_MODULE_MAGIC
#endif

#endif							/* OCC_COMPAT_H */
