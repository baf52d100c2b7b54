"""case loop: 社区/网格 on clues, case deadline/escalation/closing, handling reports, re-checks

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clues") as b:
        b.add_column(sa.Column("community_code", sa.String(64), nullable=True))
        b.add_column(sa.Column("community_name", sa.String(200), nullable=True))
        b.add_column(sa.Column("grid_code", sa.String(64), nullable=True))
        b.add_column(sa.Column("grid_name", sa.String(200), nullable=True))
    with op.batch_alter_table("cases") as b:
        b.add_column(sa.Column("deadline", TS, nullable=True))
        b.add_column(sa.Column("escalation", sa.String(16), nullable=True))
        b.add_column(sa.Column("closed_at", TS, nullable=True))
        b.create_index("ix_cases_filed_at", ["filed_at"])
    op.create_table(
        "case_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.String(160), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("picture", sa.String(300), nullable=True),
        sa.Column("picture_sha256", sa.String(64), nullable=True),
        sa.Column("picture_taken_at", TS, nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
    )
    op.create_index("ix_case_reports_case_id", "case_reports", ["case_id"])
    op.create_index("ix_case_reports_picture_sha256", "case_reports", ["picture_sha256"])
    op.create_table(
        "rechecks",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("case_id", sa.String(160), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("case_reports.id"), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=True),
        sa.Column("present", sa.Integer(), nullable=True),
        sa.Column("checked_to", TS, nullable=True),
        sa.Column("after_picture", sa.String(300), nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("result_at", TS, nullable=True),
        sa.Column("overruled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("overruled_at", TS, nullable=True),
        sa.Column("overrule_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_rechecks_case_id", "rechecks", ["case_id"])
    op.create_index("ix_rechecks_verdict", "rechecks", ["verdict"])


def downgrade() -> None:
    op.drop_table("rechecks")
    op.drop_table("case_reports")
    with op.batch_alter_table("cases") as b:
        b.drop_index("ix_cases_filed_at")
        for col in ("closed_at", "escalation", "deadline"):
            b.drop_column(col)
    with op.batch_alter_table("clues") as b:
        for col in ("grid_name", "grid_code", "community_name", "community_code"):
            b.drop_column(col)
