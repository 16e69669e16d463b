"""Executor benchmark: many phases on a large repository, instant replies, a no-op check.

    python scripts/bench_executor.py --phases 200 --files 1000

Each phase changes one file: the Builder's reply (instant, in process) is a
diff of that file, the Auditor approves, a no-op check passes, the phase
checkpoints. The time per phase is split into durable appends, patch apply,
checkpoint commit and everything else (pure orchestration: deciding the
step, folding events, building prompts, routing, the repository map, the
Auditor's diff). The floor is what the same phase must cost at least: its
number of durable appends done on raw SQLite (same pragmas, one transaction
each) plus one ``git commit`` of the same one-file change by the git CLI.

Targets (issue 9): orchestration < 2 ms per phase; a whole phase <= 1.5x the
floor. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@autopack.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@autopack.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(ws: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(ws), *args], check=True, env={**os.environ, **GIT_ENV}, capture_output=True)


def make_repo(ws: Path, files: int) -> None:
    ws.mkdir(parents=True)
    git(ws, "init", "-q", "-b", "main")
    for i in range(files):
        d = ws / f"pkg{i // 50}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f'"""Module {i}."""\n\nVALUE = {i}\n\n\ndef f{i}():\n    return VALUE\n')
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "initial")


def path_of(i: int) -> str:
    return f"pkg{i // 50}/mod{i}.py"


def diff_for(i: int) -> str:
    return (
        f"--- a/{path_of(i)}\n+++ b/{path_of(i)}\n@@ -1,5 +1,5 @@\n"
        f' """Module {i}."""\n \n-VALUE = {i}\n+VALUE = {i + 1}\n \n \n'
    )


class Instant:
    """Provider kind and quality check in one: instant replies, a check that always passes."""

    def __init__(self, phases: int) -> None:
        self.builder = deque(diff_for(i) for i in range(phases))

    def factory(self, name: str, config: Any, context: Any) -> Instant:
        return self

    async def complete(self, request: Any) -> Any:
        from autopack_core.providers import ModelReply

        if request.role == "builder":
            return ModelReply(text=self.builder.popleft(), input_tokens=100, output_tokens=20)
        return ModelReply(text='{"verdict": "approve", "issues": []}', input_tokens=50, output_tokens=5)

    description = "a check that passes at once"

    async def run(self, workspace: Path, options: Any) -> Any:
        from autopack_core.contracts import CheckOutcome

        return CheckOutcome(passed=True, output="ok")


def make_plugin(instant: Instant) -> Any:
    from autopack_core.hookspecs import hookimpl

    class Plugin:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register("instant", instant.factory)

        @hookimpl
        def register_quality_checks(self, register: Any) -> None:
            register("noop", instant)

    return Plugin()


class Timer:
    def __init__(self) -> None:
        self.total = 0.0
        self.cpu = 0.0
        self.count = 0

    def wrap(self, fn: Any, last: list[float] | None = None) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            c = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                d = time.perf_counter() - t
                self.total += d
                self.cpu += time.process_time() - c
                self.count += 1
                if last is not None:
                    last[0] = d

        return timed


def run_autopack(root: Path, phases: int) -> dict[str, float]:
    from autopack_core import patching
    from autopack_core.executor import runner
    from autopack_core.executor.progress import Progress
    from autopack_core.plugins import load_plugins
    from autopack_core.store import EventStore

    ws = root / "ws"
    (root / "models.yaml").write_text(
        "providers:\n  i: {kind: instant}\nmodels:\n  m: {provider: i, tier: cheap}\n  s: {provider: i, tier: strong}\n"
        "routing:\n  default: {cheap: m, strong: s}\n"
    )
    lines = ["goal: bench", "phases:"]
    for i in range(phases):
        lines.append(
            f"  - {{id: p{i}, goal: bump module {i}, category: refactor, complexity: low, "
            f"scope: [{path_of(i)}], checks: [noop]}}"
        )
    (root / "plan.yaml").write_text("\n".join(lines) + "\n")

    appends, applies, commits = Timer(), Timer(), Timer()
    last_append = [0.0]
    EventStore.append = appends.wrap(EventStore.append, last_append)  # type: ignore[method-assign]
    patching.governed_apply = applies.wrap(patching.governed_apply)
    real_open = runner.open_workspace

    def open_workspace(path: Path) -> Any:
        ws_obj = real_open(path)
        ws_obj.checkpoint = commits.wrap(ws_obj.checkpoint)
        return ws_obj

    runner.open_workspace = open_workspace  # type: ignore[assignment]

    window: dict[str, Any] = {}

    class Quiet(Progress):
        """Marks the phase loop: from the first phase_started to run_completed (set-up excluded)."""

        def update(self, envelopes: Any, view: Any) -> None:
            for env in envelopes:
                if env.event.type == "phase_started" and "t0" not in window:
                    # The timers restart here; this append itself is the loop's first.
                    window.update(
                        c0=time.process_time(),
                        cpu0=appends.cpu + applies.cpu + commits.cpu,
                        t0=time.perf_counter() - last_append[0],
                        appends=(appends.total - last_append[0], appends.count - 1),
                        applies=(applies.total, applies.count),
                        commits=(commits.total, commits.count),
                    )
                elif env.event.type == "run_completed":
                    window["t1"] = time.perf_counter()
                    window["c1"] = time.process_time()
                    window["cpu1"] = appends.cpu + applies.cpu + commits.cpu

    plugins = load_plugins(extra=[("bench-instant", make_plugin(Instant(phases)))])
    started = time.perf_counter()
    code, run_id, db = asyncio.run(
        runner.start_run(
            plugins=plugins,
            plan_path=root / "plan.yaml",
            workspace=ws,
            config_path=root / "models.yaml",
            db=root / "events.db",
            progress_factory=lambda codec: Quiet(),
        )
    )
    setup = window["t0"] - started
    total = window["t1"] - window["t0"]
    with EventStore(db, plugins.codec) as store:
        if code != 0:
            errors = [e.event for e in store.iter_events(run_id) if e.event.type == "error_classified"]
            raise SystemExit(f"bench run failed (exit {code}): {errors[:1]}")
        events = sum(1 for _ in store.iter_raw(run_id))
    # The run_completed append ends the window; the appends it holds are the loop's.
    return {
        "setup_s": setup,
        "total_s": total,
        "appends_s": appends.total - window["appends"][0],
        "appends": appends.count - window["appends"][1],
        "apply_s": applies.total - window["applies"][0],
        "checkpoint_s": commits.total - window["commits"][0],
        "events": events,
        # CPU seconds of this process in the loop outside appends, apply and checkpoint: the
        # orchestration's own work, without the time the process waited for a core.
        "orchestration_cpu_s": (window["c1"] - window["c0"]) - (window["cpu1"] - window["cpu0"]),
    }


def floor(root: Path, phases: int, appends_per_phase: float, files: int) -> dict[str, float]:
    """Raw SQLite appends (same pragmas, one transaction each) and one git CLI commit per phase."""
    conn = sqlite3.connect(str(root / "raw.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL, "
        "payload TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, seq)) STRICT"
    )
    payload = json.dumps({"type": "check_result", "phase_id": "p1", "check": "noop", "passed": True, "output": "ok"})
    n = round(appends_per_phase * min(phases, 50))
    t = time.perf_counter()
    for seq in range(1, n + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", ("run", seq, "2026-01-01T00:00:00Z", "x", payload, "h" * 64)
        )
        conn.execute("COMMIT")
    append_ms = (time.perf_counter() - t) * 1000 / n
    conn.close()
    ws = root / "ws-git"
    shutil.copytree(root / "ws-pristine", ws, symlinks=True)
    k = min(phases, 30)
    t = time.perf_counter()
    for i in range(k):
        p = ws / path_of(i)
        p.write_text(p.read_text().replace(f"VALUE = {i}\n", f"VALUE = {i + 1}\n"))
        git(ws, "commit", "-q", "-a", "--no-verify", "-m", f"phase {i}")
    commit_ms = (time.perf_counter() - t) * 1000 / k
    return {"raw_append_ms": append_ms, "git_commit_ms": commit_ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", type=int, default=200)
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="autopack-bench-executor-"))
    try:
        make_repo(root / "ws", args.files)
        shutil.copytree(root / "ws", root / "ws-pristine", symlinks=True)
        got = run_autopack(root, args.phases)
        per = 1000 / args.phases
        appends_per_phase = got["appends"] / args.phases
        fl = floor(root, args.phases, appends_per_phase, args.files)
        phase_ms = got["total_s"] * per
        appends_ms = got["appends_s"] * per
        apply_ms = got["apply_s"] * per
        checkpoint_ms = got["checkpoint_s"] * per
        orchestration = phase_ms - appends_ms - apply_ms - checkpoint_ms
        floor_ms = appends_per_phase * fl["raw_append_ms"] + fl["git_commit_ms"]
        out = {
            "phases": args.phases,
            "files": args.files,
            "events_per_phase": round(got["events"] / args.phases, 2),
            "appends_per_phase": round(appends_per_phase, 2),
            "setup_ms": round(got["setup_s"] * 1000, 1),
            "phase_ms": round(phase_ms, 3),
            "appends_ms_per_phase": round(appends_ms, 3),
            "apply_ms_per_phase": round(apply_ms, 3),
            "checkpoint_ms_per_phase": round(checkpoint_ms, 3),
            "orchestration_ms_per_phase": round(orchestration, 3),
            "orchestration_cpu_ms_per_phase": round(got["orchestration_cpu_s"] * per, 3),
            "floor_ms": round(floor_ms, 3),
            "floor_raw_append_ms": round(fl["raw_append_ms"], 3),
            "floor_git_commit_ms": round(fl["git_commit_ms"], 3),
            "phase_vs_floor": round(phase_ms / floor_ms, 3),
            "targets": {"orchestration_ms_per_phase": "< 2", "phase_vs_floor": "<= 1.5"},
        }
        print(json.dumps(out))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
