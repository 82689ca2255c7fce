"""domain role assignments: roles on a domain (the domain manager persona)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_role_assignments",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"],
                                name=op.f("fk_domain_role_assignments_domain_id_domains"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"],
                                name=op.f("fk_domain_role_assignments_role_id_roles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_domain_role_assignments_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "domain_id", "role_id", name=op.f("pk_domain_role_assignments")),
    )

