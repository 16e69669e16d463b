"""`autopack fix check`: exit codes, messages, config, and a fix type shipped by a third party."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from plugin_install import install_plugin_package

from autopack_core.testing import make_git_workspace


def out(res: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def test_allowed_prints_the_argv_and_exits_0(cli, autopack_workspace):
    code, stdout, stderr = out(
        cli("fix", "check", "--type", "git", "--workspace", str(autopack_workspace), "--", "git checkout -- README.md")
    )
    assert (code, stdout) == (0, "git --no-pager --literal-pathspecs checkout -- README.md\n"), stderr


def test_refused_names_the_rule_on_stderr_and_exits_1(cli, autopack_workspace):
    code, stdout, stderr = out(
        cli("fix", "check", "--type", "git", "-w", str(autopack_workspace), "--", "git -c core.pager=id log")
    )
    assert code == 1 and stdout == ""
    assert stderr.strip() == (
        "autopack: refused: git-config-override: '-c': sets any config for this command "
        "(core.pager, core.sshCommand, core.fsmonitor, ...)"
    )


def test_manual_intervention_is_said_so(cli, autopack_workspace):
    code, _, stderr = out(cli("fix", "check", "--type", "file", "-w", str(autopack_workspace), "--", "sudo rm -rf /"))
    assert code == 1
    assert "requires-manual-intervention" in stderr and "never run" in stderr


def test_bad_usage_exits_2_and_an_unknown_type_lists_the_known_ones(cli, autopack_workspace):
    code, _, stderr = out(cli("fix", "check", "--type", "npm", "-w", str(autopack_workspace), "--", "npm test"))
    assert code == 2
    assert "unknown fix type 'npm' (known: docker, file, git, python, shell)" in stderr
    assert out(cli("fix", "check", "--type", "git", "-w", str(autopack_workspace)))[0] == 2
    assert out(cli("fix", "check", "--type", "git", "-w", str(autopack_workspace), "--", "git", "status"))[0] == 2
    assert out(cli("fix", "check", "-w", str(autopack_workspace), "--", "git status"))[0] == 2
    assert out(cli("fix", "check", "--type", "git", "-w", str(autopack_workspace / "nope"), "--", "git status"))[0] == 2


def test_nothing_is_ever_executed_even_when_allowed(cli, autopack_workspace, tmp_path):
    canary = autopack_workspace / "canary.txt"
    for type_name, command in [
        ("file", "touch canary.txt"),
        ("file", "mkdir canary.txt"),
        ("file", "cp README.md canary.txt"),
        ("git", "git stash"),
        ("git", "git branch canary"),
        ("git", "git log --output=canary.txt"),
        ("python", "python -m compileall ."),
    ]:
        code, stdout, stderr = out(
            cli("fix", "check", "--type", type_name, "-w", str(autopack_workspace), "--", command)
        )
        assert code == 0, (command, stderr)
        assert not canary.exists(), command
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=autopack_workspace, capture_output=True, text=True
    )
    assert status.stdout == ""  # no stash, no __pycache__, nothing
    branches = subprocess.run(
        ["git", "branch", "--list", "canary"], cwd=autopack_workspace, capture_output=True, text=True
    )
    assert branches.stdout == ""


def test_the_default_workspace_is_the_current_folder(cli, autopack_workspace, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    command = f"touch ../{autopack_workspace.name}/README.md"
    assert out(cli("fix", "check", "--type", "file", "--", command, cwd=autopack_workspace))[0] == 0
    code, _, stderr = out(cli("fix", "check", "--type", "file", "--", command, cwd=other))
    assert code == 1 and "path-outside-workspace" in stderr


def test_config_turns_a_type_on_and_protects_paths(cli, tmp_path):
    ws = make_git_workspace(tmp_path / "ws", {"vendor/lib.py": "", "README.md": ""})
    cfg = tmp_path / "models.yaml"
    cfg.write_text(
        "governance:\n  protected_paths: ['.git/', '.autopack/', 'vendor/']\n"
        "doctor:\n  allowed_fix_types: [git, file, shell]\n"
        "  fix_types:\n    shell: {enabled: true, allow: ['make test']}\n    file: {enabled: false}\n"
    )
    base = ["fix", "check", "-w", str(ws), "--config", str(cfg)]
    assert out(cli(*base, "--type", "shell", "--", "make test"))[:2] == (0, "make test\n")
    code, _, stderr = out(cli(*base, "--type", "shell", "--", "make install"))
    assert code == 1 and "not-configured" in stderr
    code, _, stderr = out(cli(*base, "--type", "file", "--", "touch x"))
    assert code == 1 and "type-disabled" in stderr
    code, _, stderr = out(cli(*base, "--type", "git", "--", "git checkout -- vendor/lib.py"))
    assert code == 1 and "protected-path" in stderr
    code, _, stderr = out(cli(*base, "--type", "python", "--", "python -m compileall ."))
    assert code == 1 and "protected-path" in stderr and "not in doctor.allowed_fix_types" in stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("doctor:\n  fix_types:\n    shell: {enabled: yes please}\n")
    code, _, stderr = out(cli("fix", "check", "-w", str(ws), "--config", str(bad), "--type", "git", "--", "git status"))
    assert code == 2 and "bad.yaml:3: doctor.fix_types.shell.enabled" in stderr


def test_run_commits_and_branches_can_be_given(cli, autopack_workspace):
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    base = ["fix", "check", "--type", "git", "-w", str(autopack_workspace)]
    assert out(cli(*base, "--", f"git reset --hard {sha[:8]}"))[0] == 1
    assert out(cli(*base, "--run-commit", sha, "--", f"git reset --hard {sha[:8]}"))[0] == 0
    assert out(cli(*base, "--", "git branch -D autopack/x"))[0] == 1
    assert out(cli(*base, "--run-branch", "autopack/x", "--", "git branch -D autopack/x"))[0] == 0


def test_json_output(cli, autopack_workspace):
    code, stdout, _ = out(
        cli("fix", "check", "--json", "--type", "git", "-w", str(autopack_workspace), "--", "git push")
    )
    assert code == 1
    data = json.loads(stdout)
    assert data["allowed"] is False and data["rule"] == "remote-transport" and data["argv"] == []
    code, stdout, _ = out(
        cli("fix", "check", "--json", "--type", "git", "-w", str(autopack_workspace), "--", "git status")
    )
    assert code == 0 and json.loads(stdout)["argv"] == ["git", "--no-pager", "--literal-pathspecs", "status"]


# --- a third-party fix type ---------------------------------------------------------------

NPM_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "autopack-npm-fix"
version = "1.2.0"

[project.entry-points.autopack]
npm_fix = "autopack_npm_fix"
"""

