"""Alembic environment: migrations run on the connection `core.db.migrate` hands in
(`config.attributes["connection"]`), inside its lock; there is no alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import core.tables  # noqa: F401  registers every table on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table_schema=context.config.attributes.get("schema"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
