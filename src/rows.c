/*
 * rows.c
 *      One row of an extension table, found and locked by its primary key
 *      and rewritten in place: the write most calls make.
 *
 * A heartbeat on a row that exists, or a view inside an open session,
 * changes a few columns of one row that the primary key finds.  Doing that
 * through SPI sets up a plan's whole executor state for every call; here it
 * is an index probe, a row lock and the same table and index update the
 * executor makes (ExecSimpleRelationUpdate, as logical replication applies
 * an UPDATE).  The row is found with a dirty snapshot and locked like an
 * UPDATE would, waiting for a transaction that is writing it and looking
 * again after a concurrent update, so that the new values are computed from
 * the latest committed version under the lock.
 *
 * Only a table as the extension created it takes this path: a table that
 * has triggers, rules, CHECK constraints, generated columns or row security,
 * a column whose type is not the plain type the extension wrote (a domain,
 * which may carry constraints, or a type modifier), or that the current
 * user may not update, is left to SQL (pt_rows_open returns false), where
 * the executor applies all of those.  So is every table while the developer
 * setting presence_tracking.force_sql_path is on, and every write in a
 * REPEATABLE READ or SERIALIZABLE transaction: the latest row version is
 * what this path writes, and those levels must instead fail on a row changed
 * since their snapshot.  Read-only transactions are refused before either
 * path runs (pt_check_writable).
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "compat.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * Whether every column of rel has one of the types the extension's tables
 * are made of, without a type modifier: what this path writes is then
 * exactly what an UPDATE would store.  Anything else (a domain, which may
 * check its values, another type, a precision) is for the executor.
 */
static bool
columns_are_plain(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (att->atttypmod != -1)
			return false;
		switch (att->atttypid)
		{
			case INT8OID:
			case UUIDOID:
			case TEXTOID:
			case TIMESTAMPTZOID:
			case JSONBOID:
				break;
			default:
				return false;
		}
	}
	return true;
}

/*
 * Opens table relname of the extension (in schema, by OID) for row writes.
 * Returns false, with nothing left open, when the table must be written
 * through SQL.
 */
bool
pt_rows_open(PtRows *t, Oid schema, const char *relname)
{
	Oid			relid;
	Relation	rel;
	TupleConstr *constr;
	RangeTblEntry *rte;

	if (pt_force_sql_path)
		return false;
	relid = get_relname_relid(relname, schema);
	/* A Citus table's rows are in its shards, not here (citus.c). */
	if (!OidIsValid(relid) || pt_citus_table(relid))
		return false;
	rel = table_open(relid, RowExclusiveLock);
	constr = RelationGetDescr(rel)->constr;
	if (IsolationUsesXactSnapshot() || !columns_are_plain(rel) ||
		rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->trigdesc != NULL || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
		(constr != NULL && (constr->num_check > 0 || constr->has_generated_stored)) ||
		!OidIsValid(RelationGetPrimaryKeyIndex(rel)) ||
		pg_class_aclmask(relid, GetUserId(), ACL_SELECT | ACL_UPDATE, ACLMASK_ALL) !=
		(ACL_SELECT | ACL_UPDATE))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	/*
	 * Rows this statement wrote before the call must be visible to the lock
	 * below, as SPI would make them (a no-op when there were none).
	 */
	CommandCounterIncrement();

	t->rel = rel;
	t->pkey = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	t->estate = CreateExecutorState();
	t->estate->es_snapshot = GetActiveSnapshot();
	/* A range table entry for the messages of a failed NOT NULL check. */
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	pt_init_range_table(t->estate, list_make1(rte));
	t->result = makeNode(ResultRelInfo);
	InitResultRelInfo(t->result, rel, 1, NULL, 0);
	ExecOpenIndices(t->result, false);
	t->old = table_slot_create(rel, NULL);
	t->row = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	ExecClearTuple(t->row);
	memset(t->row->tts_isnull, true, sizeof(bool) * RelationGetDescr(rel)->natts);

	/* One scan of the primary key, with a dirty snapshot, for every probe. */
	t->nkeys = IndexRelationGetNumberOfKeyAttributes(t->pkey);
	for (int k = 0; k < t->nkeys; k++)
		pt_key_scankey(t->pkey, k, &t->keys[k]);
	InitDirtySnapshot(t->dirty);
	t->scan = pt_index_beginscan(rel, t->pkey, &t->dirty, t->nkeys, 0);
	return true;
}

/*
 * Scan key k of btree index: equality on its key column k + 1, with the
 * value left for the caller to set in sk_argument.
 */
void
pt_key_scankey(Relation index, int k, ScanKey key)
{
	Oid			type = index->rd_opcintype[k];
	Oid			equals = get_opfamily_member(index->rd_opfamily[k], type, type,
											 BTEqualStrategyNumber);

	if (!OidIsValid(equals))
		elog(ERROR, "no equality operator for column %d of index \"%s\"", k + 1,
			 RelationGetRelationName(index));
	ScanKeyInit(key, k + 1, BTEqualStrategyNumber, get_opcode(equals), (Datum) 0);
	key->sk_collation = index->rd_indcollation[k];
}

