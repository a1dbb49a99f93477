# The first two targets are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SCRIPTS := leadline/tracking/static
WEB_VENDOR := leadline/web/vendor

.PHONY: serve test check lint format typecheck migrations-check scripts scripts-check web-assets web-assets-check browser-deps bench clean

serve: $(STAMP)
	$(BIN)/leadline serve

# The ClickHouse tests load ClickHouse's engine (chDB) into their process; they run in a pytest
# process of their own, apart from the tests that write SQLite files (docs/clickhouse.md).
test: $(STAMP) browser-deps
	$(BIN)/pytest $(PYTEST_ARGS) --ignore=tests/clickhouse
	$(BIN)/pytest $(PYTEST_ARGS) tests/clickhouse

check: lint typecheck migrations-check scripts-check web-assets-check test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

# Models and migrations must agree: migrate a scratch database, then ask Alembic for a diff.
migrations-check: $(STAMP)
	@rm -f .alembic-check.db
	LEADLINE_DATABASE_URL=sqlite:///./.alembic-check.db $(BIN)/alembic upgrade head
	LEADLINE_DATABASE_URL=sqlite:///./.alembic-check.db $(BIN)/alembic check
	@rm -f .alembic-check.db

# The browser scripts: esbuild, pinned in $(SCRIPTS)/package.json, builds src/ into dist/. dist/ is
# checked in, so serving and testing need no node. `npm ci` runs only when the lock file changed,
# without install scripts: esbuild's binary comes from its platform package.
ESBUILD_INSTALL = [ $(SCRIPTS)/node_modules/.package-lock.json -nt $(SCRIPTS)/package-lock.json ] || \
	(cd $(SCRIPTS) && npm ci --ignore-scripts --no-audit --no-fund)

scripts:
	$(ESBUILD_INSTALL)
	cd $(SCRIPTS) && npm run --silent build

# Rebuilds into a scratch folder and fails when dist/ differs. Without npm it fails under CI and
# skips otherwise.
scripts-check:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "scripts-check needs node and npm to rebuild the browser scripts"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
		echo "Skipped: $(SCRIPTS)/dist was not checked against its sources"; exit 0; \
	fi; \
	$(ESBUILD_INSTALL) && cd $(SCRIPTS) && \
	fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	npm run --silent build -- --outdir="$$fresh" && \
	if diff -rq dist "$$fresh"; then echo "$(SCRIPTS)/dist is what its sources build to"; \
	else echo "$(SCRIPTS)/dist is stale: run make scripts and commit it"; exit 1; fi

# The dashboard's browser libraries (htmx, uPlot; axe-core for the tests), pinned in
# $(WEB_VENDOR)/package.json: installed by npm into a scratch folder, without install scripts,
# and their files copied into the package. The files are checked in, so serving needs no node.
web-assets: $(STAMP)
	@command -v npm >/dev/null 2>&1 || { echo "web-assets needs node and npm"; exit 1; }
	fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	cp $(WEB_VENDOR)/package.json $$fresh/ && \
	if [ -f $(WEB_VENDOR)/package-lock.json ]; then cp $(WEB_VENDOR)/package-lock.json $$fresh/; fi && \
	(cd $$fresh && npm install --ignore-scripts --no-audit --no-fund --silent) && \
	cp $$fresh/package-lock.json $(WEB_VENDOR)/ && \
	$(BIN)/python -m leadline.web.assets record $$fresh/node_modules

# Offline: the vendored files must be the recorded ones, from the versions package.json pins.
web-assets-check: $(STAMP)
	$(BIN)/python -m leadline.web.assets check

# The browser tests drive Debian's Chromium. As root it is installed when missing; otherwise this
# says what to install and carries on: those tests then skip, or fail when CI is set.
browser-deps:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-cache show chromium >/dev/null 2>&1 || apt-get update -q; \
		apt-get install -y -q chromium || \
			echo "Chromium could not be installed: the browser tests will skip (or fail under CI)"; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM): sudo apt-get install chromium"; \
		echo "Without it they skip (and fail when CI is set)."; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Leadline needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
