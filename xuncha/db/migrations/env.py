"""Alembic environment: runs on the connection `db.engine.migrate` passes in (never from a URL in a file)."""

from __future__ import annotations

from alembic import context

from xuncha.db import engine  # noqa: F401 - it imports every table module, so the metadata holds them all
from xuncha.db.base import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
