"""fixed_ips: servers' addresses on the flat network of the libvirt driver

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fixed_ips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("network", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network", "address", name="uq_fixed_ips_network_address"),
    )
    op.create_index("ix_fixed_ips_instance_uuid", "fixed_ips", ["instance_uuid"])


def downgrade() -> None:
    op.drop_index("ix_fixed_ips_instance_uuid", table_name="fixed_ips")
    op.drop_table("fixed_ips")
