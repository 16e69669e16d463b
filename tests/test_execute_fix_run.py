"""execute_fix end to end: real git, real subprocesses, a scripted model.

Each run goes through the executor against a real repository; only the
models' words are scripted (a ``ScriptedServer`` on 127.0.0.1 for in-process
runs, the ``recorded`` provider for the kill-and-resume run).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from executor_support import (
    run_against_server,
    ADD_GOAL,
    APPROVE,
    CHECK_ADD,
    GOOD_ADD,
    STALE_ADD,
    autopack,
    commit_all,
    db_of,
    doctor,
    event_types,
    fork_autopack,
    git,
    make_project,
    payloads,
    recorded_config,
    run_ids,
)

from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_run
from autopack_core.store import EventStore
from autopack_core.testing import ScriptedServer

FIX_ON = """doctor:
  allow_execute_fix_global: true
  allowed_fix_types: [git, file]
"""

HINT = "Use the parameter names a and b as in the file."

# A check that injects a real merge conflict the first time it runs (as a concurrent
# process or an interrupted merge would leave one) and fails while one is in the worktree.
CHECK_MERGE_PY = """import os, subprocess, sys

env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
marker = os.path.join(".git", "test-merge-injected")
if not os.path.exists(marker):
    open(marker, "w").close()
    subprocess.run(["git", "merge", "--no-edit", "other"], env=env)
unmerged = subprocess.run(["git", "ls-files", "-u"], capture_output=True, text=True, env=env).stdout
if unmerged or "<<<<<<<" in open("notes.txt").read():
    print("CONFLICT: unmerged paths in the workspace:")
    print(unmerged)
    sys.exit(1)
print("no conflicts")
"""


def plan(checks: str = f"[{CHECK_ADD}]") -> str:
    return f"""goal: Fix the arithmetic of app
phases:
  - id: fix-add
    goal: {ADD_GOAL}
    category: bugfix
    complexity: low
    scope: [app/core.py]
    checks: {checks}
