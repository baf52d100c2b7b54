"""normalise user names: existing names take the spelling logins now look up (NFKC, trimmed, case-folded)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from xuncha.db.users import normalize_username

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)).all()
    taken = {name for _id, name in rows}
    for user_id, name in rows:
        norm = normalize_username(name)
        if norm == name:
            continue
        if norm in taken:
            # Two users that are now one name: keep both rows; the later one can no longer log in.
            log.warning("user %r: its normalised name %r is taken; deactivate or recreate it", name, norm)
            continue
        conn.execute(users.update().where(users.c.id == user_id).values(username=norm))
        taken.add(norm)


def downgrade() -> None:
    pass  # the original spellings are gone; normalised names stay valid
