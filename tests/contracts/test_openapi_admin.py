"""The admin API fuzzed with a bearer token (the other operations: ``test_openapi.py``)."""

from __future__ import annotations

import pytest

from tests.contracts import fuzzing

pytestmark = pytest.mark.db


# One test runs every operation (as subtests): the per-test limit is for one case, not for all.
@pytest.mark.timeout(900)
@fuzzing.lazy_schema.include(tag="admin").parametrize()
@fuzzing.seeded
@fuzzing.hypothesis_settings(fuzzing.EXAMPLES)
def test_the_admin_api_honours_the_contract_with_a_bearer_token(case, deployment):
    fuzzing.honours(case, deployment, "bearer")
