"""bench/ stays a set of small modules that use the suite's public helpers only."""

from __future__ import annotations

import ast
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(BENCH.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_bench_module_fits_in_one_read(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_bench_imports_from_tests_only_the_public_support_helpers(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    from_tests = [name for name in imported if name == "tests" or name.startswith("tests.")]
    assert all(name.startswith("tests.support.") for name in from_tests), from_tests
