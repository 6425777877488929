"""Admin tokens revoked by a logout before they expire.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_token_expires", "revoked_token", ["expires_at"])


def downgrade():
    op.drop_index("ix_revoked_token_expires", table_name="revoked_token")
    op.drop_table("revoked_token")
