"""Public-route fixtures: an admin session, for the pages a signed-in admin opens without a token."""

from tests.admin.conftest import admin_token, credentials_file  # noqa: F401 - fixtures
