/*
 * plans.c
 *      Saved SPI plans, one slot per C function.
 *
 * A slot remembers the OID of the SQL function it was prepared for.  When the
 * extension is dropped and created again (possibly with another key type) the
 * OID changes and the plan is prepared afresh with the new argument types;
 * otherwise the plan is reused for the life of the backend, and the plan
 * cache replans it by itself after DDL on the tables.
 */
#include "presence_tracking.h"

SPIPlanPtr
pt_plan(PtPlan *slot, FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *argtypes)
{
	Oid			fn_oid = fcinfo->flinfo->fn_oid;
	SPIPlanPtr	plan;

	if (slot->plan != NULL && slot->fn_oid == fn_oid)
		return slot->plan;

	if (slot->plan != NULL)
	{
		SPI_freeplan(slot->plan);
		slot->plan = NULL;
	}
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	slot->plan = plan;
	slot->fn_oid = fn_oid;
	return plan;
}

void
pt_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
pt_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}
