"""unified limits: registered (default) limits and per-project limits, as Keystone keeps them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 11:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_limits",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("region_id", sa.String(length=255), nullable=True),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("default_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["catalog_services.id"],
                                name=op.f("fk_registered_limits_service_id_catalog_services"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_limits")),
        sa.UniqueConstraint("service_id", "region_id", "resource_name",
                            name=op.f("uq_registered_limits_service_id_region_id_resource_name")),
    )
    op.create_table(
        "limits",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("region_id", sa.String(length=255), nullable=True),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("resource_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name=op.f("fk_limits_project_id_projects"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["service_id"], ["catalog_services.id"],
                                name=op.f("fk_limits_service_id_catalog_services"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limits")),
        sa.UniqueConstraint("project_id", "service_id", "region_id", "resource_name",
                            name=op.f("uq_limits_project_id_service_id_region_id_resource_name")),
    )
    with op.batch_alter_table("limits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limits_project_id"), ["project_id"], unique=False)
