"""What the database costs an ingest on PostgreSQL, without the rest of the benchmark's noise.

``python -m bench.db_cost [--count 300]`` starts a private PostgreSQL cluster,
runs ``count`` ingests of a tiny photo one after another through the app
in-process (Flask's test client, the offline ``local`` provider, previews
not built), and prints per ingest: wall time, this process's CPU and the
database server's CPU. Then it has the server log every statement of one
more ingest and prints what arrived, pings and transaction control
included: each line is a round trip. With a tiny photo and no network the
database is most of the work, so code changes to the ingest's queries show
here when whole-server runs on a shared two-core machine drown them.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import shutil
import tempfile
import time
import uuid

import pytest

from photochanger.extensions import db
from photochanger.ingest import routes as ingest_routes
from tests.support.app import INGEST_PASSWORD, make_app, make_env, migrate
from tests.support.images import jpeg_bytes
from tests.support.postgres import PostgresCluster, log_statements, statements_logged

from .servers import children_of, cpu_seconds

WARM_UP = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="timed ingests (default 300)")
    args = parser.parse_args(argv)
    cluster = PostgresCluster()
    cluster.start()
    patch = pytest.MonkeyPatch()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="photochanger-dbcost-"))
    try:
        template = cluster.create_database()
        migrate(cluster.url(template), str(scratch))
        database = cluster.create_database(template=template)
        app = make_app(make_env(scratch / "instance", cluster.url(database)), patch)
        patch.setattr(ingest_routes, "when_idle", lambda job: None)  # previews are not the database's
        client = app.test_client()

        def ingest(n: int) -> None:
            photo = jpeg_bytes(64, 48, color=(n % 251, n // 251 % 251, 7))
            resp = client.post(
                "/ingest/slot-001",
                data={"fileToUpload": (io.BytesIO(photo), "IMG.JPG"), "password": INGEST_PASSWORD},
                headers={"Idempotency-Key": uuid.uuid4().hex},
                content_type="multipart/form-data",
            )
            if resp.status_code != 200:
                raise SystemExit(f"ingest answered {resp.status_code}: {resp.get_data(as_text=True)[:300]}")

        for n in range(WARM_UP):
            ingest(n)
        postmaster = cluster.server_pid()
        server = [postmaster, *children_of(postmaster)]
        server_cpu, own_cpu, wall = cpu_seconds(server), time.process_time(), time.perf_counter()
        for n in range(WARM_UP, WARM_UP + args.count):
            ingest(n)
        per = 1000 / args.count
        print(
            f"{args.count} ingests: wall {(time.perf_counter() - wall) * per:.2f} ms, "
            f"app CPU {(time.process_time() - own_cpu) * per:.2f} ms, "
            f"database server CPU {(cpu_seconds(server) - server_cpu) * per:.2f} ms per ingest"
        )
        log = log_statements(cluster.url(database))
        with app.app_context():
            db.engine.dispose()  # the setting reaches new sessions only
        ingest(1)  # a new connection's first queries are not an ingest's
        start = os.path.getsize(log)
        ingest(2)
        found = statements_logged(log, start, database, "WITH")
        print(f"  {len(found)} statements reached the server for one ingest:")
        for line in found:
            print("  " + line.strip()[:100])
    finally:
        patch.undo()
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
