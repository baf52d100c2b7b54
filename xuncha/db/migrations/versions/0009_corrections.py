"""corrections: an operator's corrected box and/or category of a clue, for the training export

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("clue_id", sa.String(128), sa.ForeignKey("clues.id"), primary_key=True),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("category_code", sa.String(16), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("corrections")
