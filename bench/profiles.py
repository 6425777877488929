"""How big each profile is (``--smoke``, ``--quick``, ``--full``), and the settings every run uses."""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024
QUICK: dict[str, Any] = {
    "sizes": [("5 MB", 5 * MB), ("20 MB", 20 * MB - 64 * 1024)],
    "pairs": 8,
    "delay": 0.3,
    "link_mbit": 40,
    "link_pairs": 4,
    "tp_sizes": [("1.5 MB, no resize needed", 3 * MB // 2), ("5 MB", 5 * MB)],
    "tp_conc": [8, 32],
    "tp_seconds": 8.0,
    "touch_mb": 3072,
    "fill_page_cache": True,
    "cap_count": 1000,
    "cap_delay": 20.0,
    "cap_size": 60_000,
    "big_count": 300,
    "big_size": 5 * MB,
    "dl_conc": 16,
    "dl_results": 60,
    "dl_seconds": 5.0,
    "phones": 50,
    "phone_turns": 20,
    "phone_size": 3 * MB // 2,
    "stats_rows": 100_000,
    "stats_calls": 20,
    "cleanup_results": 10_000,
}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "sizes": [("40 KB", 40_000)],
        "pairs": 2,
        "delay": 0.05,
        "link_mbit": 8,
        "link_pairs": 2,
        "tp_sizes": [("40 KB", 40_000)],
        "tp_conc": [2],
        "tp_seconds": 1.0,
        "touch_mb": 64,
        "fill_page_cache": False,
        "cap_count": 10,
        "cap_delay": 0.5,
        "cap_size": 20_000,
        "big_count": 4,
        "big_size": 2 * MB,
        "dl_conc": 4,
        "dl_results": 5,
        "dl_seconds": 1.0,
        "phones": 3,
        "phone_turns": 2,
        "phone_size": 40_000,
        "stats_rows": 0,
        "stats_calls": 0,
        "cleanup_results": 20,
    },
    "quick": QUICK,
    # The same cells as --quick, with more turns, longer cells and larger data sets.
    "full": {
        **QUICK,
        "pairs": 100,
        "delay": 0.5,
        "link_pairs": 10,
        "tp_seconds": 20.0,
        "dl_conc": 32,
        "dl_seconds": 10.0,
        "phone_turns": 50,
        "stats_rows": 1_000_000,
        "stats_calls": 50,
        "cleanup_results": 100_000,
    },
}
#: Raised for the benchmark only: the defaults (4 per slot, 16 per provider) would
#: answer most of the 1000-in-flight burst with 429, which is the limit working, not capacity.
BENCH_SETTINGS = {
    "concurrency_per_slot": 1000,
    "concurrency_per_provider": 2000,
    "sync_response_seconds": 60,
    "upload_limit_mb": 20,
}
