"""A generation number that every change of settings, slots or their templates bumps.

Workers cache the settings and slots an ingest reads and check one small row
per ingest instead of reading them again. The triggers make the number move
for any writer: the admin pages, the CLI, a test helper, or SQL typed by an
operator.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WATCHED = ("app_settings", "slot", "slot_template_media")
_BUMP = "UPDATE config_generation SET generation = generation + 1 WHERE id = 1"

_PG_FUNCTION = f"""
CREATE FUNCTION config_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_BUMP};
    RETURN NULL;
END $$
"""


def upgrade():
    op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO config_generation (id, generation) VALUES (1, 0)")
    if _pg():
        op.execute(_PG_FUNCTION)
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_config_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION config_generation_bump()"
            )
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_config_{event} AFTER {event.upper()} ON {table} "
                    f"BEGIN {_BUMP}; END"
                )


def downgrade():
    for table in WATCHED:
        if _pg():
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_generation ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_config_{event}")
    if _pg():
        op.execute("DROP FUNCTION config_generation_bump()")
    op.drop_table("config_generation")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
