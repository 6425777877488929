"""The shipped Prometheus alert rules: valid, unit-tested by promtool, and built on series the app exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from photochanger.infra import metrics
from tests.support.live_server import ROOT

RULES_DIR = os.path.join(ROOT, "prometheus")
RULES = os.path.join(RULES_DIR, "photochanger-alerts.yml")
RULES_TEST = os.path.join(RULES_DIR, "photochanger-alerts.test.yml")

#: Series the rules use before the app exports them, and who must export them.
PENDING: dict[str, str] = {}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; make system-deps)")
    return subprocess.run(
        [promtool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_pass_promtool_check():
    done = _promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_unit_tests_pass():
    done = _promtool("test", "rules", RULES_TEST)
    assert done.returncode == 0, done.stdout + done.stderr


def _exported_series() -> set[str]:
    """Every series name the app's own metrics produce (histograms: _bucket, _count, _sum)."""
    names: set[str] = set()
    for metric in metrics._OWN_METRICS:
        for family in metric.describe():
            names.update(_sample_names(family.name, family.type))
    return names


def _sample_names(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {name}


def test_rules_use_series_the_app_exports():
    with open(RULES, encoding="utf-8") as fh:
        groups = yaml.safe_load(fh)["groups"]
    exprs = " ".join(rule["expr"] for group in groups for rule in group["rules"])
    used = set(re.findall(r"\bphotochanger_\w+", exprs))
    exported = _exported_series()
    assert used - exported == set(PENDING), "rules use series the app does not export"
    # Once a pending series is exported, drop it from PENDING (and check the rule's meaning).
    assert not set(PENDING) & exported