void
pt_rows_close(PtRows *t)
{
	index_endscan(t->scan);
	ExecDropSingleTupleTableSlot(t->old);
	ExecDropSingleTupleTableSlot(t->row);
	ExecCloseIndices(t->result);
	FreeExecutorState(t->estate);
	/* Locks are kept to the end of the transaction, as for any write. */
	index_close(t->pkey, NoLock);
	table_close(t->rel, NoLock);
}

/*
 * Index in the tuple descriptor of rel of its column name, the column
 * number pt_rows_set and pt_rows_get take: looked up once per call, not once
 * per row of a batch.
 */
int
pt_column_index(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	elog(ERROR, "column \"%s\" of table \"%s\" does not exist", name, RelationGetRelationName(rel));
	return -1;					/* not reached */
}

/* A column of the row: the key to look for, or the value to write. */
void
pt_rows_set(PtRows *t, int column, Datum value)
{
	t->row->tts_values[column] = value;
	t->row->tts_isnull[column] = false;
}

/* A column of the row, as found by pt_rows_lock or as set since. */
Datum
pt_rows_get(PtRows *t, int column)
{
	Assert(!t->row->tts_isnull[column]);
	return t->row->tts_values[column];
}

/* Adds one to a bigint column of the row. */
void
pt_rows_increment(PtRows *t, int column)
{
	int64		sum;

	if (pg_add_s64_overflow(DatumGetInt64(pt_rows_get(t, column)), 1, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	pt_rows_set(t, column, Int64GetDatum(sum));
}

/*
 * Finds the row whose primary key columns hold the values set with
 * pt_rows_set, waiting first for a transaction that is inserting or changing
 * it.  Returns false when there is no such row.  The row is not locked yet.
 */
bool
pt_rows_probe(PtRows *t)
{
	for (int k = 0; k < t->nkeys; k++)
	{
		int			column = t->pkey->rd_index->indkey.values[k] - 1;

		if (t->row->tts_isnull[column])
			elog(ERROR, "no key for column %d of \"%s\"", column + 1, RelationGetRelationName(t->rel));
		t->keys[k].sk_argument = t->row->tts_values[column];
	}
	for (;;)
	{
		TransactionId writer;

		CHECK_FOR_INTERRUPTS();
		index_rescan(t->scan, t->keys, t->nkeys, NULL, 0);
		if (!index_getnext_slot(t->scan, ForwardScanDirection, t->old))
			return false;
		writer = TransactionIdIsValid(t->dirty.xmin) ? t->dirty.xmin : t->dirty.xmax;
		if (!TransactionIdIsValid(writer))
			return true;
		XactLockTableWait(writer, t->rel, &t->old->tts_tid, XLTW_Lock);
	}
}

/*
 * Locks the row pt_rows_probe found, as an UPDATE of non-key columns does,
 * and loads its columns for pt_rows_get.  Returns false when it was updated
 * or deleted since the probe: probe again.  Once locked, no other
 * transaction can change the row until this one ends.
 */
bool
pt_rows_lock_probed(PtRows *t)
{
	ItemPointerData tid = t->old->tts_tid;

	return pt_rows_lock_at(t, &tid);
}

/*
 * Locks the row version at tid, found by an earlier probe of the same key,
 * and loads it, as pt_rows_lock_probed does; false when that version has
 * been updated or deleted since (probe again).  A batch that read its rows
 * first saves the second index probe this way.
 */
bool
pt_rows_lock_at(PtRows *t, ItemPointer tid)
{
	TM_FailureData failure;
	TM_Result	result;
	int			natts = RelationGetDescr(t->rel)->natts;

	t->estate->es_output_cid = GetCurrentCommandId(true);
	result = table_tuple_lock(t->rel, tid, GetActiveSnapshot(), t->old,
							  t->estate->es_output_cid, LockTupleNoKeyExclusive,
							  LockWaitBlock, 0, &failure);
	if (result == TM_Updated || result == TM_Deleted)
		return false;
	if (result != TM_Ok)
		elog(ERROR, "unexpected result %d locking a row of \"%s\"", (int) result,
			 RelationGetRelationName(t->rel));
	slot_getallattrs(t->old);
	ExecClearTuple(t->row);
	memcpy(t->row->tts_values, t->old->tts_values, sizeof(Datum) * natts);
	memcpy(t->row->tts_isnull, t->old->tts_isnull, sizeof(bool) * natts);
	return true;
}

/* Finds and locks the row (pt_rows_probe, pt_rows_lock_probed). */
bool
pt_rows_lock(PtRows *t)
{
	while (pt_rows_probe(t))
	{
		CHECK_FOR_INTERRUPTS();
		if (pt_rows_lock_probed(t))
			return true;
	}
	return false;
}

/*
 * Writes the row locked by pt_rows_lock, with the columns changed since by
 * pt_rows_set, as a new version of it (HOT when the page has room and no
 * indexed column changed), and makes the write visible to the next command.
 */
void
pt_rows_update(PtRows *t)
{
	ExecStoreVirtualTuple(t->row);
	ExecSimpleRelationUpdate(t->result, t->estate, NULL, t->old, t->row);
	/* Ready for the next row of a batch. */
	ExecClearTuple(t->row);
	ResetPerTupleExprContext(t->estate);
	CommandCounterIncrement();
}
