"""camera health kept across restarts: latest report, bounded state changes, the editor's overlay

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_health",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
    )
    op.create_table(
        "camera_state_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_state", sa.String(16)),
        sa.Column("new_state", sa.String(16), nullable=False),
    )
    op.create_index("ix_camera_state_changes_camera_id", "camera_state_changes", ["camera_id"])
    op.create_table(
        "camera_sightings",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("camera_sightings")
    op.drop_index("ix_camera_state_changes_camera_id", "camera_state_changes")
    op.drop_table("camera_state_changes")
    op.drop_table("camera_health")
