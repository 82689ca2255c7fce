"""quotas: per project, per user in a project, quota classes, and the lock rows that serialize their use

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _limits(name: str, *scope: sa.Column, unique: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *scope,
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(*unique, name=op.f(f"uq_{name}_{'_'.join(unique)}")),
    )


def upgrade() -> None:
    _limits("quotas", sa.Column("project_id", sa.String(length=64), nullable=False),
            unique=("project_id", "resource"))
    _limits("project_user_quotas", sa.Column("project_id", sa.String(length=64), nullable=False),
            sa.Column("user_id", sa.String(length=64), nullable=False), unique=("project_id", "user_id", "resource"))
    _limits("quota_classes", sa.Column("class_name", sa.String(length=255), nullable=False),
            unique=("class_name", "resource"))
    op.create_table(
        "quota_locks",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_quota_locks")),
    )
