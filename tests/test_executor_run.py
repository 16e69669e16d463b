"""``autopack run`` and ``autopack demo`` as a user runs them: output modes, refusals, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from executor_support import (
    ANSWERS_SIMPLE,
    autopack,
    db_of,
    event_types,
    git,
    make_project,
    plan_text,
    recorded_config,
    run_ids,
)


def test_demo_runs_offline_and_ends_with_the_commands_to_look_at_it(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    r = autopack("demo", "--dir", str(target), "--plain", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    db = db_of(target)
    [run_id] = run_ids(db)
    types = event_types(db)
    # Phase 1: the first patch does not apply, the Doctor says retry_with_fix, the second applies,
    # the Auditor approves, pytest passes, checkpoint. Phase 2: a failed check fed back and fixed.
    assert types.count("patch_refused") == 1
    assert types.count("doctor_diagnosed") == 2 and types.count("hint_recorded") == 2
    assert types.count("checkpoint_created") == 2 and types[-1] == "run_completed"
    assert f"autopack show {run_id} --db {db}" in r.stdout
    assert f"autopack events {run_id} --db {db}" in r.stdout
    log = git(target, "log", "--format=%s").splitlines()
    assert len(log) == 3 and log[-1] == "calc: the demo project"
    assert git(target, "status", "--porcelain") == ""
    assert git(target, "branch", "--list", "autopack/*") == ""  # the pre-run branch is removed after success
    show = autopack("show", run_id, "--db", str(db))
    assert show.returncode == 0 and "completed" in show.stdout
    assert autopack("verify", run_id, "--db", str(db)).returncode == 0
    # The demo project's own tests pass now.
    assert "public function without a docstring" not in (target / "calc/stats.py").read_text()


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    r = autopack("demo", "--dir", str(tmp_path / "x"))
    assert r.returncode == 2 and "not an empty folder" in r.stderr
    assert os.listdir(tmp_path / "x") == ["keep.txt"]


def test_json_output_is_one_object_per_event(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False))
    recorded_config(ws, ANSWERS_SIMPLE)
    r = autopack("run", "plan.yaml", "--json", cwd=ws)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["type"] for o in lines] == event_types(db_of(ws))
    assert [o["seq"] for o in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["payload"]["goal"] == "Fix the arithmetic of app"


def test_plain_output_is_key_value_lines_and_a_summary(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False))
    recorded_config(ws, ANSWERS_SIMPLE)
    r = autopack("run", "plan.yaml", cwd=ws)  # no terminal: plain lines
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("event=run_created run=")
    assert any(line.startswith("event=summary_phase phase=fix-add status=completed attempts=1") for line in lines)
    assert lines[-1].startswith("event=summary_run") and "status=completed" in lines[-1]


def test_a_dirty_workspace_is_refused_with_its_files_named_and_left_alone(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False))
    recorded_config(ws, ANSWERS_SIMPLE)
    (ws / "app/core.py").write_text("# my unsaved work\n")
    (ws / "notes.txt").write_text("untracked\n")
    head = git(ws, "rev-parse", "HEAD")
    r = autopack("run", "plan.yaml", cwd=ws)
    assert r.returncode == 2
    assert "uncommitted changes in app/core.py, notes.txt" in r.stderr
    assert (ws / "app/core.py").read_text() == "# my unsaved work\n"
    assert not (ws / ".autopack").exists()
    assert git(ws, "rev-parse", "HEAD") == head and git(ws, "branch", "--list", "autopack/*") == ""


def test_health_check_failure_stops_before_anything_is_written(tmp_path: Path) -> None:
    ws = tmp_path / "not-a-repo"
    ws.mkdir()
    (ws / "plan.yaml").write_text(plan_text(two_phases=False))
    r = autopack("run", "plan.yaml", cwd=ws)
    assert r.returncode == 2
    assert "T0 health checks failed" in r.stderr and "not a git repository" in r.stderr
    assert sorted(os.listdir(ws)) == ["plan.yaml"]


def test_a_bad_plan_is_refused_with_file_and_line(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False).replace("complexity: low", "complexity: tiny"))
    recorded_config(ws, ANSWERS_SIMPLE)
    r = autopack("run", "plan.yaml", cwd=ws)
    assert r.returncode == 2
    assert "plan.yaml:" in r.stderr and "complexity" in r.stderr
    assert not (ws / ".autopack").exists()


def test_a_plan_naming_an_uninstalled_check_is_refused(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False).replace("checks: [{name: command", "checks: [{name: mypy"))
    recorded_config(ws, ANSWERS_SIMPLE)
    r = autopack("run", "plan.yaml", cwd=ws)
    assert r.returncode == 2 and "no quality check 'mypy' is installed" in r.stderr


def test_state_folder_is_excluded_from_git(tmp_path: Path) -> None:
    ws = make_project(tmp_path, plan_text(two_phases=False))
    recorded_config(ws, ANSWERS_SIMPLE)
    assert autopack("run", "plan.yaml", cwd=ws).returncode == 0
    assert (ws / ".autopack" / "autopack.db").exists()
    assert git(ws, "status", "--porcelain", "--ignored=no") == ""
    assert ".autopack" in (ws / ".git" / "info" / "exclude").read_text()
    assert ".autopack" not in git(ws, "ls-files")
    assert not (ws / ".gitignore").read_text().count(".autopack")  # the user's tracked files are untouched


def test_rich_progress_shows_the_step_and_ends_with_a_summary_table(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from autopack_core import events as ev
    from autopack_core.executor.progress import RichProgress
    from autopack_core.plan import PhaseSpec
    from autopack_core.projections import RunView
    from autopack_core.store import Envelope

    out = io.StringIO()
    p = RichProgress(console=Console(file=out, force_terminal=True, width=140, color_system=None))
    p.tiers = {"cheap-m": "cheap"}
    view = RunView("R1")
    events = [
        ev.RunCreated(goal="g", phases=(PhaseSpec(id="fix-add", goal="fix"), PhaseSpec(id="add-mul", goal="mul"))),
        ev.RunStarted(base_commit="abc"),
        ev.PhaseStarted(phase_id="fix-add"),
        ev.ModelCallRequested(
            call_id="c1", role="builder", provider="p", model="cheap-m", prompt="x", phase_id="fix-add"
        ),
    ]
    for seq, e in enumerate(events, 1):
        env = Envelope("R1", seq, "ts", e, "h")
        view.apply(env)
        p.update([env], view)
    live = p.render(view)
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(live)
    shown = console.file.getvalue()
    assert "fix-add  step building  attempt 1  role builder  model cheap-m (cheap)" in shown
    p.close(view)
    summary = out.getvalue()
    assert "run R1: running" in summary and "doctor calls" in summary and "add-mul" in summary
