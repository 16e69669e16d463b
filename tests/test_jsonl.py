"""Export and import as JSON Lines: byte-identical round trips, clear refusals."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from conftest import record_scenario


def _count(db):
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_export_import_export_is_byte_identical(cli, recorded_db, tmp_path):
    db, run_id, n = recorded_db
    first = cli("export", run_id, "--db", str(db))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == n + 2  # header, events, footer
    exported = tmp_path / "run.jsonl"
    exported.write_bytes(first.stdout)
    other = tmp_path / "other.db"
    res = cli("import", str(exported), "--db", str(other))
    assert res.returncode == 0, res.stderr
    assert f"imported run {run_id} ({n} events)".encode() in res.stdout
    second = cli("export", run_id, "--db", str(other))
    assert second.stdout == first.stdout
    out_file = tmp_path / "again.jsonl"
    assert cli("export", run_id, "--db", str(other), "-o", str(out_file)).returncode == 0
    assert out_file.read_bytes() == first.stdout
    assert cli("verify", "--db", str(other)).returncode == 0
    # The imported run folds to the same state.
    a = cli("show", run_id, "--json", "--db", str(db)).stdout
    b = cli("show", run_id, "--json", "--db", str(other)).stdout
    assert a == b and orjson.loads(a)["status"] in {"completed", "failed"}


def test_import_from_stdin(cli, recorded_db, tmp_path):
    db, run_id, n = recorded_db
    data = cli("export", run_id, "--db", str(db)).stdout
    res = cli("import", "-", "--db", str(tmp_path / "new.db"), input=data)
    assert res.returncode == 0, res.stderr


@pytest.fixture
def exported(cli, recorded_db, tmp_path):
    db, run_id, n = recorded_db
    return cli("export", run_id, "--db", str(db)).stdout.splitlines(keepends=True)


def _import_lines(cli, tmp_path, lines):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    target = tmp_path / "target.db"
    res = cli("import", str(path), "--db", str(target))
    return res, target


def _one_error_line(res):
    err = res.stderr.decode().strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in res.stderr.decode()
    return err[0]


def test_truncated_mid_line_names_the_line(cli, tmp_path, exported):
    cut = exported[:10] + [exported[10][:25]]
    res, target = _import_lines(cli, tmp_path, cut)
    assert res.returncode == 2
    assert "bad.jsonl:11:" in _one_error_line(res)
    assert _count(target) == 0


def test_truncated_at_a_line_boundary_is_caught(cli, tmp_path, exported):
    res, target = _import_lines(cli, tmp_path, exported[:12])
    assert res.returncode == 2
    assert "truncated" in _one_error_line(res)
    assert _count(target) == 0


def test_invalid_json_names_the_line(cli, tmp_path, exported):
    lines = list(exported)
    lines[5] = b'{"seq": 5, oops}\n'
    res, target = _import_lines(cli, tmp_path, lines)
    assert res.returncode == 2
    assert "bad.jsonl:6: not valid JSON" in _one_error_line(res)
    assert _count(target) == 0


def test_unknown_event_type_names_type_and_plugin(cli, tmp_path, exported):
    lines = list(exported)
    row = orjson.loads(lines[4])
    row["type"] = "acme.deploy_started"
    row["payload"]["type"] = "acme.deploy_started"
    lines[4] = orjson.dumps(row) + b"\n"
    res, target = _import_lines(cli, tmp_path, lines)
    assert res.returncode == 2
    line = _one_error_line(res)
    assert "bad.jsonl:5" in line and "acme.deploy_started" in line and "'acme'" in line
    assert _count(target) == 0


def test_an_edited_export_is_refused(cli, tmp_path, exported):
    lines = list(exported)
    row = orjson.loads(lines[3])
    row["ts"] = "2020-01-01T00:00:00.000000+00:00"
    lines[3] = orjson.dumps(row) + b"\n"
    res, target = _import_lines(cli, tmp_path, lines)
    assert res.returncode == 2
    assert "bad.jsonl:4: hash does not match" in _one_error_line(res)
    assert _count(target) == 0


def test_importing_a_run_twice_is_refused_and_changes_nothing(cli, recorded_db, tmp_path, exported):
    db, run_id, n = recorded_db
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join(exported))
    res = cli("import", str(path), "--db", str(db))
    assert res.returncode == 2
    assert "already in" in _one_error_line(res)
    assert _count(db) == n


def test_not_an_export(cli, tmp_path):
    res, target = _import_lines(cli, tmp_path, [b'{"hello": 1}\n'])
    assert res.returncode == 2
    assert "bad.jsonl:1: not an Autopack run export" in _one_error_line(res)


def test_failure_midway_leaves_an_existing_store_untouched(cli, tmp_path, exported):
    target = tmp_path / "target.db"
    record_scenario(target, "other-run", seed=3)
    before = _count(target)
    lines = list(exported)
    lines[-3] = b"not json\n"
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    res = cli("import", str(path), "--db", str(target))
    assert res.returncode == 2
    assert _count(target) == before
