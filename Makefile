# PhotoChanger — `make run` starts a ready server, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 0.0.0.0
export FLASK_APP := photochanger

APT_PACKAGES := postgresql nginx-light chromium fonts-dejavu-core redis-server prometheus

.PHONY: install install-dev run test test-sqlite test-postgres lint system-deps clean

$(BIN)/.venv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	touch $@

# The server needs only the runtime packages; the suite adds the dev tools.
$(BIN)/.installed: setup.cfg pyproject.toml $(BIN)/.venv
	$(BIN)/pip install -q -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

## run: migrate, seed 15 slots, set an ingest password, start gunicorn on $(PORT)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-slots
	@$(BIN)/flask set-ingest-password --if-unset --by make-run
	@$(BIN)/flask admin-bootstrap
	@ip=$(HOST); if [ "$$ip" = 0.0.0.0 ]; then ip=$$(hostname -I 2>/dev/null | awk '{print $$1}'); fi; ip=$${ip:-127.0.0.1}; \
	  echo; echo "Ingest URL for DSLR Remote Pro: http://$$ip:$(PORT)/ingest/slot-001  (slot-001 … slot-015)"; \
	  echo "Admin pages: http://$$ip:$(PORT)/admin/"; echo
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## system-deps: Debian packages the suite needs (PostgreSQL, nginx, Chromium, Redis, promtool)
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

## test: the whole suite on SQLite, then the `db` tests again on a private PostgreSQL server
# Rule for the `db` marker: a test is marked when the database engine can change its outcome, that
# is when it checks rows the code wrote or read (the job ledger and its claims, cleanup, stats and
# roll-ups, the gallery, settings, slots and media stored by the admin APIs, the config cache's
# generation row), transactions, pooled connections, migrations or statement counts. Tests of
# request parsing, uploads, images, provider drivers against their mocks, deadlines, host-wide
# flock limits, logs, metrics, the browser, nginx, the bench tools and packaging are left unmarked
# even when an ingest passes through the database on the way: the engine cannot change what they
# check, so they run once, on SQLite. `pytest --db=postgresql` still runs everything on PostgreSQL.
# Most tests wait on servers they start (gunicorn, nginx, PostgreSQL, Chromium), so three pytest
# workers keep two cores busy. A test module runs whole on one worker (--dist loadfile): its
# module-scoped servers start once, and the contract fuzz and its coverage check stay together.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

test: system-deps install-dev lint
	$(BIN)/pytest --db=sqlite $(PYTEST_PARALLEL)
	$(BIN)/pytest --db=postgresql -m db $(PYTEST_PARALLEL)

test-sqlite: install-dev
	$(BIN)/pytest --db=sqlite $(PYTEST_PARALLEL)

test-postgres: install-dev
	$(BIN)/pytest --db=postgresql -m db $(PYTEST_PARALLEL)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy photochanger cli bench

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
