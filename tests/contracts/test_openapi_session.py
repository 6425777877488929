"""The admin API fuzzed again with the cookie session and its CSRF header, then the stateful run.

A module of its own so that xdist runs it beside ``test_openapi.py`` (one module per worker).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

from tests.contracts import fuzzing


# Not in the PostgreSQL pass: only the way the admin authenticates differs from the bearer run,
# which covers the database there (docs/contract-fuzzing.md).
@fuzzing.every_operation(fuzzing.lazy_schema.include(tag="admin"))
def test_the_admin_api_honours_the_contract_with_the_cookie_session(case, deployment):
    """The admin API again with the cookie session and its CSRF header (only it has one)."""
    fuzzing.honours(case, deployment, "cookie")


@pytest.mark.db
def test_links_reach_real_resources(deployment):
    """Stateful: ids flow along the document's links (register → get, test-run → job → result …)."""
    Workflow = fuzzing.schema.as_state_machine()

    class Linked(Workflow):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            fuzzing.few_password_changes(case, deployment)
            fuzzing.authenticate(case, deployment, "bearer")
            return {"base_url": deployment.url, "timeout": 60}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=fuzzing.CHECKS)
            if case.method.upper() == "PUT":
                deployment.restore(case)

    Linked.run(
        settings=settings(fuzzing.hypothesis_settings(max(4, fuzzing.EXAMPLES // 2)), stateful_step_count=6)
    )
