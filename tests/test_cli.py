"""The command line: --help everywhere, one-line errors, exit codes, --db handling."""

from __future__ import annotations

import json
import os

import click
import pytest

from autopack_core.cli import cli as root


def _all_commands(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_all_commands(root)), ids=lambda p: " ".join(p) or "autopack")
def test_every_command_has_help(cli, path):
    res = cli(*path, "--help")
    assert res.returncode == 0, res.stderr
    assert b"Usage: autopack" in res.stdout


def test_store_commands_take_db_after_the_command_name():
    for name in ("runs", "show", "events", "export", "import", "verify"):
        assert any(p.name == "db" for p in root.commands[name].params), name


def test_missing_store_is_one_line_exit_2(cli, tmp_path):
    res = cli("runs", "--db", str(tmp_path / "nope.db"))
    assert res.returncode == 2
    assert (
        res.stderr.decode().strip()
        == f"autopack: error: no event store at {tmp_path / 'nope.db'} (pass --db PATH or set AUTOPACK_DB)"
    )
    assert not (tmp_path / "nope.db").exists()


def test_unknown_run_is_one_line_exit_2(cli, recorded_db):
    db, _, _ = recorded_db
    res = cli("show", "no-such-run", "--db", str(db))
    assert res.returncode == 2
    assert len(res.stderr.splitlines()) == 1 and b"no run 'no-such-run'" in res.stderr


def test_bad_usage_exits_2(cli):
    res = cli("show")
    assert res.returncode == 2
    assert b"Missing argument" in res.stderr
    assert cli("no-such-command").returncode == 2


def test_raise_errors_shows_the_traceback(cli, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite")
    quiet = cli("runs", "--db", str(bad))
    assert quiet.returncode == 2 and b"Traceback" not in quiet.stderr
    loud = cli("runs", "--db", str(bad), env={"AUTOPACK_RAISE_ERRORS": "1"})
    assert b"Traceback" in loud.stderr and b"ForeignDatabaseError" in loud.stderr


def test_db_defaults_to_env_then_cwd(cli, recorded_db, tmp_path):
    db, run_id, _ = recorded_db
    assert run_id.encode() in cli("runs", env={"AUTOPACK_DB": str(db)}).stdout
    env = {k: v for k, v in os.environ.items() if k != "AUTOPACK_DB"}
    workdir = tmp_path / "proj"
    (workdir / ".autopack").mkdir(parents=True)
    (workdir / ".autopack" / "autopack.db").write_bytes(db.read_bytes())
    import subprocess

    from conftest import AUTOPACK

    res = subprocess.run([AUTOPACK, "runs"], cwd=workdir, env=env, capture_output=True)
    assert res.returncode == 0 and run_id.encode() in res.stdout


def test_runs_show_events(cli, recorded_db):
    db, run_id, n = recorded_db
    runs = cli("runs", "--db", str(db)).stdout.decode()
    assert run_id in runs
    shown = cli("show", run_id[:8], "--db", str(db))
    assert shown.returncode == 0 and f"run       {run_id}" in shown.stdout.decode()
    assert "phase-1" in shown.stdout.decode()
    listed = cli("events", run_id, "--db", str(db)).stdout.decode().splitlines()
    assert len(listed) == n and "run_created" in listed[0]
    as_json = [json.loads(line) for line in cli("events", run_id, "--json", "--db", str(db)).stdout.splitlines()]
    assert [e["seq"] for e in as_json] == list(range(1, n + 1))
    assert as_json[0]["payload"]["type"] == "run_created" and as_json[0]["run_id"] == run_id
    only = cli("events", run_id, "--type", "phase_started", "--db", str(db)).stdout.decode().splitlines()
    assert only and all("phase_started" in line for line in only)


def test_version(cli):
    res = cli("--version")
    assert res.returncode == 0 and b"autopack, version" in res.stdout


def test_a_corrupt_database_is_one_line_exit_2(cli, recorded_db):
    db, run_id, _ = recorded_db
    data = bytearray(db.read_bytes())
    # Keep the header (so it still looks like SQLite) and wreck the pages.
    for i in range(200, len(data), 7):
        data[i] = 0xA5
    db.write_bytes(bytes(data))
    for args in (["runs"], ["verify"], ["export", run_id]):
        res = cli(*args, "--db", str(db))
        assert res.returncode == 2, (args, res.stderr)
        err = res.stderr.decode().strip().splitlines()
        assert len(err) == 1 and err[0].startswith("autopack: error:"), err
