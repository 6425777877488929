"""Admins hide a result from the public galleries, or pin it to the top.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (SQLite has it): a batch table copy would drop the roll-up triggers of 0003.
    op.add_column("job_history", sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("job_history", sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("job_history", "pinned_at")
    op.drop_column("job_history", "hidden_at")
