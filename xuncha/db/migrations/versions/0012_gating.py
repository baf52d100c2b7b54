"""adaptive gating: per camera, zone and category the current level and the log of its changes

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gating_levels",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("zone_id", sa.String(64), primary_key=True),
        sa.Column("category_code", sa.String(16), primary_key=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "gating_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("category_code", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_level", sa.Integer(), nullable=False),
        sa.Column("new_level", sa.Integer(), nullable=False),
        sa.Column("reviewed", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=True),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("undoes", sa.Integer(), sa.ForeignKey("gating_changes.id"), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_gating_changes_camera_id", "gating_changes", ["camera_id"])


def downgrade() -> None:
    op.drop_index("ix_gating_changes_camera_id", "gating_changes")
    op.drop_table("gating_changes")
    op.drop_table("gating_levels")
