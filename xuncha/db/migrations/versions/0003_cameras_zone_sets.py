"""camera registry and zone set versions

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "cameras",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sample_interval_s", sa.Float(), nullable=False),
        sa.Column("sampling", sa.String(length=16), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("region_code", sa.String(length=64), nullable=True),
        sa.Column("region_name", sa.String(length=200), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("reference_wanted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cameras_enabled"), ["enabled"], unique=False)
        batch_op.create_index(batch_op.f("ix_cameras_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cameras_worker"), ["worker"], unique=False)

    op.create_table(
        "workers_seen",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "reference_pictures",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "preset"),
    )
    op.create_table(
        "zone_set_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "preset", "version"),
    )
    with op.batch_alter_table("zone_set_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zone_set_versions_camera_id"), ["camera_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("zone_set_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zone_set_versions_camera_id"))

    op.drop_table("zone_set_versions")
    op.drop_table("reference_pictures")
    op.drop_table("workers_seen")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_worker"))
        batch_op.drop_index(batch_op.f("ix_cameras_region_code"))
        batch_op.drop_index(batch_op.f("ix_cameras_enabled"))

    op.drop_table("cameras")
