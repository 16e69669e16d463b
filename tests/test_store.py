"""The event store: append-only, ordered, durable, streaming, refusing bad files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

from autopack_core import events as ev
from autopack_core.errors import ConcurrencyError, EventDecodeError, ForeignDatabaseError, SchemaVersionError
from autopack_core.integrity import verify_rows
from autopack_core.store import EventStore


def test_append_and_read_back_in_order(store):
    envs = store.append("r1", [ev.PhaseStarted(phase_id=str(i)) for i in range(5)], expected_seq=0)
    assert [e.seq for e in envs] == [1, 2, 3, 4, 5]
    store.append("r1", [ev.RunAborted(reason="x")], expected_seq=5)
    back = list(store.iter_events("r1"))
    assert [e.seq for e in back] == [1, 2, 3, 4, 5, 6]
    assert back[0].event == ev.PhaseStarted(phase_id="0")
    assert back[-1].event == ev.RunAborted(reason="x")
    assert [e.hash for e in back[:5]] == [e.hash for e in envs]
    assert list(store.iter_events("r1", from_seq=6))[0].seq == 6


def test_a_second_writer_gets_a_conflict_not_a_duplicate(tmp_path, plugin_set):
    a = EventStore(tmp_path / "e.db", plugin_set.codec)
    b = EventStore(tmp_path / "e.db", plugin_set.codec)
    a.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=0)
    with pytest.raises(ConcurrencyError, match="expected to append after seq 0"):
        b.append("r", [ev.PhaseStarted(phase_id="b")], expected_seq=0)
    b.append("r", [ev.PhaseStarted(phase_id="b")], expected_seq=1)
    with pytest.raises(ConcurrencyError):
        a.append("r", [ev.PhaseStarted(phase_id="c")], expected_seq=1)
    assert [e.event.phase_id for e in a.iter_events("r")] == ["a", "b"]
    a.close()
    b.close()


def test_expected_seq_ahead_of_the_log_is_refused_not_a_gap(store):
    with pytest.raises(ConcurrencyError):
        store.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=3)
    assert not store.has_run("r")


def test_the_database_refuses_update_and_delete(store):
    store.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=0)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE events SET payload = '{}' WHERE run_id = 'r'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM events")
    store.conn.rollback()
    assert len(list(store.iter_events("r"))) == 1


def test_durability_settings(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_the_table_is_strict_and_not_null(store):
    sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    assert "STRICT" in sql.upper()
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO events VALUES ('r', 1, 'ts', 't', NULL, 'h')")
    store.conn.rollback()


def test_a_failed_append_writes_nothing(store):
    store.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=0)
    with pytest.raises(EventDecodeError):
        store.append("r", [ev.PhaseStarted(phase_id="b"), ev.RunResumed(from_seq=2**70)], expected_seq=1)
    assert [e.seq for e in store.iter_events("r")] == [1]
    store.append("r", [ev.PhaseStarted(phase_id="b")], expected_seq=1)


def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path, plugin_set):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes\n")
    with pytest.raises(ForeignDatabaseError, match="not an SQLite database"):
        EventStore(path, plugin_set.codec)
    assert path.read_bytes() == b"these are my notes\n"


def test_someone_elses_sqlite_database_is_refused(tmp_path, plugin_set):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(ForeignDatabaseError, match="customers"):
        EventStore(path, plugin_set.codec)
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]


def test_a_newer_schema_is_refused(tmp_path, plugin_set):
    path = tmp_path / "e.db"
    EventStore(path, plugin_set.codec).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('autopack', 'm099_future', 'x')"
        )
    with pytest.raises(SchemaVersionError, match="newer Autopack.*m099_future"):
        EventStore(path, plugin_set.codec)


def test_reading_streams_with_flat_memory(store):
    store.conn.execute("PRAGMA synchronous=OFF")
    big = "x" * 2000
    for i in range(20):
        store.append(
            "r",
            [ev.HintRecorded(phase_id="p", category="c", hint=big + str(j)) for j in range(1000)],
            expected_seq=i * 1000,
        )

    def peak_while_reading(limit: int) -> int:
        tracemalloc.start()
        for n, _ in enumerate(store.iter_events("r")):
            if n >= limit:
                break
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak

    small = peak_while_reading(2_000)
    full = peak_while_reading(20_000)
    # Ten times the events may not take ten times the memory: 20k events of
    # 2 kB each are 40 MB; streaming stays within a few batches.
    assert full < small * 2
    assert full < 10_000_000


WRITER = textwrap.dedent(
    """
    import sys
    from autopack_core.plugins import load_plugins
    from autopack_core.store import EventStore
    from autopack_core import events as ev
    store = EventStore(sys.argv[1], load_plugins().codec)
    seq = 0
    print("ready", flush=True)
    while True:
        hints = [ev.HintRecorded(phase_id="p", category="c", hint="h" * 500) for _ in range(3)]
        store.append("r", hints, expected_seq=seq)
        seq += 3
    """
)


def test_kill_9_mid_append_leaves_a_verifiable_log(tmp_path, plugin_set):
    db = tmp_path / "e.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    store = EventStore(db, plugin_set.codec)
    seqs = [e.seq for e in store.iter_events("r")]
    assert seqs and seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) % 3 == 0  # whole transactions only
    # The writer appends bare events, not a run: its chain is what is checked.
    assert verify_rows("r", store.iter_raw("r")) is None
    store.append("r", [ev.RunAborted(reason="killed")], expected_seq=len(seqs))
    store.close()


def test_a_batch_commits_once_and_notifies_after(store):
    seen = []
    store.observers.append(lambda envs: seen.append([(e.run_id, e.seq) for e in envs]))
    with store.batch():
        store.append("a", [ev.PhaseStarted(phase_id="x")], expected_seq=0)
        store.append("b", [ev.PhaseStarted(phase_id="y")], expected_seq=0)
        store.append("a", [ev.PhaseStarted(phase_id="z")], expected_seq=1)
        assert seen == []
    assert seen == [[("a", 1), ("b", 1), ("a", 2)]]
    assert [e.seq for e in store.iter_events("a")] == [1, 2]


def test_an_error_in_a_batch_writes_none_of_it(store):
    store.append("a", [ev.PhaseStarted(phase_id="x")], expected_seq=0)
    with pytest.raises(RuntimeError):
        with store.batch():
            store.append("a", [ev.PhaseStarted(phase_id="y")], expected_seq=1)
            raise RuntimeError("executor crashed")
    assert [e.seq for e in store.iter_events("a")] == [1]
    store.append("a", [ev.PhaseStarted(phase_id="y")], expected_seq=1)


def test_a_refused_append_inside_a_batch_leaves_no_half_rows(store):
    with store.batch():
        store.append("a", [ev.PhaseStarted(phase_id="x")], expected_seq=0)
        with pytest.raises(EventDecodeError):
            store.append("a", [ev.PhaseStarted(phase_id="y"), ev.RunResumed(from_seq=2**70)], expected_seq=1)
        with pytest.raises(ConcurrencyError):
            store.append("a", [ev.PhaseStarted(phase_id="y")], expected_seq=5)
        store.append("a", [ev.PhaseStarted(phase_id="w")], expected_seq=1)
    assert [e.event.phase_id for e in store.iter_events("a")] == ["x", "w"]


def test_an_append_failing_on_a_later_row_leaves_none_of_its_rows_in_a_batch(store):
    # Rows go in one by one (executemany); the append's savepoint takes back
    # the first two when a trigger makes the third fail.
    store.conn.execute(
        "CREATE TEMP TRIGGER boom BEFORE INSERT ON events WHEN NEW.run_id = 'b' AND NEW.seq = 3 "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with store.batch():
        store.append("a", [ev.PhaseStarted(phase_id=str(i)) for i in range(5)], expected_seq=0)
        with pytest.raises(ConcurrencyError):
            store.append("b", [ev.PhaseStarted(phase_id=str(i)) for i in range(5)], expected_seq=0)
        with pytest.raises(ConcurrencyError, match="expected to append after seq 0, but the log is at seq 5"):
            store.append("a", [ev.PhaseStarted(phase_id="again"), ev.PhaseStarted(phase_id="x")], expected_seq=0)
        store.append("c", [ev.PhaseStarted(phase_id=str(i)) for i in range(5)], expected_seq=0)
    assert not store.has_run("b")
    assert [e.seq for e in store.iter_events("a")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in store.iter_events("c")] == [1, 2, 3, 4, 5]
    assert [verify_rows(r, store.iter_raw(r)) for r in ("a", "c")] == [None, None]
