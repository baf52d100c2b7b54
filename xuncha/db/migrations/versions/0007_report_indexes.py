"""report indexes: cases by closing time, re-checks by verdict time

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])
    op.create_index("ix_rechecks_result_at", "rechecks", ["result_at"])


def downgrade() -> None:
    op.drop_index("ix_rechecks_result_at", "rechecks")
    op.drop_index("ix_cases_closed_at", "cases")
