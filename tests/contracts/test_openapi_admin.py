"""The admin API fuzzed with a bearer token (the other operations: ``test_openapi.py``)."""

from __future__ import annotations

import pytest

from tests.contracts import fuzzing

pytestmark = pytest.mark.db


@fuzzing.every_operation(fuzzing.lazy_schema.include(tag="admin"))
def test_the_admin_api_honours_the_contract_with_a_bearer_token(case, deployment):
    fuzzing.honours(case, deployment, "bearer")
