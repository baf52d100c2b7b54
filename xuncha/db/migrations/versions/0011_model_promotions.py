"""model management (模型管理): uploaded shadow reports and the log of promotions / roll-backs

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("against_name", sa.String(128), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(1024), nullable=False),
        sa.Column("checksum", sa.String(80), nullable=True),
        sa.Column("previous_ref", sa.String(1024), nullable=False),
        sa.Column("previous_checksum", sa.String(80), nullable=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("shadow_reports.id"), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_promotions_model_name", "model_promotions", ["model_name"])


def downgrade() -> None:
    op.drop_index("ix_model_promotions_model_name", "model_promotions")
    op.drop_table("model_promotions")
    op.drop_table("shadow_reports")
