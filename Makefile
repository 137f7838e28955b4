# Huifang — two commands do everything on a fresh Debian/Ubuntu machine:
#   make run    set up and serve on http://$(HOST):$(PORT)
#   make test   the whole suite, on SQLite and on PostgreSQL
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
# Served straight to phones, gthread keeps slow and idle keep-alive connections out of the
# workers' way; one thread per worker measured best on 2 cores. Behind a buffering proxy (nginx),
# WORKER_CLASS=sync shares the load better: a sync worker takes a connection only when it is free
# (README, "Serving a firm"; docs/perf-client.md, sixth round).
WORKER_CLASS ?= gthread
THREADS ?= 1
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
# Links in SMS, email and letters point at this server unless PUBLIC_BASE_URL says otherwise.
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test test-sqlite test-postgresql setup-run setup-test db benchmark clean translations lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when a requirements file changed. constraints.txt pins what the requirements pull in.
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

# Pin every package anew: resolve the requirements in a fresh environment and freeze it.
lock:
	rm -rf /tmp/huifang-lock && $(PYTHON) -m venv /tmp/huifang-lock
	/tmp/huifang-lock/bin/pip install -q --upgrade pip
	/tmp/huifang-lock/bin/pip install -q -r requirements-dev.txt
	{ sed -n '/^#/p' constraints.txt; /tmp/huifang-lock/bin/pip freeze; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

setup-run: | $(BIN)/python
	scripts/system-deps.sh run
	$(MAKE) -s $(VENV)/.installed
	$(BIN)/pybabel -q compile -d app/translations

setup-test: | $(BIN)/python
	scripts/system-deps.sh test
	$(MAKE) -s $(VENV)/.installed
	$(BIN)/pybabel -q compile -d app/translations

db: setup-run
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask questionnaires load-builtin
	$(BIN)/flask users ensure-admin

# The job worker (callbacks, campaigns, letters, expiry sweeps) runs beside the web server;
# Ctrl-C (or any exit of gunicorn) stops both.
run: db
	@echo "Serving on http://$(HOST):$(PORT) with a background worker (Ctrl-C stops both)"
	@$(BIN)/flask worker & WORKER=$$!; \
	  trap 'kill -TERM $$WORKER 2>/dev/null; wait $$WORKER 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gunicorn --workers $(WORKERS) --worker-class $(WORKER_CLASS) --threads $(THREADS) \
	    --bind $(HOST):$(PORT) --access-logfile - \
	    --access-logformat '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms' wsgi:app

test: setup-test
	$(MAKE) -s test-sqlite
	$(MAKE) -s test-postgresql

test-sqlite:
	scripts/ensure-redis.sh
	TEST_DATABASE=sqlite $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-postgresql:
	scripts/ensure-postgres.sh
	scripts/ensure-redis.sh
	TEST_DATABASE=postgresql $(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Refresh the zh-CN catalog after changing user-facing strings; then translate the new entries.
translations: | $(BIN)/python
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k nav_item:1 -k phrase -o /tmp/huifang-messages.pot .
	$(BIN)/pybabel -q update -i /tmp/huifang-messages.pot -d app/translations -l zh --no-fuzzy-matching
