"""Crash safety: a run killed at every event boundary, and after every effect, resumes to the same end.

Each case runs ``autopack run`` in a child process that kills itself
(``os._exit``, like kill -9) right after a durable append, or right after an
effect and before its outcome is recorded, then ``autopack resume``. The
step chain kills the run and then every resume after one step each, so every
boundary between the run's steps is a kill point; the in-flight sweep kills
after each model call was requested; the effect points kill between an effect
(apply, reset, commit, branch) and its event.
The resumed run must end exactly like an uninterrupted one: same files, each
checkpoint committed once, no patch applied twice, no model asked again for an
answer the log holds, and a log that verifies.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from executor_support import (
    ADD_GOAL,
    APPROVE,
    AUTOPACK,
    GOOD_ADD,
    GOOD_MUL,
    MUL_GOAL,
    STALE_ADD,
    WRONG_MUL,
    autopack,
    checkpoint_commits,
    db_of,
    doctor,
    event_types,
    fork_autopack,
    git,
    make_project,
    payloads,
    plan_text,
    recorded_config,
    run_ids,
)

ANSWERS = [
    {"role": "builder", "prompt_contains": "does not apply", "text": GOOD_ADD, "input_tokens": 50, "output_tokens": 10},
    {"role": "builder", "prompt_contains": ADD_GOAL, "text": STALE_ADD, "input_tokens": 40, "output_tokens": 10},
    {"role": "builder", "prompt_contains": "quality check", "text": GOOD_MUL, "input_tokens": 60, "output_tokens": 10},
    {"role": "builder", "prompt_contains": MUL_GOAL, "text": WRONG_MUL, "input_tokens": 45, "output_tokens": 10},
    {
        "role": "doctor",
        "prompt_contains": "does not apply",
        "repeat": True,
        "text": doctor("retry_with_fix", "Use the parameter names a and b as in the file."),
    },
    {
        "role": "doctor",
        "prompt_contains": "quality check",
        "repeat": True,
        "text": doctor("retry_with_fix", "mul must multiply, not add."),
    },
    {"role": "auditor", "repeat": True, "text": APPROVE},
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template")
    ws = make_project(root, plan_text())
    recorded_config(ws, ANSWERS)
    return ws


def fresh(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


def outcome(ws: Path) -> dict:
    db = db_of(ws)
    types = event_types(db)
    return {
        "files": {p: (ws / p).read_text() for p in ("app/core.py", "app/mul.py")},
        "checkpoints": checkpoint_commits(ws),
        "answered": types.count("model_call_answered"),
        "applied": types.count("patch_applied"),
        "checkpoint_events": [p["phase_id"] for p in payloads(db, "checkpoint_created")],
        "status": git(ws, "status", "--porcelain"),
        "branches": sorted(b.strip("* ").strip() for b in git(ws, "branch").splitlines()),
        "last": types[-1],
    }


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    ws = fresh(template, tmp_path_factory.mktemp("ref") / "ws")
    r = autopack("run", "plan.yaml", "--plain", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr
    out = outcome(ws)
    assert out["checkpoints"] == [f"autopack: add-mul: {MUL_GOAL}", f"autopack: fix-add: {ADD_GOAL}"]
    assert out["applied"] == 3 and out["answered"] == 9 and out["status"] == ""
    return out, len(event_types(db_of(ws)))


def resume_and_compare(ws: Path, reference: dict, *, forked: bool = False) -> None:
    [run_id] = run_ids(db_of(ws))
    if forked:
        assert fork_autopack("resume", run_id, "--plain", cwd=ws) == 0
    else:
        r = autopack("resume", run_id, "--plain", cwd=ws)
        assert r.returncode == 0, r.stdout + r.stderr
    v = autopack("verify", run_id, "--db", str(db_of(ws)))
    assert v.returncode == 0, v.stderr
    got = outcome(ws)
    assert got == reference
    types = event_types(db_of(ws))
    assert types.count("run_completed") == 1
    # Every requested call beyond the reference's was one in flight at the kill, never an answered one.
    assert types.count("model_call_requested") - reference["answered"] <= 1


def test_killed_after_every_step_each_resume_continues(
    template: Path, reference: tuple[dict, int], tmp_path: Path
) -> None:
    """A chain: the run and then each resume are killed right after they record one step, until the
    run ends; every boundary between steps of the run is a kill point followed by a resume."""
    ref, total = reference
    ws = fresh(template, tmp_path / "ws")
    kill = {"AUTOPACK_TEST_CRASH_AFTER_STEPS": "1"}
    # Forked children run the command's code without re-importing it: the chain stays quick.
    assert fork_autopack("run", "plan.yaml", "--plain", cwd=ws, env=kill) == 137
    [run_id] = run_ids(db_of(ws))
    kills = 1
    while event_types(db_of(ws))[-1] != "run_completed":
        code = fork_autopack("resume", run_id, "--plain", cwd=ws, env=kill)
        assert code in (0, 137)
        kills += code == 137
        assert kills < 3 * total, "the chain of resumes does not make progress"
    assert kills >= 30
    resume_and_compare(ws, ref, forked=True)


def test_killed_at_each_model_call_in_flight(template: Path, reference: tuple[dict, int], tmp_path: Path) -> None:
    """Killed after a call was requested and before its answer: resume asks again, once."""
    ref, total = reference
    ref_ws = tmp_path / "ref"
    ref_types = None
    for n in range(1, total + 1):
        if ref_types is None:
            ws = fresh(template, ref_ws)
            assert fork_autopack("run", "plan.yaml", "--plain", cwd=ws) == 0
            ref_types = event_types(db_of(ws))
        if ref_types[n - 1] != "model_call_requested":
            continue
        ws = fresh(template, tmp_path / f"kill-{n}")
        assert (
            fork_autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AFTER_EVENTS": str(n)})
            == 137
        )
        assert event_types(db_of(ws))[-1] == "model_call_requested"
        try:
            resume_and_compare(ws, ref, forked=True)
        except AssertionError as exc:
            raise AssertionError(f"killed after event {n}: {exc}") from exc


@pytest.mark.parametrize(
    "point", ["branch", "apply:1", "apply:2", "apply:3", "reset:1", "checkpoint:1", "checkpoint:2"]
)
def test_kill_after_an_effect_before_its_event(
    template: Path, reference: tuple[dict, int], tmp_path: Path, point: str
) -> None:
    ref, _ = reference
    ws = fresh(template, tmp_path / "ws")
    assert fork_autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AT": point}) == 137
    resume_and_compare(ws, ref, forked=True)
    reconciled = payloads(db_of(ws), "workspace_reconciled")
    if point.startswith("checkpoint"):
        # The commit made before the kill was found by its trailer, not made again.
        assert any(p["action"] == "checkpoint_found" for p in reconciled)


def test_resume_twice_and_resume_of_a_finished_run(template: Path, reference: tuple[dict, int], tmp_path: Path) -> None:
    ref, _ = reference
    ws = fresh(template, tmp_path / "ws")
    autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AFTER_EVENTS": "12"})
    [run_id] = run_ids(db_of(ws))
    r = autopack("resume", run_id, "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AFTER_EVENTS": "5"})
    assert r.returncode == 137
    resume_and_compare(ws, ref)
    before = event_types(db_of(ws))
    again = autopack("resume", run_id, "--plain", cwd=ws)
    assert again.returncode == 0 and "already ended: completed" in again.stdout + again.stderr
    assert event_types(db_of(ws)) == before


def test_resume_refuses_a_workspace_that_moved(template: Path, tmp_path: Path) -> None:
    ws = fresh(template, tmp_path / "ws")
    autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AFTER_EVENTS": "3"})
    (ws / "other.txt").write_text("someone else's commit\n")
    git(ws, "add", "other.txt")
    git(ws, "commit", "-q", "-m", "not autopack")
    [run_id] = run_ids(db_of(ws))
    r = autopack("resume", run_id, "--plain", cwd=ws)
    assert r.returncode == 2
    assert "the workspace changed since the run stopped" in r.stderr
    assert (ws / "other.txt").exists()


def test_ctrl_c_records_run_aborted_and_the_run_resumes(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    started = tmp_path / "started"
    slow = (
        "{name: command, run: \"python -c 'import pathlib, time, sys; pathlib.Path(sys.argv[1]).touch(); "
        "[time.sleep(0.05) for _ in range(2000) if not pathlib.Path(sys.argv[2]).exists()]' "
        f'{started} {gate}"}}'
    )
    plan = plan_text(two_phases=False).replace(
        'checks: [{name: command, run: "python check_add.py"}]', f"checks: [{slow}]"
    )
    ws = make_project(tmp_path, plan)
    recorded_config(ws, ANSWERS)
    proc = subprocess.Popen(
        [AUTOPACK, "run", "plan.yaml", "--plain"],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if k != "AUTOPACK_DB"},
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    db = db_of(ws)
    types = event_types(db)
    assert types[-1] == "run_aborted"
    gate.touch()
    [run_id] = run_ids(db)
    r = autopack("resume", run_id, "--plain", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr
    types = event_types(db)
    assert types.count("run_aborted") == 1 and types.count("run_resumed") == 1 and types[-1] == "run_completed"
    assert (ws / "app/core.py").read_text() == "def add(a, b):\n    return a + b\n"
