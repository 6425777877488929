"""Integration API: keys (stored hashed), background tasks and ZIP batches.

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _utc(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_secret_enc", sa.Text(), nullable=False),
        sa.Column("slot_ids", sa.JSON(), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        _utc("created_at", False),
        sa.Column("created_by", sa.String(100), nullable=True),
        _utc("revoked_at"),
        _utc("last_used_at"),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "api_task",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("slot_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("input_path", sa.String(500), nullable=True),
        sa.Column("input_mime", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        _utc("created_at", False),
        _utc("finished_at"),
        _utc("not_before", False),
        _utc("lease_until"),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_state", sa.String(16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        _utc("webhook_next_at"),
    )
    op.create_index("ix_api_task_key_id", "api_task", ["key_id"])
    op.create_index("ix_api_task_queue", "api_task", ["status", "not_before"])
    op.create_index("ix_api_task_batch", "api_task", ["batch_id", "position"])
    op.create_index("ix_api_task_webhook", "api_task", ["webhook_state", "webhook_next_at"])
    op.create_table(
        "api_batch",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("slot_id", sa.String(32), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("rejected_json", sa.JSON(), nullable=False),
        _utc("created_at", False),
    )
    op.create_index("ix_api_batch_key_id", "api_batch", ["key_id"])


def downgrade():
    op.drop_index("ix_api_batch_key_id", table_name="api_batch")
    op.drop_table("api_batch")
    for name in ("ix_api_task_webhook", "ix_api_task_batch", "ix_api_task_queue", "ix_api_task_key_id"):
        op.drop_index(name, table_name="api_task")
    op.drop_table("api_task")
    op.drop_table("api_key")
