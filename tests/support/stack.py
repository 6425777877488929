"""A module-wide deployment for HTTP tests: app, gunicorn, Gemini mock, reset between tests."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import delete

from photochanger.extensions import db
from photochanger.models import AppSetting, Slot, SlotTemplateMedia
from photochanger.runtime import services
from photochanger.slots.catalog import DEFAULT_OPERATION, DEFAULT_PROVIDER

from .live_server import LiveServer
from .mock_gemini import MockGemini

GEMINI_TEST_KEY = "test-gemini-key"


@dataclass
class Stack:
    app: Flask
    env: dict[str, str]
    server: LiveServer
    gemini: MockGemini
    extra: list[LiveServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        """Back to a freshly seeded deployment: default settings and slots, closed circuits, idle mock.

        Every slot's ``version`` moves on, so a photo sent by an earlier test is
        never taken for a replay. Jobs stay (tests look them up by id).
        """
        shutil.rmtree(os.path.join(self.env["LOCK_DIR"], "circuits"), ignore_errors=True)
        with self.app.app_context():
            db.session.execute(delete(AppSetting).where(AppSetting.key != "ingest_password_hash"))
            db.session.execute(delete(SlotTemplateMedia))
            defaults = services().drivers[DEFAULT_PROVIDER].default_settings(DEFAULT_OPERATION)
            for slot in db.session.query(Slot):
                slot.provider = DEFAULT_PROVIDER
                slot.operation = DEFAULT_OPERATION
                slot.settings_json = dict(defaults)
                slot.is_active = True
                slot.size_limit_mb = None
                slot.version += 1
            db.session.commit()
        self.gemini.reset()

    def start_server(self, workers: int = 1, **env: str) -> LiveServer:
        """Another gunicorn on the same database (e.g. two workers, other provider URLs)."""
        server = LiveServer({**self.env, **env}, workers=workers)
        self.extra.append(server)
        return server

    def stop_extra_servers(self) -> None:
        while self.extra:
            self.extra.pop().stop()
