"""image metadata: checksums, protection, visibility in lists, tags, virtual size

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:17:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("virtual_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("checksum", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("os_hash_algo", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("os_hash_value", sa.String(length=128), nullable=True))
        # Existing images (the demo image) get false; the defaults go once the rows have values.
        batch_op.add_column(sa.Column("protected", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("os_hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
    images = sa.table("images", sa.column("tags", sa.JSON()))
    op.execute(images.update().values(tags=[]))
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column("tags", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("protected", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("os_hidden", existing_type=sa.Boolean(), server_default=None)

