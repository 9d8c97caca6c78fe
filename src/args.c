/*
 * args.c
 *      Argument checks shared by the SQL-callable functions.
 *
 * The SQL functions are not STRICT: a NULL key or time is a bug in the caller
 * and gets an error, not a silent NULL result.  Every check runs before any
 * write, so bad input changes nothing.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

/*
 * Key type of the function being called: the declared type of its first
 * argument, read from the call expression or, failing that, from pg_proc.
 */
Oid
pt_key_type(FunctionCallInfo fcinfo)
{
	Oid			key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (!OidIsValid(key_type))
	{
		HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
		Form_pg_proc proc;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
		proc = (Form_pg_proc) GETSTRUCT(tuple);
		if (proc->pronargs < 1)
			elog(ERROR, "function %u has no key argument", fcinfo->flinfo->fn_oid);
		key_type = proc->proargtypes.values[0];
		ReleaseSysCache(tuple);
	}
	return key_type;
}

/*
 * The extension's schema: the one that holds the function being called.
 * Found by OID on every call, never by name, so a renamed schema or a
 * look-alike created under the old name cannot receive the writes.
 */
Oid
pt_schema(FunctionCallInfo fcinfo)
{
	Oid			schema = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!OidIsValid(schema))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	return schema;
}

/*
 * A writer refuses a read-only transaction (and a standby) before it writes
 * anything, as an UPDATE would: the in-place path (rows.c) bypasses the
 * executor's own check.
 */
void
pt_check_writable(FunctionCallInfo fcinfo)
{
	if (XactReadOnly)
		PreventCommandIfReadOnly(psprintf("%s()", get_func_name(fcinfo->flinfo->fn_oid)));
}

const char *
pt_arg_name(FunctionCallInfo fcinfo, int argno)
{
	static const char *const fallback = "argument";
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	const char *name = fallback;

	if (HeapTupleIsValid(tuple))
	{
		char	  **names;
		char	   *modes;
		Oid		   *types;
		int			nargs = get_func_arg_info(tuple, &types, &names, &modes);

		if (names != NULL && argno < nargs && names[argno] != NULL && names[argno][0] != '\0')
			name = names[argno];
		ReleaseSysCache(tuple);
	}
	return name;
}

/*
 * A key must be present, and a text key must fit PT_MAX_TEXT_KEY_BYTES.
 */
void
pt_check_key(FunctionCallInfo fcinfo, int argno, Oid key_type)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", pt_arg_name(fcinfo, argno))));

	if (key_type == TEXTOID)
	{
		Size		len = toast_raw_datum_size(PG_GETARG_DATUM(argno)) - VARHDRSZ;

		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be empty", pt_arg_name(fcinfo, argno))));
		if (len > PT_MAX_TEXT_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("%s is too long", pt_arg_name(fcinfo, argno)),
					 errdetail("The key is %zu bytes; the limit is %d bytes.",
							   len, PT_MAX_TEXT_KEY_BYTES),
					 errhint("Use a shorter identifier, such as the id your application stores for it.")));
	}
}

/*
 * An array of keys must be present, one-dimensional, free of NULLs, and each
 * text key must fit PT_MAX_TEXT_KEY_BYTES.  Returns the number of keys and
 * sets *keys_out to them.
 */
int
pt_check_key_array(FunctionCallInfo fcinfo, int argno, Oid key_type, Datum **keys_out)
{
	ArrayType  *keys;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", pt_arg_name(fcinfo, argno))));
	keys = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(keys) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", pt_arg_name(fcinfo, argno))));
	get_typlenbyvalalign(key_type, &typlen, &typbyval, &typalign);
	deconstruct_array(keys, key_type, typlen, typbyval, typalign, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", pt_arg_name(fcinfo, argno)),
					 errdetail("Element %d is null.", i + 1)));
		if (key_type == TEXTOID && toast_raw_datum_size(elems[i]) == VARHDRSZ)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain empty keys", pt_arg_name(fcinfo, argno)),
					 errdetail("Element %d is empty.", i + 1)));
		if (key_type == TEXTOID &&
			toast_raw_datum_size(elems[i]) - VARHDRSZ > PT_MAX_TEXT_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("%s has a key that is too long", pt_arg_name(fcinfo, argno)),
					 errdetail("Element %d is %zu bytes; the limit is %d bytes.", i + 1,
							   (Size) (toast_raw_datum_size(elems[i]) - VARHDRSZ), PT_MAX_TEXT_KEY_BYTES)));
	}
	*keys_out = elems;
	return n;
}

