"""Index job_history (slot_id, status, started_at) for the stats overview.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_job_slot_status_started", "job_history", ["slot_id", "status", "started_at"])


def downgrade():
    op.drop_index("ix_job_slot_status_started", table_name="job_history")
