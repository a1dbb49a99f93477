"""Alembic environment: synchronous drivers, batch mode so SQLite can alter tables."""

from __future__ import annotations

import warnings
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, exc, pool

from leadline.config import get_settings
from leadline.models import (
    KNOWLEDGE_SEARCH_INDEX,
    KNOWLEDGE_UNMODELLED_TABLES,
    UNMODELLED_INDEXES,
    UNMODELLED_TABLES,
    Base,
)

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

url = config.get_main_option("sqlalchemy.url") or get_settings().sync_url


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the database-specific indexes and the search table (a virtual table and the tables
    that hold its index), which only the migrations define, uncompared."""
    if type_ == "index":
        return name not in UNMODELLED_INDEXES and name != KNOWLEDGE_SEARCH_INDEX
    if type_ == "table":
        return name not in UNMODELLED_TABLES | KNOWLEDGE_UNMODELLED_TABLES
    return True


# SQLite cannot reflect expression indexes; the ones it would warn about are uncompared anyway.
for _name in (*UNMODELLED_INDEXES, KNOWLEDGE_SEARCH_INDEX):
    warnings.filterwarnings(
        "ignore", message=f"Skipped unsupported reflection of .* {_name}$", category=exc.SAWarning
    )


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
