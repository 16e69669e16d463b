"""The environment fix commands run in: attacks first, each shown to work without it.

Real git, real subprocesses: a workspace whose own ``.git/config`` and hooks
name programs (fsmonitor, clean/smudge filters, textconv, hooks, pager) that
would leave a canary file; through ``run_fix_argv`` none of them runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autopack_core.executor.fixes import FIX_PATH, fix_environment, resolve_program, run_fix_argv
from autopack_core.testing import GIT_ENV, make_git_workspace


def _git(ws: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(ws), *args], check=True, env={**os.environ, **GIT_ENV}, capture_output=True)


@pytest.fixture
def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    ws = make_git_workspace(tmp_path / "ws", {"a.txt": "a\n", ".gitattributes": "*.txt filter=evil diff=evil\n"})
    progs = tmp_path / "progs"
    progs.mkdir()
    for name in ("fsmonitor", "clean", "smudge", "textconv", "pager", "hook", "process"):
        script = progs / name
        script.write_text(f"#!/bin/sh\ntouch {canaries}/{name}\ncat\n")
        script.chmod(0o755)
    _git(ws, "config", "core.fsmonitor", str(progs / "fsmonitor"))
    _git(ws, "config", "filter.evil.clean", str(progs / "clean"))
    _git(ws, "config", "filter.evil.smudge", str(progs / "smudge"))
    _git(ws, "config", "diff.evil.textconv", str(progs / "textconv"))
    _git(ws, "config", "core.pager", str(progs / "pager"))
    hook = ws / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {canaries}/hook\n")
    hook.chmod(0o755)
    return ws, canaries


# Each command as a fix type's check would rebuild it (--no-pager --literal-pathspecs and so on).
ATTACKS = [
    ("git", "--no-pager", "--literal-pathspecs", "status"),
    ("git", "--no-pager", "--literal-pathspecs", "add", "--", "a.txt"),
    ("git", "--no-pager", "--literal-pathspecs", "checkout", "-b", "side"),
    ("git", "--no-pager", "--literal-pathspecs", "restore", "--", "a.txt"),
    ("git", "--no-pager", "--literal-pathspecs", "status", "-v"),
]


def _run_all(ws: Path, runner) -> None:
    (ws / "a.txt").write_text("changed\n")
    for argv in ATTACKS[:2]:
        runner(argv)
    (ws / "a.txt").write_text("changed again\n")
    for argv in ATTACKS[2:]:
        runner(argv)


def test_the_booby_traps_fire_under_a_plain_git(booby_trapped: tuple[Path, Path]) -> None:
    ws, canaries = booby_trapped
    env = {**os.environ, **GIT_ENV}
    _run_all(ws, lambda argv: subprocess.run(list(argv), cwd=ws, env=env, capture_output=True, check=False))
    fired = {p.name for p in canaries.iterdir()}
    assert {"fsmonitor", "clean", "hook"} <= fired, fired


def test_none_fires_in_the_fix_environment(booby_trapped: tuple[Path, Path]) -> None:
    ws, canaries = booby_trapped
    results = []

    def runner(argv: tuple[str, ...]) -> None:
        resolved = resolve_program(argv)
        assert resolved is not None and os.path.isabs(resolved[0])
        results.append(asyncio.run(run_fix_argv(resolved, ws, 30)))

    _run_all(ws, runner)
    assert [r.returncode for r in results] == [0] * len(ATTACKS), [r.output for r in results]
    assert sorted(p.name for p in canaries.iterdir()) == []


def test_no_credentials_and_a_fixed_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_git_workspace(tmp_path / "ws")
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "GIT_DIR", "PYTHONPATH"):
        monkeypatch.setenv(name, "/leak")
    monkeypatch.setenv("LD_PRELOAD", "")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    argv = resolve_program(("python", "-I", "-c", "import json, os; print(json.dumps(dict(os.environ)))"))
    assert argv is not None and argv[0] == sys.executable
    result = asyncio.run(run_fix_argv(argv, ws, 30))
    env = json.loads(result.output)
    assert not {"OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "GIT_DIR", "LD_PRELOAD", "PYTHONPATH"} & set(
        env
    )
    assert env["PATH"] == FIX_PATH
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_PAGER"] == "cat" and env["GIT_EDITOR"] == "true"
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert pairs["core.hooksPath"] == "/dev/null" and pairs["core.fsmonitor"] == "false"
    assert pairs["protocol.allow"] == "never" and pairs["credential.helper"] == ""
    assert not Path(env["HOME"]).exists()  # a private home, removed after the command


def test_programs_come_from_the_fixed_path_only(tmp_path: Path) -> None:
    assert resolve_program(("./git", "status")) is None
    assert resolve_program(("/usr/bin/git", "status")) is None
    assert resolve_program(("no-such-program-anywhere", "x")) is None
    git = resolve_program(("git", "status"))
    assert git is not None and os.path.dirname(git[0]) in FIX_PATH.split(":")


def test_git_config_of_the_workspace_is_read_for_drivers_only(booby_trapped: tuple[Path, Path], tmp_path: Path) -> None:
    ws, _ = booby_trapped
    _, git = fix_environment(ws, tmp_path)
    pairs = {git[f"GIT_CONFIG_KEY_{i}"]: git[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(git["GIT_CONFIG_COUNT"]))}
    assert pairs["filter.evil.clean"] == "cat" and pairs["filter.evil.smudge"] == "cat"
    assert pairs["diff.evil.textconv"] == "cat"
