# The first two targets are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test check lint format typecheck migrations-check bench clean

serve: $(STAMP)
	$(BIN)/leadline serve

test: $(STAMP)
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

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Leadline needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
