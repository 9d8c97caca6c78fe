/*
 * presence_tracking.c
 *      Module entry: magic block and settings.
 *
 * The C entry points keep their names across releases, so a new library
 * serves a database whose extension has not been updated yet; a function
 * whose signature changes gets a new entry point and the old one stays.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "miscadmin.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	pt_define_settings();
	/* Preloaded: timeouts are announced by background workers (worker.c). */
	if (process_shared_preload_libraries_in_progress)
		pt_register_launcher();
}
