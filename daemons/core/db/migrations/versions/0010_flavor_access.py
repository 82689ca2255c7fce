"""flavor access: the projects allowed to use a private flavor

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 15:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flavor_access",
        sa.Column("flavor_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["flavor_id"], ["flavors.id"], name=op.f("fk_flavor_access_flavor_id_flavors"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("flavor_id", "project_id", name=op.f("pk_flavor_access")),
    )
