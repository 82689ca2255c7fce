"""Alembic environment: ncloud runs migrations programmatically (`ncloud db sync`), never from an ini."""

from alembic import context

from ncloud.daemons.core.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
