"""The provider benchmark still runs and reports what it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_providers.py"


def test_bench_prints_one_json_object_with_the_figures():
    r = subprocess.run([sys.executable, str(SCRIPT), "--calls", "50"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("sequential_calls_per_s", "concurrent_32_calls_per_s", "median_ms"):
        assert out[key]["full_path"] > 0 and out[key]["bare_aiohttp"] > 0
    assert isinstance(out["overhead_ms_median"], float)
    assert out["events_encoded"] == 2 * (200 + 50 + 50)  # warm-up, interleaved, concurrent calls


EVENTSTORE = Path(__file__).resolve().parent.parent / "scripts" / "bench_eventstore.py"


def test_eventstore_bench_reports_every_figure(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(EVENTSTORE),
            "--events",
            "3000",
            "--durable-events",
            "300",
            "--db",
            str(tmp_path / "b.db"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in (
        "append_durable_per_s",
        "append_batched_per_s",
        "raw_sqlite_durable_per_s",
        "raw_sqlite_batched_per_s",
        "record_durable_via_machines_per_s",
        "record_batched_via_machines_per_s",
        "replay_per_s",
        "replay_peak_rss_mb",
        "cli_help_ms",
        "raw_rows_per_s",
        "replay_vs_rows",
    ):
        assert out[key] > 0, key
    assert out["replayed_events"] == 3000


EXECUTOR = Path(__file__).resolve().parent.parent / "scripts" / "bench_executor.py"


def test_executor_bench_reports_the_split_and_the_floor():
    r = subprocess.run(
        [sys.executable, str(EXECUTOR), "--phases", "4", "--files", "60"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    for key in (
        "orchestration_ms_per_phase",
        "phase_ms",
        "floor_ms",
        "phase_vs_floor",
        "appends_ms_per_phase",
        "apply_ms_per_phase",
        "checkpoint_ms_per_phase",
    ):
        assert isinstance(out[key], float), key
    assert out["phases"] == 4 and out["phase_ms"] > 0 and out["floor_ms"] > 0
    # Every phase: started, two calls (request + answer each), proposed, applied, verdict, check,
    # checkpoint + completed.
    assert out["events_per_phase"] >= 11
