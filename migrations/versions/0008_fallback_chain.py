"""A slot's fallback chain and retry policy; a job's attempts and the chain step that answered.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, not a batch copy: the slot and job triggers (0003, 0004) stay in place.
    op.add_column("slot", sa.Column("chain_json", sa.JSON(), nullable=True))
    op.add_column("job_history", sa.Column("attempts_json", sa.JSON(), nullable=True))
    op.add_column("job_history", sa.Column("answered_step", sa.Integer(), nullable=True))


def downgrade():
    # DROP COLUMN (SQLite 3.35+) keeps the triggers too.
    op.drop_column("job_history", "answered_step")
    op.drop_column("job_history", "attempts_json")
    op.drop_column("slot", "chain_json")
