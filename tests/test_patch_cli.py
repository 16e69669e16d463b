"""``autopack patch check|apply`` run as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patch_support import snapshot

AUTOPACK = str(Path(sys.executable).with_name("autopack"))
GOOD = "Fix:\n```diff\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n```\n"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOPACK_RAISE_ERRORS"}
    return subprocess.run([AUTOPACK, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "ws"
    w.mkdir()
    (w / "a.txt").write_text("one\ntwo\n")
    return w


def test_apply_from_file(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "fix.patch").write_text(GOOD)
    r = run("patch", "apply", str(tmp_path / "fix.patch"), "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    assert "a.txt" in r.stdout
    assert (ws / "a.txt").read_text() == "one\nTWO\n"


def test_check_from_stdin_writes_nothing(ws: Path) -> None:
    before = snapshot(ws)
    r = run("patch", "check", "-", "--workspace", str(ws), stdin=GOOD)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("would change 1 file(s)")
    assert snapshot(ws) == before


def test_refusal_exits_1_with_path_and_rule(ws: Path) -> None:
    before = snapshot(ws)
    patch = GOOD + "--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+evil\n"
    r = run("patch", "apply", "-", "--workspace", str(ws), stdin=patch)
    assert r.returncode == 1
    assert "autopack: refused: .git/hooks/pre-commit: git-dir:" in r.stderr
    assert snapshot(ws) == before


def test_protect_option(ws: Path) -> None:
    r = run("patch", "check", "-", "-w", str(ws), "--protect", "*.txt", stdin=GOOD)
    assert r.returncode == 1 and "a.txt: protected-path:" in r.stderr


def test_context_mismatch_exits_1(ws: Path) -> None:
    (ws / "a.txt").write_text("one\nthree\n")
    r = run("patch", "apply", "-", "-w", str(ws), stdin=GOOD)
    assert r.returncode == 1
    assert "autopack: error: a.txt: hunk 1" in r.stderr
    assert (ws / "a.txt").read_text() == "one\nthree\n"


def test_unparseable_reply_is_bad_input_exit_2(ws: Path) -> None:
    # Issue 8: a reply that is no patch at all is bad input (2); a refused valid patch stays 1.
    r = run("patch", "check", "-", "-w", str(ws), stdin="Looks good to me!\n")
    assert r.returncode == 2 and "no edits" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("patch", "apply", "missing.patch", "--workspace", "."),
        ("patch", "apply", "-", "--workspace", "/definitely/not/here"),
        ("patch", "apply"),
        ("patch", "check", "-", "--fuzz", "9"),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...], tmp_path: Path) -> None:
    r = subprocess.run([AUTOPACK, *args], input="", capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)


@pytest.mark.parametrize("cmd", [("patch",), ("patch", "check"), ("patch", "apply")])
def test_help(cmd: tuple[str, ...]) -> None:
    r = run(*cmd, "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_help_does_not_import_patch_machinery() -> None:
    code = (
        "import sys; from autopack_core import cli; "
        "print(any(m.startswith('autopack_core.patching') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_workspace_config_sets_the_policy(ws: Path) -> None:
    (ws / "config").mkdir()
    (ws / "config" / "models.yaml").write_text('governance:\n  protected_paths: ["*.txt"]\n')
    before = snapshot(ws)
    r = run("patch", "apply", "-", "-w", str(ws), stdin=GOOD)
    assert r.returncode == 1 and "a.txt: protected-path:" in r.stderr
    assert snapshot(ws) == before
    # .git/ stays protected even though this config's list leaves it out.
    evil = "--- /dev/null\n+++ b/.git/config\n@@ -0,0 +1 @@\n+x\n"
    r = run("patch", "check", "-", "-w", str(ws), stdin=evil)
    assert r.returncode == 1 and ".git/config: git-dir:" in r.stderr


def test_config_option_and_its_errors(ws: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("governance:\n  max_hunk_lines: 1\n")
    r = run("patch", "check", "-", "-w", str(ws), "--config", str(cfg), stdin=GOOD)
    assert r.returncode == 1 and "hunk-too-large" in r.stderr
    cfg.write_text("governance:\n  fuzz: lots\n")
    r = run("patch", "check", "-", "-w", str(ws), "--config", str(cfg), stdin=GOOD)
    assert r.returncode == 2
    assert f"{cfg}:2: governance.fuzz" in r.stderr


def test_the_config_section_is_the_policy() -> None:
    from autopack_core.config import AutopackConfig
    from autopack_core.config_load import load_config_text
    from autopack_core.patching import DEFAULT_POLICY, GovernancePolicy

    # One set of knobs with one set of defaults: config and CLI cannot drift.
    assert AutopackConfig().governance == DEFAULT_POLICY
    cfg = load_config_text("governance:\n  allow_binary_patches: true\n  fuzz: 2\n  exec_protected_paths: [tools/]\n")
    policy = cfg.governance
    assert isinstance(policy, GovernancePolicy)
    assert (policy.allow_binary_patches, policy.fuzz, policy.exec_protected_paths) == (True, 2, ("tools/",))
