"""Admin batches: a batch and its tasks may belong to no key; who made it is kept.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # batch_alter_table recreates the table on SQLite (no ALTER COLUMN there) and alters in place elsewhere.
    with op.batch_alter_table("api_batch") as batch:
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("created_by", sa.String(100), nullable=True))
    with op.batch_alter_table("api_task") as batch:
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=True)


def downgrade():
    # The old schema cannot hold an admin's batch: its rows go (their stored photos expire as usual).
    op.execute("DELETE FROM api_task WHERE key_id IS NULL")
    op.execute("DELETE FROM api_batch WHERE key_id IS NULL")
    with op.batch_alter_table("api_task") as batch:
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=False)
    with op.batch_alter_table("api_batch") as batch:
        batch.drop_column("created_by")
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=False)
