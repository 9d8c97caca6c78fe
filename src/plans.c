/*
 * plans.c
 *      Saved SPI plans, one slot per C function.
 *
 * SQL text names the extension's tables as PT_SCHEMA_TOKEN.table; the token
 * becomes the current name of the schema that holds the called function,
 * found by OID (pt_schema).  A slot remembers the function's OID and that
 * name: when the extension is created again (possibly with another key type)
 * or its schema is renamed, the plan is prepared afresh; otherwise it is
 * reused for the life of the backend, and the plan cache replans it by
 * itself after DDL on the tables.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* sql with every PT_SCHEMA_TOKEN replaced by the quoted schema name. */
static char *
with_schema(const char *sql, const char *schema_name)
{
	const char *quoted = quote_identifier(schema_name);
	size_t		token_len = strlen(PT_SCHEMA_TOKEN);
	StringInfoData buf;
	const char *p = sql;
	const char *hit;

	initStringInfo(&buf);
	while ((hit = strstr(p, PT_SCHEMA_TOKEN)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, quoted);
		p = hit + token_len;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

SPIPlanPtr
pt_plan(PtPlan *slot, FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *argtypes)
{
	return pt_plan_in(slot, fcinfo->flinfo->fn_oid, pt_schema(fcinfo), sql, nargs, argtypes);
}

/*
 * The plan of sql for schema, kept in slot for the caller "owner" (the SQL
 * function called, or the schema itself for a background worker).
 */
SPIPlanPtr
pt_plan_in(PtPlan *slot, Oid owner, Oid schema, const char *sql, int nargs, Oid *argtypes)
{
	char	   *schema_name = get_namespace_name(schema);
	SPIPlanPtr	plan;

	if (schema_name == NULL)
		elog(ERROR, "schema %u not found", schema);
	if (slot->plan != NULL && slot->fn_oid == owner && strcmp(slot->schema_name, schema_name) == 0)
		return slot->plan;

	if (slot->plan != NULL)
	{
		SPI_freeplan(slot->plan);
		slot->plan = NULL;
		pfree(slot->schema_name);
	}
	plan = SPI_prepare(with_schema(sql, schema_name), nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	slot->plan = plan;
	slot->fn_oid = owner;
	slot->schema_name = MemoryContextStrdup(TopMemoryContext, schema_name);
	return plan;
}

/* Connects to SPI; below a writer, with search_path pinned first. */
void
pt_spi_connect(void)
{
	pt_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
pt_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}