/*
 * A client-supplied time must be present, finite, not ahead of the server
 * clock by more than PT_MAX_CLOCK_SKEW_SECS, and not behind it by more than
 * presence_tracking.max_backdate.  The lower bound is what keeps a writer
 * from forging counts: without it, views spaced one debounce apart in the
 * past each open a session.  now() and statement_timestamp() (the start of
 * the transaction or statement) are always accepted, so the default works
 * in a transaction of any length.
 */
TimestampTz
pt_check_time(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz at;
	TimestampTz limit;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", pt_arg_name(fcinfo, argno)),
				 errhint("Omit the argument to use now().")));

	at = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite timestamp", pt_arg_name(fcinfo, argno))));

	limit = GetCurrentTimestamp() + (TimestampTz) PT_MAX_CLOCK_SKEW_SECS * USECS_PER_SEC;
	if (at > limit)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is in the future", pt_arg_name(fcinfo, argno)),
				 errdetail("%s is %s; the server clock reads %s.",
						   pt_arg_name(fcinfo, argno), pstrdup(timestamptz_to_str(at)),
						   pstrdup(timestamptz_to_str(GetCurrentTimestamp()))),
				 errhint("Times more than %d seconds ahead of the server clock are refused; omit the argument to use now().",
						 PT_MAX_CLOCK_SKEW_SECS)));

	limit = GetCurrentTimestamp() - (TimestampTz) pt_max_backdate * USECS_PER_SEC;
	if (pt_max_backdate >= 0 && at < limit &&
		at != GetCurrentTransactionStartTimestamp() && at != GetCurrentStatementStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is too far in the past", pt_arg_name(fcinfo, argno)),
				 errdetail("%s is %s; the earliest time accepted is %s (presence_tracking.max_backdate = %d s).",
						   pt_arg_name(fcinfo, argno), pstrdup(timestamptz_to_str(at)),
						   pstrdup(timestamptz_to_str(limit)), pt_max_backdate),
				 errhint("Omit the argument to use now().  To import older data, a superuser runs SET presence_tracking.max_backdate = -1 in the importing session.")));
	return at;
}

/*
 * The first three arguments of heartbeat_many: arrays of user, artifact and
 * version keys of one length (element i of each is one beat).  Returns the
 * length and sets keys[0..2] to their elements.
 */
int
pt_check_beat_arrays(FunctionCallInfo fcinfo, Oid key_type, Datum **keys)
{
	int			n = pt_check_key_array(fcinfo, 0, key_type, &keys[0]);

	for (int i = 1; i < 3; i++)
		if (pt_check_key_array(fcinfo, i, key_type, &keys[i]) != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("user_ids, artifact_ids and version_ids must have the same length"),
					 errhint("Element i of each array describes one beat.")));
	return n;
}

/*
 * The arguments every writer takes, (user_id, artifact_id, version_id, at),
 * checked and stored in values[0..3] for the SPI plan.
 */
void
pt_writer_args(FunctionCallInfo fcinfo, Oid key_type, Datum *values)
{
	pt_check_writable(fcinfo);
	for (int i = 0; i < 3; i++)
	{
		pt_check_key(fcinfo, i, key_type);
		values[i] = PG_GETARG_DATUM(i);
	}
	values[3] = TimestampTzGetDatum(pt_check_time(fcinfo, 3));
}

/* A one-dimensional array of n keys of the key type. */
Datum
pt_key_array(Oid key_type, int n, Datum *keys)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(key_type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(keys, n, key_type, typlen, typbyval, typalign));
}

/* An interval of whole seconds, with no day or month part. */
Interval *
pt_seconds_interval(int seconds)
{
	Interval   *interval = palloc0(sizeof(Interval));

	interval->time = (int64) seconds * USECS_PER_SEC;
	return interval;
}

/*
 * The start of the window of the given length that ends at "at".  The SQL
 * compares stored times with it directly, so no row pays for interval
 * arithmetic.  A start before the earliest timestamp is -infinity, which no
 * stored time is at or before.
 */
TimestampTz
pt_window_start(TimestampTz at, int seconds)
{
	TimestampTz start = at - (TimestampTz) seconds * USECS_PER_SEC;

	return start < MIN_TIMESTAMP ? DT_NOBEGIN : start;
}
