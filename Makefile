# Lead Portal: the two commands a newcomer needs.
#
#   make run    first run: virtualenv, migrations, demo data, then web + worker + beat
#   make test   the whole suite on PostgreSQL and Redis (started here if they are down),
#               then the SQLite leg: the first run's paths on make run's embedded defaults
#
# Everything else: make help.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory
# Prerequisites run in order (deps before migrate, services before pytest).
.NOTPARALLEL:

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --no-input --quiet
ARGS ?=

PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379
SERVICE_WAIT_SECONDS ?= 30

# The Python that creates the virtualenv: the first of these candidates that is 3.12 or
# newer and has venv. pyenv shims for versions that are installed but not selected fail
# to run, so every candidate is tried by running it, never by its name alone.
define FIND_PYTHON
( candidates=(python3.13 python3.12 python3); \
  if command -v pyenv >/dev/null 2>&1; then \
    root="$$(pyenv root)"; \
    for p in $$(ls -d "$$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do \
      candidates+=("$$p/bin/python3"); \
    done; \
  fi; \
  candidates+=(/usr/bin/python3); \
  for c in "$${candidates[@]}"; do \
    if "$$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
      "$$c" -c 'import sys; print(sys.executable)'; exit 0; \
    fi; \
  done; \
  exit 1 )
endef

.PHONY: help run logins test test-sqlite lint lint-imports fmt migrations-check check-deploy messages services clean python venv deps dev-deps node-deps system-deps

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

python: ## Print the Python (3.12 or newer) that creates the virtualenv
	@$(FIND_PYTHON) || { echo "Lead Portal needs Python 3.12 or newer; none was found." >&2; exit 1; }

# --- Virtualenv and dependencies ---------------------------------------------------------

$(PY):
	@python="$$( $(FIND_PYTHON) )" || { \
	  echo "Lead Portal needs Python 3.12 or newer; install it (your system's python3.12 or" >&2; \
	  echo "python3.13 package with venv, or 'pyenv install 3.13'), then run make again." >&2; \
	  exit 1; }; \
	echo "Creating $(VENV) with $$python ($$("$$python" -V 2>&1))"; \
	"$$python" -m venv "$(VENV)"

# A stamp per requirements file: dependencies are installed again only when it changes.
$(VENV)/.requirements.stamp: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.requirements-dev.stamp: requirements-dev.txt requirements.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(VENV)/.requirements.stamp

venv: $(PY)
deps: $(VENV)/.requirements.stamp
dev-deps: $(VENV)/.requirements-dev.stamp

# --- make run ------------------------------------------------------------------------------

# The first run works with no configuration: DEBUG on (unless set), SQLite and the
# file-system broker under var/. Set DATABASE_URL and CELERY_BROKER_URL to use others.
run: export DEBUG ?= 1
# The demo HTTPS target is the portal's own /demo/receiver/ on loopback (first run only).
run: export CRM_ALLOW_PRIVATE_TARGETS ?= 1
logins: export DEBUG ?= 1
logins: export CRM_ALLOW_PRIVATE_TARGETS ?= 1
logins: ## Print the demo logins again (seed_demo creates nothing twice)
	$(PY) manage.py seed_demo --quiet

run: deps messages ## Migrate, seed the demo, then run web, worker and beat (Ctrl-C stops all)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@echo
	@echo "  Lead Portal is starting. Open http://127.0.0.1:8000/"
	@echo "  Staff admin:                  http://127.0.0.1:8000/admin/"
	@echo "  The demo logins are printed above; 'make logins' prints them again at any time."
	@echo "  Ctrl-C stops the web, worker, beat and storefront simulator."
	@echo
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/honcho -f Procfile start

# --- make test -----------------------------------------------------------------------------

services: ## Check PostgreSQL and Redis on this machine; start them if they are down
	@if ! pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then \
	  echo "PostgreSQL is down on $(PG_HOST):$(PG_PORT); starting it"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; \
	  for i in $$(seq $(SERVICE_WAIT_SECONDS)); do \
	    pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	  pg_isready -h $(PG_HOST) -p $(PG_PORT) || { \
	    echo "PostgreSQL did not answer within $(SERVICE_WAIT_SECONDS) s." >&2; exit 1; }; \
	fi
	@if [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" != PONG ]; then \
	  echo "Redis is down on $(REDIS_HOST):$(REDIS_PORT); starting it"; \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true; \
	  for i in $$(seq $(SERVICE_WAIT_SECONDS)); do \
	    [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" = PONG ] && break; \
	    sleep 1; done; \
	  [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" = PONG ] || { \
	    echo "Redis did not answer within $(SERVICE_WAIT_SECONDS) s." >&2; exit 1; }; \
	fi

# Node tools for the tests (Azurite, the Azure Table emulator; oidc-provider, the OpenID
# Provider of the single sign-on tests), pinned in package-lock.json:
# installed again only when node_modules is missing or older than the lock file.
node-deps:
	@if [ -f package.json ]; then \
	  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then \
	    command -v npm >/dev/null 2>&1 || { \
	      echo "npm is missing: install Node.js (with npm) for the Azure Table tests." >&2; exit 1; }; \
	    npm ci --no-audit --no-fund; \
	    touch node_modules; \
	  fi; \
	fi

# Debian packages the suite needs: chromium for the browser tests (Playwright drives it;
# `playwright install` is never run) and gettext for the translations. Installed with
# apt-get when missing, which needs root (as on CI).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v msgfmt >/dev/null 2>&1 || missing="$$missing gettext"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

# The SQLite leg: the tests marked `sqlite` on what `make run` uses (SQLite, the file-system
# broker, no Redis for the cache), in a var/ of its own that each run starts empty.
# tests/testenv.py only fills in what is unset, so all three are set here. In `make test`,
# ARGS that choose no test of the leg (pytest's exit status 5) are not a failure.
SQLITE_VAR_DIR := $(abspath var/test-sqlite)
SQLITE_LEG := rm -rf $(SQLITE_VAR_DIR) && DATABASE_URL=sqlite:///$(SQLITE_VAR_DIR)/leadportal.sqlite3 \
  CELERY_BROKER_URL=filesystem:// REDIS_URL= VAR_DIR=$(SQLITE_VAR_DIR) \
  $(PY) -m pytest -m "sqlite and not no_sqlite"

test: dev-deps node-deps system-deps services messages ## The whole suite on PostgreSQL, then the SQLite leg (extra pytest args: ARGS="-k foo")
	$(PY) -m pytest $(ARGS)
	$(SQLITE_LEG) $(ARGS) || [ $$? -eq 5 ]

test-sqlite: dev-deps messages ## The SQLite leg alone: the first run's paths on SQLite, no services
	$(SQLITE_LEG) $(ARGS)

# --- Quality -------------------------------------------------------------------------------

lint: dev-deps ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint-imports: dev-deps ## Check the layers and the other import contracts in pyproject.toml
	$(VENV)/bin/lint-imports

fmt: dev-deps ## Fix what ruff can fix, and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: deps ## Fail when a model change has no migration
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

check-deploy: deps ## Django's deploy checks against the current environment
	$(PY) manage.py check --deploy --fail-level WARNING

# Compiled catalogues (.mo) are build output, not committed: compile them when gettext
# is on the machine; without it the portal simply shows English.
messages:
	@if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
	  if command -v msgfmt >/dev/null 2>&1; then \
	    DEBUG=1 $(PY) manage.py compilemessages -v 0; \
	  else \
	    echo "msgfmt (GNU gettext) is missing: translations are not compiled." >&2; \
	  fi; \
	fi

clean: ## Remove caches and the first run's data under var/ (keeps the virtualenv)
	rm -rf var/ .pytest_cache .ruff_cache .import_linter_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
