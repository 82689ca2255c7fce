"""key pairs and the key each instance was booted with; server tags, lock owner and reason, trusted certificates

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_pairs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_pairs")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_key_pairs_user_id_name")),
    )
    op.create_table(
        "instance_tags",
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("instance_uuid", "tag", name=op.f("pk_instance_tags")),
    )
    op.create_index("ix_instance_tags_tag", "instance_tags", ["tag"], unique=False)
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_data", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("locked_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("locked_reason", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("trusted_certs", sa.JSON(), nullable=True))

