"""Defects a new user met: unknown --type, a closed pipe, usage errors, --disable-plugin typos,
prompt --db and AUTOPACK_DB, and config errors that name the user's file."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import AUTOPACK, run_cli


def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess:
    """Run autopack with stdout a pipe whose reader is already gone (every write is EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([AUTOPACK, *args], stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)


def test_unknown_event_type_is_exit_2_naming_the_known_ones(recorded_db):
    db, run_id, _ = recorded_db
    r = run_cli("events", run_id, "--type", "PhaseStarted", "--db", str(db))
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopack: error: unknown event type 'PhaseStarted'")
    assert "phase_started" in err[0] and "run_created" in err[0]
    # Known types still filter as before.
    assert run_cli("events", run_id, "--type", "phase_started", "--db", str(db)).returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["runs"],
        ["show", "RUN"],
        ["events", "RUN"],
        ["events", "RUN", "--json"],
        ["export", "RUN"],
        ["verify"],
        ["plugins"],
        ["plugins", "--json"],
        ["models"],
        ["--help"],
        ["events", "--help"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_is_exit_0_and_quiet(recorded_db, args):
    db, run_id, _ = recorded_db
    args = [run_id if a == "RUN" else a for a in args]
    if args[0] in ("runs", "show", "events", "export", "verify") and "--help" not in args:
        args += ["--db", str(db)]
    r = _closed_pipe_run(*args)
    assert (r.returncode, r.stderr) == (0, b"")


def test_head_of_a_long_listing_exits_0(recorded_db):
    db, run_id, _ = recorded_db
    script = f'"{AUTOPACK}" events {run_id} --db "{db}" | head -1; echo "status=${{PIPESTATUS[0]}}"'
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert r.stdout.splitlines()[-1] == "status=0" and r.stderr == ""


@pytest.mark.parametrize(
    "args, says",
    [
        (["show"], "Missing argument 'RUN'"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["runs", "--bogus"], "--bogus"),
        (["events", "x", "--db"], "Option '--db' requires an argument"),
        (["patch", "check"], "Missing argument 'PATCHFILE'"),
        (["patch", "check", "p.diff", "--fuzz", "9"], "--fuzz"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, says):
    r = run_cli(*args)
    assert r.returncode == 2
    err = r.stderr.decode().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("autopack: error: ") and says in err[0] and "--help" in err[0]


def test_disabling_an_unknown_plugin_warns_naming_the_loaded_ones():
    r = run_cli("--disable-plugin", "nosuch", "plugins")
    assert r.returncode == 0
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopack: warning: --disable-plugin nosuch: no plugin of that name")
    assert "quality_checks" in err[0] and "provider_recorded" in err[0]
    # A real name is not warned about, and its plugin is gone.
    r = run_cli("--disable-plugin", "health_checks", "plugins")
    assert r.stderr == b"" and b"health_checks" not in r.stdout


def test_prompt_records_into_autopack_db_like_the_other_commands(tmp_path):
    db = tmp_path / "env.db"
    r = run_cli("prompt", "-m", "recorded-cheap", "hi", env={"AUTOPACK_DB": str(db)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("events", "_prompts", "--json", env={"AUTOPACK_DB": str(db)})
    assert r.returncode == 0, r.stderr
    types = [json.loads(line)["type"] for line in r.stdout.splitlines()]
    assert types == ["model_call_requested", "model_call_answered"]


def test_roles_without_default_work_and_errors_name_the_users_file(tmp_path):
    cfg = tmp_path / "user.yaml"
    cfg.write_text("routing:\n  roles:\n    builder: {cheap: recorded-cheap}\n")
    r = run_cli("models", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    cfg.write_text(
        "routing:\n  roles:\n    builder: {cheap: recorded-cheap}\nmodels:\n"
        "  recorded-strong: {provider: recorded, tier: cheap}\n"
    )
    r = run_cli("models", "--config", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.startswith(f"autopack: error: {cfg}:1: routing"), err
    assert "defaults/models.yaml" not in err


@pytest.mark.parametrize("args", [[], ["patch"]])
def test_a_bare_group_shows_its_help(args):
    r = run_cli(*args)
    assert r.returncode == 2 and r.stderr.startswith(b"Usage: autopack") and b"Commands:" in r.stderr