"""


@attrs.define
class Outcome:
    code: int
    run_id: str
    ws: Path
    events: list[Any]
    requests: list[dict[str, Any]]
    output: str

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def run_scenario(
    ws: Path, server: ScriptedServer, replies: list[str], *, config: str = FIX_ON, plugins: Any = None
) -> Outcome:
    code, run_id, _db, events, output = run_against_server(ws, server, replies, config, plugins=plugins)
    return Outcome(code, run_id, ws, events, [r.json for r in server.requests], output)


def project(tmp_path: Path, checks: str = f"[{CHECK_ADD}]", files: dict[str, str] | None = None) -> Path:
    ws = make_project(tmp_path, plan(checks))
    for rel, text in (files or {}).items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    if files:
        commit_all(ws, "test files")
    return ws


# --- (a) a real merge conflict, resolved by the Doctor's git commands -------------------------


def conflicted_project(tmp_path: Path) -> Path:
    checks = f'[{CHECK_ADD}, {{name: command, run: "python check_merge.py"}}]'
    ws = project(tmp_path, checks, {"notes.txt": "base\n", "check_merge.py": CHECK_MERGE_PY})
    git(ws, "checkout", "-q", "-b", "other")
    (ws / "notes.txt").write_text("theirs\n")
    commit_all(ws, "their notes")
    git(ws, "checkout", "-q", "main")
    (ws / "notes.txt").write_text("ours\n")
    commit_all(ws, "our notes")
    return ws


@pytest.mark.parametrize(
    ("commands", "verify", "notes"),
    [
        (["git checkout --theirs -- notes.txt", "git add notes.txt"], "git diff --check", "theirs\n"),
        (["git merge --abort"], "git diff --check", "ours\n"),
    ],
    ids=["checkout-theirs", "merge-abort"],
)
def test_a_merge_conflict_injected_during_the_run_is_fixed_by_git_commands(
    tmp_path: Path, scripted_server: ScriptedServer, commands: list[str], verify: str, notes: str
) -> None:
    ws = conflicted_project(tmp_path)
    fix = doctor("execute_fix", fix_type="git", fix_commands=commands, verify_command=verify)
    o = run_scenario(ws, scripted_server, [GOOD_ADD, APPROVE, fix])
    assert o.code == 0, o.output
    # The check failed on the conflict, the Doctor was asked once, the Builder only once.
    [failed] = [e for e in o.of("check_result") if not e.passed]
    assert "CONFLICT" in failed.output
    assert len(o.requests) == 3
    [taken] = [a for a in o.of("action_taken") if a.action == "execute_fix"]
    assert "back to checkpoint" in taken.detail
    started, executed = o.of("fix_started"), o.of("fix_executed")
    assert [(e.stage, e.index) for e in started] == [(e.stage, e.index) for e in executed]
    assert [e.command for e in executed] == [*commands, verify]
    assert all(e.exit_code == 0 and not e.timed_out for e in executed)
    assert all(e.argv[:3] == ("git", "--no-pager", "--literal-pathspecs") for e in executed)
    # Then the failing step again (the checks), which passed, and the run completed.
    assert [e.step for e in o.of("step_retried")] == ["checking"]
    assert o.types()[-1] == "run_completed"
    assert (ws / "notes.txt").read_text() == notes
    assert git(ws, "show", "HEAD:notes.txt") == notes
    assert git(ws, "show", "HEAD:app/core.py") == "def add(a, b):\n    return a + b\n"
    assert git(ws, "ls-files", "-u") == ""
    assert not o.of("fix_refused")
    assert fold_run(_envs(o)).fix_commands_run == len(commands) + 1


def _envs(o: Outcome) -> list[Any]:
    with EventStore(db_of(o.ws), load_plugins().codec) as store:
        return list(store.iter_events(o.run_id))


# --- (b) a refused command: the fallback, and nothing ran ---------------------------------------


@pytest.mark.parametrize(
    ("fix_type", "commands", "rule"),
    [
        ("file", ["touch canary.txt", "rm -rf /"], "path-outside-workspace"),
        ("git", ["git -c core.hooksPath=x status"], "git-config-override"),
        ("file", ["touch canary.txt", "sudo rm -rf build"], "requires-manual-intervention"),
    ],
    ids=["rm-rf-root", "git-c", "sudo"],
)
def test_a_refused_command_falls_back_and_nothing_runs(
    tmp_path: Path, scripted_server: ScriptedServer, fix_type: str, commands: list[str], rule: str
) -> None:
    ws = project(tmp_path)
    fix = doctor("execute_fix", hint=HINT, fix_type=fix_type, fix_commands=commands)
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    [refused] = o.of("fix_refused")
    assert refused.rule == rule and refused.command == commands[-1] and refused.index == len(commands) - 1
    assert refused.requires_manual == (rule == "requires-manual-intervention")
    if refused.requires_manual:
        assert refused.reason.startswith("requires manual intervention")
    # Nothing ran: no intent, no outcome, no canary, and the phase never entered "fixing".
    assert not o.of("fix_started") and not o.of("fix_executed")
    assert not (ws / "canary.txt").exists()
    assert not any(a.action == "execute_fix" for a in o.of("action_taken"))
    [ar] = o.of("action_refused")
    assert ar.action == "execute_fix" and rule in ar.reason
    # The fallback: retry_with_fix with the Doctor's hint, which the next Builder prompt carries.
    assert [h.hint for h in o.of("hint_recorded")] == [HINT]
    assert any(a.action == "retry_with_fix" and "fallback" in a.detail for a in o.of("action_taken"))
    assert HINT in o.requests[2]["messages"][-1]["content"]
    assert o.types()[-1] == "run_completed"


def test_the_mark_fatal_fallback(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    ws = project(tmp_path)
    fix = doctor("execute_fix", fix_type="file", fix_commands=["rm -rf ../"])
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix], config=FIX_ON + "  execute_fix_fallback: mark_fatal\n")
    assert o.code == 1
    assert o.of("fix_refused")[0].rule == "path-outside-workspace"
    [fatal] = o.of("phase_marked_fatal")
    assert "fallback after execute_fix" in fatal.reason
    assert fold_run(_envs(o)).phases["fix-add"].status == "fatal"
    assert len(o.requests) == 2  # no Builder retry


# --- (c) off by default ---------------------------------------------------------------------


def test_execute_fix_is_off_by_default(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    ws = project(tmp_path)
    fix = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["touch canary.txt"])
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE], config="")
    assert o.code == 0, o.output
    [refused] = o.of("fix_refused")
    assert refused.reason == "execute_fix is off: doctor.allow_execute_fix_global is false"
    assert refused.stage == "action" and refused.command == "touch canary.txt"
    assert not o.of("fix_started") and not (ws / "canary.txt").exists()


def test_a_type_not_allowed_by_config_is_refused(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    ws = project(tmp_path)
    fix = doctor("execute_fix", fix_type="python", fix_commands=["python -m compileall app"])
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    [refused] = o.of("fix_refused")
    assert "'python' is not in doctor.allowed_fix_types (git, file)" in refused.reason
    assert not o.of("fix_started")


# --- (d) a timeout kills the whole process group --------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return " Z " not in state and "zombie" not in state


def test_a_fix_that_times_out_has_its_whole_process_group_killed(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    spawn = f"sleep 300 &\necho $! > {pidfile}\nsleep 300\n"
    ws = project(tmp_path, files={"spawn.sh": spawn})
    config = (
        "doctor:\n  allow_execute_fix_global: true\n  allowed_fix_types: [shell]\n  fix_timeout_seconds: 1.5\n"
        "  fix_types:\n    shell: {enabled: true, allow: ['sh spawn.sh']}\n"
    )
    fix = doctor("execute_fix", hint=HINT, fix_type="shell", fix_commands=["sh spawn.sh"])
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE], config=config)
    assert o.code == 0, o.output
    [done] = o.of("fix_executed")
    assert done.timed_out and done.exit_code == -1 and "timed out" in done.output
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the fix's background child outlived the timeout"
    [err] = [e for e in o.of("error_classified") if e.step == "fixing"]
    assert "timed out" in err.message and "process group was killed" in err.message
    # Fell back: back to the checkpoint, the Builder again with the hint, and the run completed.
    assert o.types()[-1] == "run_completed"


# --- budgets and error signatures --------------------------------------------------------------


FAIL_CHECK = '[{name: command, run: "python fail.py"}]'


def test_the_same_fix_is_not_tried_twice_for_the_same_failure(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    ws = project(tmp_path, FAIL_CHECK, {"fail.py": "print('still broken')\nraise SystemExit(1)\n"})
    fix = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["touch made-by-fix.txt"])
    config = FIX_ON + "  max_execute_fix_per_phase: 3\n  max_calls_per_phase: 3\n"
    o = run_scenario(
        ws,
        scripted_server,
        [GOOD_ADD, APPROVE, fix, GOOD_ADD, APPROVE, fix, GOOD_ADD, APPROVE, doctor("mark_fatal")],
        config=config,
    )
    assert o.code == 1
    # The first fix ran (and the check still failed, so its fallback followed) ...
    [ran] = o.of("fix_executed")
    assert ran.exit_code == 0 and ran.command == "touch made-by-fix.txt"
    # ... the same fix for the same failure signature was refused the second time.
    [refused] = o.of("fix_refused")
    assert "already tried for the same failure" in refused.reason and refused.stage == "action"
    assert len(o.of("fix_started")) == 1
    assert not (ws / "made-by-fix.txt").exists()  # back to the checkpoint after the failed fix


def test_at_most_max_execute_fix_per_phase(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    ws = project(tmp_path, FAIL_CHECK, {"fail.py": "raise SystemExit(1)\n"})
    one = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["touch one.txt"])
    two = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["touch two.txt"])
    o = run_scenario(
        ws,
        scripted_server,
        [GOOD_ADD, APPROVE, one, GOOD_ADD, APPROVE, two],
        config=FIX_ON,
    )
    [refused] = o.of("fix_refused")
    assert refused.reason == "doctor.max_execute_fix_per_phase (1) reached in phase fix-add"
    assert [e.command for e in o.of("fix_executed")] == ["touch one.txt"]


def test_a_failing_fix_command_resets_to_the_checkpoint_and_stops_the_fix(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    ws = project(tmp_path)
    commands = ["touch left-behind.txt", "mkdir app", "touch never.txt"]
    fix = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=commands)
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    assert [(e.command, e.exit_code != 0) for e in o.of("fix_executed")] == [(commands[0], False), (commands[1], True)]
    assert "File exists" in o.of("fix_executed")[1].output
    assert not (ws / "left-behind.txt").exists() and not (ws / "never.txt").exists()
    assert o.types()[-1] == "run_completed"


# --- item 5: rollback after fixes -------------------------------------------------------------


def test_rollback_after_a_fix_returns_to_the_pre_run_state_and_saves_uncommitted_work(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    ws = project(tmp_path, FAIL_CHECK, {"fail.py": "raise SystemExit(1)\n"})
    before = {p: (ws / p).read_text() for p in ("app/core.py", "fail.py")}
    fix = doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["touch made-by-fix.txt"])
    o = run_scenario(
        ws, scripted_server, [GOOD_ADD, APPROVE, fix, GOOD_ADD, APPROVE, doctor("rollback_run")], config=FIX_ON
    )
    assert o.code == 1
    [rb] = o.of("rollback_performed")
    base = o.of("run_started")[0].base_commit
    assert rb.commit == base and git(ws, "rev-parse", "HEAD").strip() == base
    assert {p: (ws / p).read_text() for p in before} == before
    assert git(ws, "status", "--porcelain") == ""
    # The applied, uncommitted patch of the last attempt is on the rescue branch, not lost.
    assert rb.rescue_branch == f"autopack/rescue-{o.run_id}"
    assert "a + b" in git(ws, "show", f"{rb.rescue_branch}:app/core.py")
    # The worktree before the fix was saved too.
    saved = f"autopack/fix-{o.run_id}-fix-add-1"
    assert "a + b" in git(ws, "show", f"{saved}:app/core.py")


# --- (e) killed between a fix command's intent and its outcome -------------------------------


def test_resume_after_a_kill_between_fix_intent_and_outcome(tmp_path: Path) -> None:
    ws = project(tmp_path)
    answers = [
        {"role": "builder", "prompt_contains": HINT, "text": GOOD_ADD},
        {"role": "builder", "prompt_contains": ADD_GOAL, "text": STALE_ADD},
        {
            "role": "doctor",
            "repeat": True,
            "text": doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=["mkdir fixed-once"]),
        },
        {"role": "auditor", "repeat": True, "text": APPROVE},
    ]
    recorded_config(ws, answers, FIX_ON)
    assert fork_autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AT": "fix"}) == 137
    db = db_of(ws)
    types = event_types(db)
    assert types[-1] == "fix_started"  # the intent is in the log, the outcome is not
    assert (ws / "fixed-once").is_dir()  # the command did run before the kill
    [run_id] = run_ids(db)
    r = autopack("resume", run_id, "--plain", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr
    types = event_types(db)
    # Never run again: one intent, no outcome; recorded as interrupted, then the fallback.
    assert types.count("fix_started") == 1 and types.count("fix_executed") == 0
    [refused] = payloads(db, "fix_refused")
    assert refused["rule"] == "interrupted"
    assert types[-1] == "run_completed"
    assert (ws / "app/core.py").read_text() == "def add(a, b):\n    return a + b\n"
    v = autopack("verify", run_id, "--db", str(db))
    assert v.returncode == 0, v.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_no_fix_process_is_left_behind(tmp_path: Path) -> None:
    # The runner kills the group when the command exits too, so a daemonising fix leaves nothing.
    from autopack_core.executor.fixes import resolve_program, run_fix_argv

    pidfile = tmp_path / "bg.pid"
    ws = project(tmp_path)
    argv = resolve_program(("sh", "-c", f"sleep 300 & echo $! > {pidfile}"))
    assert argv is not None
    result = asyncio.run(run_fix_argv(argv, ws, 30))
    assert result.returncode == 0
    bg = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(bg) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(bg)
    assert os.path.isabs(argv[0])


# --- each command is checked right before it runs ---------------------------------------------


def test_a_link_planted_by_an_earlier_command_is_caught_before_the_next_runs(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    (tmp_path / "outside").mkdir()
    ws = project(tmp_path)
    os.symlink("../outside", ws / "lnk")
    commit_all(ws, "a link out")
    with_link = git(ws, "rev-parse", "HEAD").strip()
    (ws / "lnk").unlink()
    commit_all(ws, "the link removed")
    # Both pass the gate (no lnk yet); the first restores a link leading out of the workspace.
    commands = [f"git checkout {with_link} -- lnk", "git add lnk/x"]
    fix = doctor("execute_fix", hint=HINT, fix_type="git", fix_commands=commands)
    o = run_scenario(ws, scripted_server, [STALE_ADD, fix, GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    [ran] = o.of("fix_executed")
    assert ran.command == commands[0] and ran.exit_code == 0
    [refused] = o.of("fix_refused")
    assert (refused.index, refused.rule) == (1, "path-outside-workspace")
    assert [(e.stage, e.index) for e in o.of("fix_started")] == [("command", 0)]
    assert not os.path.lexists(ws / "lnk")  # back to the checkpoint
    assert os.listdir(tmp_path / "outside") == []
    assert o.types()[-1] == "run_completed"


# --- killed after each of the fix's effects, before its event ---------------------------------


def _fix_outcome(ws: Path) -> dict[str, Any]:
    db = db_of(ws)
    types = event_types(db)
    fix_commits = git(ws, "log", "--all", "--format=%(trailers:key=Autopack-Fix,valueonly)").split()
    return {
        "core": (ws / "app/core.py").read_text(),
        "extra": sorted(p for p in ("fixed.txt", "left.txt") if (ws / p).exists()),
        "status": git(ws, "status", "--porcelain"),
        "last": types[-1],
        "fix_executed": types.count("fix_executed"),
        "fix_commits": len(fix_commits),
        "head_files": sorted(git(ws, "ls-tree", "-r", "--name-only", "HEAD").split()),
    }


@pytest.mark.parametrize(
    ("point", "commands"),
    [
        ("fix_checkpoint", ["touch fixed.txt"]),
        ("fix_commit", ["touch fixed.txt"]),
        ("fix_reset", ["touch left.txt", "mkdir app"]),
    ],
)
def test_killed_after_a_fix_effect_resumes_to_the_same_end(tmp_path: Path, point: str, commands: list[str]) -> None:
    answers = [
        {"role": "builder", "prompt_contains": HINT, "text": GOOD_ADD},
        {"role": "builder", "prompt_contains": ADD_GOAL, "text": STALE_ADD, "repeat": True},
        {
            "role": "doctor",
            "repeat": True,
            "text": doctor("execute_fix", hint=HINT, fix_type="file", fix_commands=commands),
        },
        {"role": "auditor", "repeat": True, "text": APPROVE},
    ]
    ends = []
    for name, crash in (("ref", None), ("crash", point)):
        ws = project(tmp_path / name)
        recorded_config(ws, answers, FIX_ON)
        if crash is None:
            r = autopack("run", "plan.yaml", "--plain", cwd=ws)
            assert r.returncode == 0, r.stdout + r.stderr
        else:
            assert fork_autopack("run", "plan.yaml", "--plain", cwd=ws, env={"AUTOPACK_TEST_CRASH_AT": crash}) == 137
            [run_id] = run_ids(db_of(ws))
            r = autopack("resume", run_id, "--plain", cwd=ws)
            assert r.returncode == 0, r.stdout + r.stderr
            assert autopack("verify", run_id, "--db", str(db_of(ws))).returncode == 0
        ends.append(_fix_outcome(ws))
    assert ends[0]["last"] == "run_completed" and ends[0]["fix_executed"] == len(commands)
    assert ends[1] == ends[0]


# --- the Doctor's prompt ----------------------------------------------------------------------

PROMPT_FIXES = [
    ("git", "git merge --abort"),
    ("git", "git diff --check"),
    ("git", "git checkout --theirs -- src/app.py"),
    ("git", "git add src/app.py"),
    ("git", "git checkout HEAD -- tests/fixtures/data.json"),
    ("git", "git diff --exit-code -- tests/fixtures/data.json"),
    ("file", "mkdir -p build/reports"),
]


def test_the_doctor_prompt_examples_are_commands_a_run_allows(tmp_path: Path) -> None:
    from autopack_core.contracts import FixContext

    plugins = load_plugins()
    text = " ".join(plugins.registry("roles")["doctor"].obj.default_template.split())
    assert "execute_fix" in text and "merge conflict" in text and "missing" in text
    ws = project(tmp_path)
    types = plugins.registry("fix_types")
    for fix_type, command in PROMPT_FIXES:
        assert f'"{command}"' in text
        verdict = types[fix_type].obj.check(command, FixContext(workspace=ws))
        assert verdict.allowed, (command, verdict.line())
