"""Alembic environment: runs on the connection `db.engine.migrate` passes in (never from a URL in a file)."""

from __future__ import annotations

from alembic import context

import xuncha.review.deadletter  # noqa: F401 - its table belongs to the metadata
from xuncha.review.db.base import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
