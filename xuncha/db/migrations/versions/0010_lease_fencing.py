"""lease fencing: the newest camera lease token seen per camera, and each applied event's token

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_fences",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("clue_events") as batch:
        batch.add_column(sa.Column("lease_token", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clue_events") as batch:
        batch.drop_column("lease_token")
    op.drop_table("camera_fences")
