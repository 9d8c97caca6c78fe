# presence_tracking: one source, three extensions that differ only in key type.
#
#   make run     install what is missing, build, install, start a demo server
#   make test    install what is missing, build, run every test suite
#   make stop    stop the server started by make run
#   make demo    the live face pile example in the browser (examples/face-pile)
#   make bench   the benchmark (bench/README.md); make soak: the 5-minute soak
#   make help    every target, one line each
#
# The PGXS part below builds the shared library and generates, from
# presence_tracking.control and sql/*.sql.in, the control files and scripts
# of presence_tracking (bigint), presence_tracking_uuid and
# presence_tracking_text.

PG_CONFIG ?= pg_config

EXTENSION = presence_tracking
MODULE_big = presence_tracking
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

# Key type of each extension built from this source.
KEY_TYPE_presence_tracking = bigint
KEY_TYPE_presence_tracking_uuid = uuid
KEY_TYPE_presence_tracking_text = text
VARIANTS = presence_tracking presence_tracking_uuid presence_tracking_text

SQL_SOURCES = $(notdir $(basename $(sort $(wildcard sql/presence_tracking--*.sql.in))))
BUILT_SQL = $(foreach v,$(VARIANTS),$(addprefix build/,$(subst presence_tracking--,$(v)--,$(SQL_SOURCES))))
DATA_built = $(BUILT_SQL) build/presence_tracking_uuid.control build/presence_tracking_text.control
EXTRA_CLEAN = build output_regress* output_iso* tmp_check_regress* tmp_check_iso*

# Regression tests in test/sql, isolation specs in test/specs, expected
# output of both in expected/ (test/expected links to it), TAP tests in test/t.
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test
TAP_TESTS = 1
# The suites need their own configuration (test/test.conf): make test runs
# them; installcheck against an arbitrary server is not supported.
NO_INSTALLCHECK = 1
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS = --verbose

# PGXS is there once the server headers are installed (make run and make
# test install them first); the targets that build need it.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else ifneq ($(filter-out run stop demo test bench bench-citus soak valgrind help,$(or $(MAKECMDGOALS),all)),)
$(error PGXS not found through PG_CONFIG=$(PG_CONFIG): install postgresql-server-dev-15 (make run and make test do it for you), or set PG_CONFIG to your server's pg_config)
endif

# Every source file includes the shared header.
$(OBJS): src/presence_tracking.h src/compat.h src/rules.h

# The scripts of each extension: sql/*.sql.in with its key type and name.
define key_type_rules
build/$(1)--%.sql: sql/presence_tracking--%.sql.in
	@mkdir -p build
	sed -e 's/@KEY_TYPE@/$(KEY_TYPE_$(1))/g' -e 's/@EXTENSION@/$(1)/g' $$< > $$@
endef
$(foreach v,$(VARIANTS),$(eval $(call key_type_rules,$(v))))

build/presence_tracking_%.control: presence_tracking.control
	@mkdir -p build
	sed -e 's/(bigint keys)/($* keys)/' $< > $@

# Each suite on its own, so that the test driver can run all and report each.
# The regression and isolation suites run in temporary instances configured
# by test/test.conf (as pg_stat_statements' do), against the installed
# extension; WRITE_PATH=sql runs them again with every write through SQL
# (test/force_sql_path.conf), for the same expected output.
TEST_CONFIGS = --temp-config=test/test.conf $(if $(filter sql,$(WRITE_PATH)),--temp-config=test/force_sql_path.conf)
TEST_OUTPUT = $(if $(filter sql,$(WRITE_PATH)),_sql_path)
check-regress:
	$(pg_regress_installcheck) --temp-instance=tmp_check_regress$(TEST_OUTPUT) \
	  --outputdir=output_regress$(TEST_OUTPUT) $(TEST_CONFIGS) $(REGRESS_OPTS) $(REGRESS)
check-isolation:
	$(pg_isolation_regress_installcheck) --temp-instance=tmp_check_iso$(TEST_OUTPUT) \
	  --outputdir=output_iso$(TEST_OUTPUT) $(TEST_CONFIGS) $(ISOLATION_OPTS) $(ISOLATION)
installcheck-tap:
	$(prove_installcheck)
# The same suites against a running server (PGHOST, PGPORT) configured like
# test/test.conf: make valgrind runs them under Memcheck this way.
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

run:
	@bash scripts/run.sh
stop:
	@bash scripts/stop.sh
demo:
	@bash scripts/demo.sh
test:
	@bash scripts/test.sh
bench:
	@bash bench/run.sh
# record_view and heartbeat on a local Citus cluster against one server (needs Citus).
bench-citus:
	@bash bench/citus.sh
# The regression and isolation suites under Valgrind Memcheck (not in make test: slow).
valgrind:
	@bash scripts/valgrind.sh
# The soak test alone, for PT_SOAK_SECONDS (default 300; make test runs 30).
soak:
	@PT_SOAK_SECONDS=$${PT_SOAK_SECONDS:-300} PT_SUITES=tap PROVE_TESTS=test/t/005_soak.pl bash scripts/test.sh

help:
	@echo 'make run       install what is missing, build, install, start PostgreSQL 15 on port 5499 and play the demo (PT_PORT, PT_DATA)'
	@echo 'make test      install what is missing, build, install, run every suite on a throwaway server'
	@echo 'make stop      stop the server of make run (PT_DATA=... make stop for another data directory)'
	@echo 'make demo      the live face pile in the browser, on the make run server (PT_DATA, PT_PORT; PT_WEB_PORT, default 8080)'
	@echo 'make bench     the benchmark against bench/handwritten.sql, about 20 minutes (bench/README.md)'
	@echo 'make bench-citus  record_view and heartbeat on a local Citus cluster against one server, about 5 minutes (needs Citus)'
	@echo 'make soak      the soak test alone, for PT_SOAK_SECONDS (default 300)'
	@echo 'make valgrind  the regression and isolation suites under Valgrind Memcheck, about 4 minutes'
	@echo 'make help      this list'

.PHONY: run stop demo test bench bench-citus soak valgrind help check-regress check-isolation installcheck-tap installcheck-regress installcheck-isolation
