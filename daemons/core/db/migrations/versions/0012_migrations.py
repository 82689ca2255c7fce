"""migrations: server moves between hosts (resize, cold and live migration, evacuation); instances'
system_metadata (what shelving keeps); console_auth_tokens

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("migration_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_compute", sa.String(length=255), nullable=True),
        sa.Column("source_node", sa.String(length=255), nullable=True),
        sa.Column("dest_compute", sa.String(length=255), nullable=True),
        sa.Column("dest_node", sa.String(length=255), nullable=True),
        sa.Column("dest_host", sa.String(length=255), nullable=True),
        sa.Column("old_instance_type_id", sa.Integer(), nullable=True),
        sa.Column("new_instance_type_id", sa.Integer(), nullable=True),
        sa.Column("old_flavor", sa.JSON(), nullable=False),
        sa.Column("new_flavor", sa.JSON(), nullable=False),
        sa.Column("old_vm_state", sa.String(length=255), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrations")),
        sa.UniqueConstraint("uuid", name=op.f("uq_migrations_uuid")),
    )
    op.create_index("ix_migrations_instance_uuid_status", "migrations", ["instance_uuid", "status"], unique=False)
    op.create_index("ix_migrations_source_compute_status", "migrations", ["source_compute", "status"], unique=False)
    op.create_index(op.f("ix_migrations_project_id"), "migrations", ["project_id"], unique=False)
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("system_metadata", sa.JSON(), nullable=True))
    op.create_table(
        "console_auth_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("console_type", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("internal_access_path", sa.String(length=255), nullable=True),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_auth_tokens_token_hash")),
    )
    op.create_index(op.f("ix_console_auth_tokens_instance_uuid"), "console_auth_tokens", ["instance_uuid"],
                    unique=False)
    op.create_index(op.f("ix_console_auth_tokens_expires"), "console_auth_tokens", ["expires"], unique=False)


def downgrade() -> None:
    op.drop_table("console_auth_tokens")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("system_metadata")
    op.drop_table("migrations")
