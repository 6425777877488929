"""The admin API fuzzed again with the cookie session and its CSRF header, then the stateful run.

A module of its own so that xdist runs it beside ``test_openapi.py`` (one module per worker).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

from tests.contracts.fuzzing import (
    CHECKS,
    EXAMPLES,
    authenticate,
    few_password_changes,
    honours,
    hypothesis_settings,
    lazy_schema,
    schema,
    seeded,
)

pytestmark = pytest.mark.db


@lazy_schema.include(tag="admin").parametrize()
@seeded
@hypothesis_settings(EXAMPLES)
def test_the_admin_api_honours_the_contract_with_the_cookie_session(case, deployment):
    """The admin API again with the cookie session and its CSRF header (only it has one)."""
    honours(case, deployment, "cookie")


def test_links_reach_real_resources(deployment):
    """Stateful: ids flow along the document's links (register → get, test-run → job → result …)."""
    Workflow = schema.as_state_machine()

    class Linked(Workflow):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            few_password_changes(case, deployment)
            authenticate(case, deployment, "bearer")
            return {"base_url": deployment.url, "timeout": 60}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)
            if case.method.upper() == "PUT":
                deployment.restore(case)

    Linked.run(settings=settings(hypothesis_settings(max(4, EXAMPLES // 2)), stateful_step_count=6))
