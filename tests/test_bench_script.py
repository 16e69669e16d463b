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
