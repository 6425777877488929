"""Per-day job counts for the stats overview, kept exact by triggers.

A day is marked in ``job_rollup_day`` once its counts are in ``job_day_rollup``.
Any insert, delete or change of a counted column in ``job_history`` deletes the
marker of the row's day (old and new), so the stats fall back to the raw rows
of that day until it is rolled up again: retention code and late or
concurrent writes need no cooperation.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COUNTED = ("slot_id", "source", "status", "failure_reason", "hash_provided", "hash_matched", "started_at")

# PostgreSQL: statement-level triggers with transition tables, so a bulk
# INSERT … SELECT pays one DELETE, not one per row. The DELETE always runs
# (even when it matches nothing) because its ROW EXCLUSIVE lock is what makes
# a writer wait for a roll-up in progress (SHARE ROW EXCLUSIVE), see
# photochanger/stats/rollup.py.
_PG_DAY = "(started_at AT TIME ZONE 'UTC')::date"
_PG_CHANGED = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in COUNTED)
_PG_FUNCTION = f"""
CREATE FUNCTION job_rollup_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM job_rollup_day WHERE day IN (SELECT {_PG_DAY} FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM job_rollup_day WHERE day IN (SELECT {_PG_DAY} FROM old_rows);
    ELSE
        DELETE FROM job_rollup_day WHERE day IN (
            SELECT d FROM old_rows o JOIN new_rows n USING (job_id),
                LATERAL (VALUES ((o.started_at AT TIME ZONE 'UTC')::date),
                                ((n.started_at AT TIME ZONE 'UTC')::date)) AS v(d)
            WHERE {_PG_CHANGED});
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (constants only)
_PG_TRIGGERS = {
    "insert": "AFTER INSERT ON job_history REFERENCING NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON job_history REFERENCING OLD TABLE AS old_rows",
    "update": "AFTER UPDATE ON job_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}

# SQLite: row triggers (writers are serialised anyway). Stored datetimes are
# UTC text, so date() gives the same 'YYYY-MM-DD' the Date column stores.
_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED)
_SQLITE_TRIGGERS = {
    "insert": "AFTER INSERT ON job_history BEGIN "
    "DELETE FROM job_rollup_day WHERE day = date(NEW.started_at); END",
    "delete": "AFTER DELETE ON job_history BEGIN "
    "DELETE FROM job_rollup_day WHERE day = date(OLD.started_at); END",
    "update": f"AFTER UPDATE ON job_history WHEN {_SQLITE_CHANGED} BEGIN "  # noqa: S608
    "DELETE FROM job_rollup_day WHERE day IN (date(OLD.started_at), date(NEW.started_at)); END",
}


def upgrade():
    op.create_table(
        "job_rollup_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "job_day_rollup",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=32), nullable=True),
        sa.Column("hash_provided", sa.Boolean(), nullable=False),
        sa.Column("hash_matched", sa.Boolean(), nullable=True),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_day_rollup_day", "job_day_rollup", ["day"])
    if _pg():
        op.execute(_PG_FUNCTION)
        for event, spec in _PG_TRIGGERS.items():
            each = "FOR EACH STATEMENT EXECUTE FUNCTION job_rollup_forget()"
            op.execute(f"CREATE TRIGGER job_rollup_forget_{event} {spec} {each}")
    else:
        for event, spec in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER job_rollup_forget_{event} {spec}")


def downgrade():
    for event in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS job_rollup_forget_{event}" + (" ON job_history" if _pg() else ""))
    if _pg():
        op.execute("DROP FUNCTION job_rollup_forget()")
    op.drop_index("ix_job_day_rollup_day", table_name="job_day_rollup")
    op.drop_table("job_day_rollup")
    op.drop_table("job_rollup_day")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
