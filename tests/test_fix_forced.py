"""The switches a fix type adds to the argv defeat attacks planted in the workspace.

These tests do run the allowed argv (as the executor will), with real git and a real Python,
next to a control run of the same command without the switches, which the attack does reach.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from autopack_core.contracts import FixContext
from autopack_core.patching.governance import GovernancePolicy
from autopack_core.testing import GIT_ENV, make_git_workspace
from autopack_plugins.fix_types import fix_types

TYPES = {t.name: t for t in fix_types()}
ENV = {**os.environ, **GIT_ENV}


def evil_script(path: Path, canary: Path) -> Path:
    path.write_text(f"#!/bin/sh\ntouch {canary}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_planted_compileall_module_cannot_shadow_the_standard_library(tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"src/a.py": "x = 1\n"})
    canary = tmp_path / "canary"
    (ws / "compileall.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    verdict = TYPES["python"].check("python -m compileall -q src", FixContext(workspace=ws))
    assert verdict.allowed and verdict.argv[:3] == ("python", "-I", "-m")
    argv = [sys.executable, *verdict.argv[1:]]
    subprocess.run(argv, cwd=ws, check=True, capture_output=True)
    assert not canary.exists()
    assert any((ws / "src" / "__pycache__").iterdir())
    # Control: without -I the workspace's compileall.py is what runs.
    subprocess.run([a for a in argv if a != "-I"], cwd=ws, capture_output=True)
    assert canary.exists()


def test_an_external_diff_or_textconv_in_the_repository_config_does_not_run(tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"a.py": "one\n", ".gitattributes": "*.py diff=evil\n"})
    canary = tmp_path / "canary"
    script = evil_script(tmp_path / "evil.sh", canary)
    with (ws / ".git" / "config").open("a") as fh:
        fh.write(f'[diff]\n\texternal = {script}\n[diff "evil"]\n\ttextconv = {script}\n')
    (ws / "a.py").write_text("two\n")
    ctx = FixContext(workspace=ws)
    for command in ("git diff", "git diff --stat", "git log -p -1", "git show HEAD"):
        verdict = TYPES["git"].check(command, ctx)
        assert verdict.allowed, verdict.line()
        subprocess.run(list(verdict.argv), cwd=ws, env=ENV, check=True, capture_output=True)
        assert not canary.exists(), command
    # Control: the same command without the added switches runs the planted program.
    subprocess.run(["git", "diff"], cwd=ws, env=ENV, capture_output=True)
    assert canary.exists()


def test_pathspec_magic_is_plain_text_for_git(tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"a.py": "1\n", "b.py": "2\n"})
    (ws / "a.py").write_text("changed\n")
    (ws / "b.py").write_text("changed\n")
    verdict = TYPES["git"].check("git add -- :a.py", FixContext(workspace=ws))
    assert verdict.allowed
    res = subprocess.run(list(verdict.argv), cwd=ws, env=ENV, capture_output=True, text=True)
    # Literally ":a.py", which does not exist: nothing is staged.
    assert res.returncode != 0
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=ws, env=ENV, capture_output=True, text=True)
    assert staged.stdout == ""


def test_git_clean_keeps_protected_paths_in_any_case(tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"README.md": "r\n"})
    keep = ["secrets/new.txt", "Secrets/other.txt", "deep/keys/id.pem", ".autopack/autopack.db", ".husky/pre-commit"]
    for rel in [*keep, "junk/x.txt", "loose.txt", "deep/other.txt"]:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("x\n")
    policy = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/", "**/*.pem"))
    verdict = TYPES["git"].check("git clean -fd", FixContext(workspace=ws, protected=policy))
    assert verdict.allowed, verdict.line()
    subprocess.run(list(verdict.argv), cwd=ws, env=ENV, check=True, capture_output=True)
    assert all((ws / rel).exists() for rel in keep)
    assert not (ws / "junk").exists() and not (ws / "loose.txt").exists() and not (ws / "deep" / "other.txt").exists()
    # Control: without the excludes, clean deletes the protected files too.
    subprocess.run(["git", "clean", "-fd"], cwd=ws, env=ENV, check=True, capture_output=True)
    assert not (ws / "secrets").exists()


def test_git_reset_of_a_file_that_is_also_a_branch_name_moves_nothing(tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"README.md": "r\n"})
    subprocess.run(["git", "branch", "other"], cwd=ws, env=ENV, check=True)
    (ws / "README.md").write_text("second\n")
    subprocess.run(["git", "commit", "-qam", "second"], cwd=ws, env=ENV, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, env=ENV, capture_output=True, text=True).stdout
    (ws / "other").write_text("a file named like the branch\n")
    verdict = TYPES["git"].check("git reset other", FixContext(workspace=ws))
    assert verdict.allowed  # as a path, which is how the check reads an existing file
    res = subprocess.run(list(verdict.argv), cwd=ws, env=ENV, capture_output=True, text=True)
    assert res.returncode != 0 and "ambiguous" in res.stderr  # git refuses a name that is both
    after = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, env=ENV, capture_output=True, text=True).stdout
    assert after == head
