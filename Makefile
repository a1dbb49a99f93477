# The first two targets are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: serve test check lint format typecheck migrations-check browser-deps bench clean

serve: $(STAMP)
	$(BIN)/leadline serve

test: $(STAMP) browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

check: lint typecheck migrations-check test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
