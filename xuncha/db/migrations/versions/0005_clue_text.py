"""clue text: what the text stage read, and the phone numbers in it

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clues") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("phone_numbers", sa.JSON(), nullable=True))
    op.create_table(
        "clue_phones",
        sa.Column("clue_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["clue_id"], ["clues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("clue_id", "phone"),
    )
    op.create_index("ix_clue_phones_phone", "clue_phones", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_clue_phones_phone", table_name="clue_phones")
    op.drop_table("clue_phones")
    with op.batch_alter_table("clues") as batch:
        batch.drop_column("phone_numbers")
        batch.drop_column("text")
