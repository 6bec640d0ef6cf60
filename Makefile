# The two commands: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: demo test install migrate demo-data run bench load chaos hostile lint check clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# Local demo: SQLite + kombu's filesystem broker under var/, unless DATABASE_URL /
# CELERY_BROKER_URL say otherwise. DEBUG=1 so no SECRET_KEY is needed for a laptop demo.
demo: export DEBUG ?= 1
# The demo's probes and replays call the simulated systems the demo web server serves
# under /demo/ (DEMO_ENDPOINTS, on with DEBUG) on loopback, at HOST:PORT.
demo: export OUTBOUND_URL_ALLOWLIST ?= 127.0.0.1
demo: export HOST := $(HOST)
demo: export PORT := $(PORT)
demo: install
	@$(PY) scripts/port_free.py $(HOST) $(PORT)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "  Control plane: http://$(HOST):$(PORT)/   (API docs: http://$(HOST):$(PORT)/api/docs/)"
	@echo "  Demo logins (demo only): architect / steward / steward2 / finance / executive, password 'demo-pass-2026'"
	@echo "  Admin: admin / demo-pass-2026.  Stop with Ctrl-C."
	@echo
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

# The KPI suite runs a second time on the other database, so SQLite (the demo) and
# PostgreSQL (production) are held to the same figures: on SQLite when DATABASE_URL is
# PostgreSQL (CI), else on KPI_PG_URL. KPI_PG_URL=none skips it (say so in the PR).
KPI_PG_URL ?= postgres://postgres@127.0.0.1:5432/cp_kpis
KPI_OTHER_DB = $(if $(findstring postgres,$(DATABASE_URL)),sqlite:///$(CURDIR)/var/kpi-suite.sqlite3,$(KPI_PG_URL))

test: install
	$(PY) -m pytest $(PYTEST_ARGS)
	@if [ "$(KPI_OTHER_DB)" = "none" ]; then echo "KPI suite on the second database: SKIPPED (KPI_PG_URL=none)"; \
	else echo "== KPI suite again on $(firstword $(subst :, ,$(KPI_OTHER_DB)))"; mkdir -p var; \
	DATABASE_URL=$(KPI_OTHER_DB) $(PY) -m pytest tests/kpis $(PYTEST_ARGS) -p no:cacheprovider; fi

# Schemathesis against /api/schema/ and the bad-input suite (docs/hostile-input.md).
hostile: install
	$(PY) -m pytest tests/hostile -p no:cacheprovider

bench: install
	$(PY) -m tests.benchmarks

# Load: gunicorn (4 workers x 2 threads, production settings) on PostgreSQL + a Redis broker
# and Celery worker, the asyncio client for LOAD_DURATION s (default 60), then figures and
# the reconciliation (exit 1 if it fails). LOAD_DATABASE_URL defaults to .../cp_load.
load: install
	$(PY) -m tests.load $(LOAD_ARGS)

# Fault drills, the long versions of the fault tests: every scripts/chaos/*.py in turn
# (private redis-servers on ports 6390/6391, real workers SIGKILLed, hostile HTTP targets),
# then PostgreSQL "restarting" under load (a TCP proxy in front of it is cut and restored;
# CHAOS_ARGS=--real restarts the actual cluster, which every user of it notices).
# Each prints what it proved and exits non-zero on a failure. Needs DATABASE_URL (PostgreSQL).
chaos: install
	@set -e; for script in scripts/chaos/*.py; do echo "== $$script"; $(PY) $$script; done
	@echo "== tests.load.pg_restart"; $(PY) -m tests.load.pg_restart $(CHAOS_ARGS)

lint: install
	$(PY) -m ruff check .

check: install
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	DEBUG=1 $(PY) manage.py check

clean:
	rm -rf var staticfiles .pytest_cache
