"""Read-only commands write nothing; a refused import creates nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from autopack_core import events as ev
from autopack_core import store as store_module
from autopack_core.errors import ForeignDatabaseError, ImportFormatError, SchemaVersionError, StoreError
from autopack_core.store import EventStore

READ_ONLY = [("runs",), ("show", "r"), ("events", "r"), ("export", "r"), ("verify",)]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _foreign(path: Path) -> None:
    # Another program's database, in the default rollback-journal mode.
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(50)])
    conn.commit()
    conn.close()


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_a_read_only_command_leaves_another_programs_database_byte_for_byte(cli, tmp_path, command):
    other = tmp_path / "other.db"
    _foreign(other)
    before = _files(tmp_path)
    res = cli(*command, "--db", str(other))
    assert res.returncode == 2
    assert (
        res.stderr.decode().strip() == f"autopack: error: {other}: not an Autopack event store (it holds tables notes)"
    )
    # Same bytes (journal mode and change counter included), and no -wal or -shm beside it.
    assert _files(tmp_path) == before
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_writing_command_refuses_it_unchanged_too(cli, tmp_path):
    other = tmp_path / "other.db"
    _foreign(other)
    export = tmp_path / "run.jsonl"
    export.write_bytes(b'{"format": "autopack-run", "version": 1, "schema_version": 1, "run_id": "r"}\n')
    before = _files(tmp_path)
    res = cli("import", str(export), "--db", str(other))
    assert res.returncode == 2 and b"not an Autopack event store" in res.stderr
    assert _files(tmp_path) == before


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_an_empty_file_gets_no_schema_from_a_read_only_command(cli, tmp_path, command):
    empty = tmp_path / "e.db"
    empty.touch()
    res = cli(*command, "--db", str(empty))
    assert res.returncode == 2
    assert res.stderr.decode().strip() == f"autopack: error: {empty}: an empty file, not an Autopack event store"
    assert _files(tmp_path) == {"e.db": b""}


def test_read_only_commands_never_create_a_store(cli, tmp_path):
    missing = tmp_path / "state" / "nope.db"
    for command in READ_ONLY:
        res = cli(*command, "--db", str(missing))
        assert res.returncode == 2, command
        assert res.stderr.decode().strip() == (
            f"autopack: error: no event store at {missing} (pass --db PATH or set AUTOPACK_DB)"
        )
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_do_not_change_autopacks_own_store(cli, recorded_db):
    db, run_id, _ = recorded_db
    before = _files(db.parent)
    mtime = db.stat().st_mtime_ns
    assert set(before) == {db.name}  # a WAL store, closed: no companions
    for command in (("runs",), ("show", run_id), ("events", run_id), ("export", run_id), ("verify", run_id)):
        res = cli(*command, "--db", str(db))
        assert res.returncode == 0, (command, res.stderr)
        # Nothing left beside it either: the -wal/-shm a reader makes are gone.
        assert _files(db.parent) == before, command
    assert db.stat().st_mtime_ns == mtime


def test_a_reader_leaves_a_writers_companions_and_data_alone(tmp_path, plugin_set):
    db = tmp_path / "e.db"
    codec = plugin_set.codec
    with EventStore(db, codec) as w:
        w.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=0)
    # A writer opens while a reader is open, and writes: the WAL is not
    # empty when the reader closes, so the reader leaves it.
    reader = EventStore.open(db, codec, readonly=True)
    assert [e.seq for e in reader.iter_events("r")] == [1]
    writer = EventStore(db, codec)
    writer.append("r", [ev.PhaseStarted(phase_id="b")], expected_seq=1)
    reader.close()
    assert Path(f"{db}-wal").exists()
    # A writer that is open but has not written yet (empty WAL): the reader's
    # tidy-up is not the last connection, so SQLite deletes nothing.
    writer.close()
    writer = EventStore(db, codec)
    assert [e.seq for e in writer.iter_events("r")] == [1, 2]
    reader = EventStore.open(db, codec, readonly=True)
    list(reader.iter_events("r"))
    reader.close()
    assert Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists()
    writer.append("r", [ev.PhaseStarted(phase_id="c")], expected_seq=2)
    writer.close()
    with EventStore.open(db, codec, readonly=True) as again:
        assert [e.event.phase_id for e in again.iter_events("r")] == ["a", "b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.db"]


# --- the API ----------------------------------------------------------------


def test_open_readonly_reads_and_refuses_to_write(tmp_path, plugin_set):
    db = tmp_path / "e.db"
    with EventStore(db, plugin_set.codec) as s:
        s.append("r", [ev.RunStarted()], expected_seq=0)
    before = db.read_bytes()
    with EventStore.open(db, plugin_set.codec, readonly=True) as ro:
        assert ro.run_ids() == ["r"] and ro.head("r")[0] == 1
        with pytest.raises(StoreError, match="opened read-only; nothing can be appended"):
            ro.append("r", [ev.RunAborted(reason="x")], expected_seq=1)
        with pytest.raises(StoreError, match="opened read-only"), ro.batch():
            pass
    assert db.read_bytes() == before


def test_open_readonly_refuses_missing_empty_and_unmigrated(tmp_path, plugin_set, monkeypatch):
    codec = plugin_set.codec
    with pytest.raises(StoreError, match="no such event store"):
        EventStore.open(tmp_path / "none.db", codec, readonly=True)
    assert not (tmp_path / "none.db").exists()
    # An SQLite database with no tables (not zero bytes) is no store either.
    bare = tmp_path / "bare.db"
    conn = sqlite3.connect(bare)
    conn.execute("PRAGMA user_version=7")
    conn.close()
    before = bare.read_bytes()
    assert before
    with pytest.raises(ForeignDatabaseError, match="an empty SQLite database, not an Autopack event store"):
        EventStore.open(bare, codec, readonly=True)
    assert bare.read_bytes() == before
    # A store missing a migration this Autopack knows: a reader does not upgrade it, a writer does.
    db = tmp_path / "old.db"
    EventStore(db, codec).close()
    monkeypatch.setattr(store_module, "KNOWN_MIGRATIONS", store_module.KNOWN_MIGRATIONS | {"m999_future"})
    with pytest.raises(SchemaVersionError, match="older Autopack .*m999_future"):
        EventStore.open(db, codec, readonly=True)


def test_a_path_with_uri_characters_opens_read_only(tmp_path, plugin_set):
    odd = tmp_path / "a ?b#%20c" / "e.db"
    with EventStore(odd, plugin_set.codec) as s:
        s.append("r", [ev.RunStarted()], expected_seq=0)
    with EventStore.open(odd, plugin_set.codec, readonly=True) as ro:
        assert ro.run_ids() == ["r"]


# --- import -------------------------------------------------------------------


def test_a_refused_import_creates_nothing(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json\n")
    db = tmp_path / "state" / "deeper" / "new.db"
    res = cli("import", str(bad), "--db", str(db))
    assert res.returncode == 2 and f"{bad}:1: not valid JSON".encode() in res.stderr
    res = cli("import", str(tmp_path / "missing.jsonl"), "--db", str(db))
    assert res.returncode == 2
    assert res.stderr.decode().strip() == f"autopack: error: {tmp_path / 'missing.jsonl'}: No such file or directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_a_refused_import_into_an_existing_store_keeps_it(cli, recorded_db, tmp_path):
    db, run_id, _ = recorded_db
    exported = cli("export", run_id, "--db", str(db)).stdout
    export = tmp_path / "run.jsonl"
    export.write_bytes(exported)
    before = _files(db.parent)
    res = cli("import", str(export), "--db", str(db))
    assert res.returncode != 0 and b"already in" in res.stderr
    assert db.exists() and db.read_bytes() == before["autopack.db"]


def _export_with_footer(cli, recorded_db, tmp_path, **footer) -> tuple[Path, int, str]:
    db, run_id, n = recorded_db
    lines = cli("export", run_id, "--db", str(db)).stdout.splitlines(keepends=True)
    end = orjson.loads(lines[-1])
    last = end["last_hash"]
    end.update(footer)
    lines[-1] = orjson.dumps(end) + b"\n"
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"".join(lines))
    return path, n, last


def test_a_bad_last_hash_in_the_footer_is_named(cli, recorded_db, tmp_path):
    path, n, last = _export_with_footer(cli, recorded_db, tmp_path, last_hash="0" * 64)
    res = cli("import", str(path), "--db", str(tmp_path / "new.db"))
    assert res.returncode == 2
    assert res.stderr.decode().strip() == (
        f"autopack: error: {path}: the end-of-export line's last_hash {'0' * 64!r} is not the hash of the last "
        f"event (seq {n}: {last!r}); the footer was edited or belongs to another export"
    )
    assert not (tmp_path / "new.db").exists()


def test_a_bad_count_in_the_footer_is_named(tmp_path, cli, recorded_db, plugin_set):
    from autopack_core.jsonl import import_run

    path, n, _ = _export_with_footer(cli, recorded_db, tmp_path, events=10**6)
    with (
        EventStore(tmp_path / "x.db", plugin_set.codec) as s,
        open(path, "rb") as fh,
        pytest.raises(ImportFormatError, match=rf"says 1000000 events; found {n}$"),
    ):
        import_run(s, fh, str(path))