NPM_MODULE = '''
"""An npm fix type: `npm test` and `npm ci --ignore-scripts`, nothing else."""
from autopack_core.fixrules import AllowlistFixType, Cmd, Opt, Program
from autopack_core.hookspecs import hookimpl

NPM = Program(
    names=("npm",),
    command=Cmd(
        subcommands={
            "test": Cmd(),
            "ci": Cmd(options=(Opt(long="ignore-scripts"),), check=lambda p, ctx: _scripts_off(p)),
        },
        refused_subcommands={"install": ("npm-install", "runs package scripts; use npm ci --ignore-scripts")},
    ),
)


def _scripts_off(parsed):
    from autopack_core.fixrules import refuse
    if not parsed.has("--ignore-scripts"):
        raise refuse("npm-scripts", "npm ci runs install scripts unless --ignore-scripts")


@hookimpl
def register_fix_types(register):
    register("npm", AllowlistFixType("npm", "npm test and a script-free npm ci", [NPM]))
'''


@pytest.mark.slow
def test_a_separately_installed_fix_type_is_listed_and_used(tmp_path):
    vpy = install_plugin_package(
        tmp_path, "autopack-npm-fix", {"pyproject.toml": NPM_PYPROJECT, "autopack_npm_fix.py": NPM_MODULE}
    )
    ws = make_git_workspace(tmp_path / "ws")

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(vpy), "-m", "autopack_core.cli", *a], capture_output=True, text=True, timeout=120)

    listed = run("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    npm = next(p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "npm_fix")
    assert (npm["distribution"], npm["version"], npm["hooks"]) == ("autopack-npm-fix", "1.2.0", ["register_fix_types"])
    check = ("fix", "check", "--type", "npm", "-w", str(ws), "--")
    ok = run(*check, "npm test")
    assert (ok.returncode, ok.stdout) == (0, "npm test\n"), ok.stderr
    ok = run(*check, "npm ci --ignore-s")
    assert (ok.returncode, ok.stdout) == (0, "npm ci --ignore-scripts\n"), ok.stderr
    for command, rule in [
        ("npm ci", "npm-scripts"),
        ("npm install left-pad", "npm-install"),
        ("npm run build", "subcommand-not-allowed"),
        ("npm test; id", "shell-operator"),
        ("sudo npm test", "requires-manual-intervention"),
        ("npx evil", "program-not-allowed"),
    ]:
        res = run(*check, command)
        assert res.returncode == 1 and f"refused: {rule}:" in res.stderr, (command, res.stderr)
    # The outer environment never saw the plugin: the install went into the venv.
    outer_run = subprocess.run(
        [sys.executable, "-m", "autopack_core.cli", "fix", "check", "--type", "npm", "-w", str(ws), "--", "npm test"],
        capture_output=True,
        text=True,
    )
    assert outer_run.returncode == 2 and "unknown fix type 'npm'" in outer_run.stderr


def test_a_broken_third_party_check_fails_closed(autopack_workspace):
    import types as pytypes

    from click.testing import CliRunner

    from autopack_core.cli import AppContext, cli
    from autopack_core.hookspecs import hookimpl
    from autopack_core.plugins import load_plugins

    class Broken:
        name, description, enabled_by_default = "broken", "raises", True

        def check(self, command, context):
            raise KeyError("oops")

    class Liar:
        name, description, enabled_by_default = "liar", "returns True", True

        def check(self, command, context):
            return True

    plugin = pytypes.SimpleNamespace(
        register_fix_types=hookimpl(lambda register: (register("broken", Broken()), register("liar", Liar())))
    )
    app = AppContext(load_plugins(extra=[("bad", plugin)]))
    for name in ("broken", "liar"):
        args = ["fix", "check", "--type", name, "-w", str(autopack_workspace), "--", "x"]
        res = CliRunner().invoke(cli, args, obj=app)
        assert res.exit_code == 1
        assert "refused: check-error:" in res.stderr and "(bad)" in res.stderr
